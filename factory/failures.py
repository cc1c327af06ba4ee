"""One line per failure: what a command prints when it stops, naming the path, row or field at
fault and the cause, with the traceback only under `--verbose`.

Errors raised inside Ray workers arrive wrapped (Ray Train's `WorkerGroupError` holding each
rank's exception, `ControllerError`, Ray's `RayTaskError` and Ray Data's `UserCodeException`
chaining the task's): the line is the innermost one's, which names the input at fault.
"""

import os
import sys
import traceback

# The errors our code raises on bad input or a bad environment: each names the file, row or
# field; anything else is a bug, shown with its type.
INPUT_ERRORS = (ValueError, OSError, KeyError)


def innermost(exc: BaseException) -> BaseException:
    """The exception Ray's wrappers carry, unwrapped all the way (our own `raise ... from`
    chains are left alone: their outer error is the one that names the input)."""
    seen = set()
    while id(exc) not in seen and type(exc).__module__.startswith("ray."):
        seen.add(id(exc))
        failures = getattr(exc, "worker_failures", None)  # Ray Train: rank -> exception
        inner = (failures[min(failures)] if failures else
                 getattr(exc, "controller_failure", None) or getattr(exc, "cause", None) or
                 exc.__cause__)
        if not isinstance(inner, BaseException):
            return exc
        exc = inner
    return exc


def failure_line(exc: BaseException) -> str:
    """`exc` as the first line of a failure: the innermost error's message (an OS error as
    `path: reason`); an error of a type our code does not raise on bad input carries its type."""
    exc = innermost(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = " -> ".join(os.fsdecode(name) for name in (exc.filename, exc.filename2)
                            if name is not None)
        return f"{where}: {exc.strerror}" if where else exc.strerror
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError):
        text = str(exc.args[0]) if exc.args else type(exc).__name__
    if not isinstance(exc, INPUT_ERRORS):
        text = f"{type(exc).__name__}: {text}"
    return text


def exit_code(exc: BaseException) -> int:
    """2 for bad input or environment (what the line names), 1 for anything else."""
    return 2 if isinstance(innermost(exc), INPUT_ERRORS) else 1


def report_failure(exc: BaseException, program: str, *, verbose: bool = False) -> int:
    """Print `exc` to stderr as `<program>: error: <line>` (the traceback first, when
    `verbose`); returns the exit code."""
    if verbose:
        traceback.print_exception(exc)
    lines = failure_line(exc).splitlines() or [""]
    lines[0] = f"{program}: error: {lines[0]}"
    hint = " (--verbose: the traceback)" if exit_code(exc) == 1 and not verbose else ""
    print("\n".join(lines) + hint, file=sys.stderr)
    return exit_code(exc)
