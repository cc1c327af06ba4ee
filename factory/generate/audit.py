"""Audit a generation output folder: is it what a finished, exactly-once run leaves?

    factory audit OUT

Checks, against `<out>/tasks.parquet`: every planned task has exactly one committed row (in
`generated/` or `failed/`, counting every part file's rows, so a not yet deduplicated retry
shows), no row names an unplanned task, every part file parses as its table, every written row's
image exists under `images/` and decodes, no image file lacks a row (an orphan), failed rows name
no image, and nothing half-done or stray is left (`manifest.leftovers`: `.staging/` entries,
`*.tmp` files, a `.DS_Store`). The crash-and-resume torture (`python -m bench.torture`) and the
generate tests end on it.

`repair_run(out)` (`factory audit --repair`) fixes what a re-run can make again: it removes the
leftovers and orphans by the rule generate uses, and un-commits every task whose image is missing
or does not decode, so the next `generate` makes exactly those images again.
"""

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from factory.generate.manifest import (
    FAILED_DIR,
    GENERATED_DIR,
    IMAGES_DIR,
    SCORES_DIR,
    clear_leftovers,
    leftovers,
    part_files,
    remove_orphans,
    uncommit,
)
from factory.image_files import ImageFileError, load_rgb
from factory.plan.stage import TASKS_FILE
from factory.storage import storage_path
from factory.table_io import read_table

# How many offending ids or files a problem line names.
EXAMPLES = 3


@dataclass
class RunAudit:
    """Counts of a generation output folder and what is wrong with it (empty when nothing)."""

    out: str
    planned: int = 0
    committed: int = 0
    generated: int = 0
    failed: int = 0
    image_files: int = 0
    decoded: int = 0
    problems: list[str] = field(default_factory=list)
    broken_tasks: list[str] = field(default_factory=list)  # their image is missing or corrupt

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok}

    def report(self, what: str, items: list) -> None:
        """Record a problem about `items` (ids or paths), naming the first few."""
        if items:
            shown = ", ".join(str(item) for item in items[:EXAMPLES])
            more = f", ... ({len(items)} in all)" if len(items) > EXAMPLES else ""
            self.problems.append(f"{len(items)} {what}: {shown}{more}")


def _read_rows(audit: RunAudit, folder: Path, table: str) -> pl.DataFrame | None:
    """Every row of every part file in `folder` (each file checked against `table`)."""
    frames, broken = [], []
    for path in part_files(folder):
        try:
            frames.append(pl.from_arrow(read_table(path, table)))
        except (OSError, ValueError) as exc:  # pyarrow's errors are both; SchemaError a ValueError
            broken.append(f"{path} ({str(exc).splitlines()[0][:120]})")
    audit.report(f"unreadable {table} part file(s) in {folder.name}/", broken)
    return pl.concat(frames) if frames else None


def _check_rows(audit: RunAudit, tasks: pl.DataFrame, written: pl.DataFrame,
                failed: pl.DataFrame) -> None:
    """One committed row per planned task, none for anything else."""
    planned = tasks["task_id"]
    audit.report("task id(s) planned twice", planned.filter(planned.is_duplicated()).unique()
                 .sort().to_list())
    rows = pl.concat([written.select("task_id"), failed.select("task_id")])
    counts = rows.group_by("task_id").len()
    audit.committed = counts.join(tasks.select("task_id"), on="task_id", how="semi").height
    audit.report("task(s) with more than one committed row",
                 counts.filter(pl.col("len") > 1)["task_id"].sort().to_list())
    audit.report("planned task(s) without a committed row",
                 tasks.join(counts, on="task_id", how="anti")["task_id"].sort().to_list())
    audit.report("committed row(s) of unplanned tasks",
                 counts.join(tasks, on="task_id", how="anti")["task_id"].sort().to_list())
    audit.report("failed row(s) naming an image",
                 failed.filter(pl.col("path").is_not_null())["task_id"].to_list())


def _check_images(audit: RunAudit, out: Path, written: pl.DataFrame, *, decode: bool) -> None:
    """Each written row's image is a whole file under images/; each file there has its row."""
    root = out / IMAGES_DIR
    files = {str(path.resolve()) for path in root.rglob("*") if path.is_file()}
    audit.image_files = len(files)
    named = {str(storage_path(path).resolve()) for path in written["path"].drop_nulls()}
    audit.report("written row(s) without a path", written.filter(pl.col("path").is_null())
                 ["task_id"].to_list())
    audit.report("row image(s) outside images/", sorted(path for path in named
                 if not storage_path(path).is_relative_to(root.resolve())))
    missing = named - files
    audit.report("row image(s) missing", sorted(missing))
    audit.report("image file(s) without a row (orphans)", sorted(files - named - {
        str(path.resolve()) for path in leftovers(out)}))  # strays are reported as leftovers
    undecodable = {}
    if decode:
        for path in sorted(named & files):
            try:
                load_rgb(path)
                audit.decoded += 1
            except ImageFileError as exc:
                undecodable[path] = str(exc)
        audit.report("image(s) that do not decode", list(undecodable.values()))
    broken = missing | set(undecodable)
    audit.broken_tasks = sorted(written.filter(pl.col("path").map_elements(
        lambda path: str(storage_path(path).resolve()) in broken, return_dtype=pl.Boolean)
    )["task_id"])


def _check_leftovers(audit: RunAudit, out: Path) -> None:
    audit.report("leftover or stray file(s) (`factory audit --repair` or a re-run of generate "
                 "removes them)", [str(path) for path in leftovers(out)])


def audit_run(out: str | os.PathLike, *, decode: bool = True) -> RunAudit:
    """Check the generation output folder `out` (see the module docstring); `decode=False`
    skips decoding the images (their presence is still checked)."""
    out = storage_path(out)
    audit = RunAudit(out=str(out))
    try:
        tasks = pl.from_arrow(read_table(out / TASKS_FILE, "tasks"))
    except (OSError, ValueError) as exc:
        audit.problems.append(f"no readable tasks table: {exc}")
        return audit
    audit.planned = tasks["task_id"].n_unique()
    empty = pl.DataFrame(schema={"task_id": pl.String, "path": pl.String})
    written = _read_rows(audit, out / GENERATED_DIR, "generated")
    failed = _read_rows(audit, out / FAILED_DIR, "generated")
    written = empty if written is None else written
    failed = empty if failed is None else failed
    _read_rows(audit, out / SCORES_DIR, "scores")
    audit.generated, audit.failed = written.height, failed.height
    _check_rows(audit, tasks, written, failed)
    _check_images(audit, out, written, decode=decode)
    _check_leftovers(audit, out)
    return audit


def repair_run(out: str | os.PathLike) -> dict:
    """Remove leftovers and orphans and un-commit the tasks whose image is missing or does not
    decode (see the module docstring); returns what was done, by kind."""
    out = storage_path(out)
    audit = audit_run(out)
    done = {"leftovers_removed": clear_leftovers(out),
            "uncommitted": uncommit(out, audit.broken_tasks) if audit.broken_tasks else 0}
    methods = (out / IMAGES_DIR).iterdir() if (out / IMAGES_DIR).is_dir() else []
    done["orphans_removed"] = sum(remove_orphans(out, method.name) for method in methods
                                  if method.is_dir())
    return done
