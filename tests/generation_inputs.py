"""Generation jobs on the toy world for the generation tests (the helpers live in the library,
where the bench scripts use them too), and `jobs/generate.py`'s `main`, called in-process."""

import importlib.util
from pathlib import Path

from factory.laptop.toy_jobs import TINY_RECIPE, toy_job

__all__ = ["TINY_RECIPE", "generate_main", "toy_job"]


def generate_main():
    """`main(argv)` of jobs/generate.py (a script, not a module of the package)."""
    script = Path(__file__).parent.parent / "jobs" / "generate.py"
    spec = importlib.util.spec_from_file_location("generate_job", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main
