"""Audit a generation output folder: is it what a finished, exactly-once run leaves?

    factory audit OUT

Checks, against `<out>/tasks.parquet`: every planned task has exactly one committed row (in
`generated/` or `failed/`, counting every part file's rows, so a not yet deduplicated retry
shows), no row names an unplanned task, every part file parses as its table, every written row's
image exists under `images/` and decodes, no image file lacks a row (an orphan), failed rows name
no image, and nothing half-done is left (`.staging/` entries, `*.tmp` files). The crash-and-resume
torture (`python -m bench.torture`) and the generate tests end on it.
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
    STAGING_DIR,
    part_files,
)
from factory.image_files import ImageFileError, load_rgb
from factory.plan.stage import TASKS_FILE
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
    named = {str(Path(path).resolve()) for path in written["path"].drop_nulls()}
    audit.report("written row(s) without a path", written.filter(pl.col("path").is_null())
                 ["task_id"].to_list())
    audit.report("row image(s) outside images/", sorted(path for path in named
                 if not Path(path).is_relative_to(root.resolve())))
    audit.report("row image(s) missing", sorted(named - files))
    audit.report("image file(s) without a row (orphans)", sorted(files - named))
    if decode:
        undecodable = []
        for path in sorted(named & files):
            try:
                load_rgb(path)
                audit.decoded += 1
            except ImageFileError as exc:
                undecodable.append(str(exc))
        audit.report("image(s) that do not decode", undecodable)


def _check_leftovers(audit: RunAudit, out: Path) -> None:
    staged = sorted(entry.name for entry in os.scandir(out / STAGING_DIR)) \
        if (out / STAGING_DIR).is_dir() else []
    audit.report(f"staged file(s) left in {STAGING_DIR}/", staged)
    audit.report("temporary file(s) left", sorted(str(path) for path in out.rglob("*.tmp")))


def audit_run(out: str | os.PathLike, *, decode: bool = True) -> RunAudit:
    """Check the generation output folder `out` (see the module docstring); `decode=False`
    skips decoding the images (their presence is still checked)."""
    out = Path(out)
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
