"""The audit of a generation folder: a clean one passes; each kind of damage is named."""

import shutil

import numpy as np
import pytest
from generation_inputs import toy_job

from factory.cli import main
from factory.generate.audit import audit_run
from factory.generate.manifest import FAILED_DIR, GENERATED_DIR, STAGING_DIR, ManifestSink
from factory.generate.task_batch import TaskBatch
from factory.plan.stage import read_tasks, run_plan


@pytest.fixture
def committed_job(toy_images, toy_sd, tmp_path):
    """A planned DiVE job whose tasks are committed by the real sink without Ray: noise images,
    one task failed, two blocks (two part files). Rows hold absolute paths, so each test makes
    its own rather than copying one."""
    out = tmp_path / "job"
    config = toy_job("dive", toy_images("sysu_mm01"), toy_sd, out,
                     plan={"max_identities": 2, "dive": {"images_per_target": 2}})
    run_plan(config)
    tasks = read_tasks(config).to_arrow()
    sink = ManifestSink(out, "jpg", rows_per_file=4)
    sink.on_write_start()
    random = np.random.default_rng(0)
    for start in (0, 4):
        batch = TaskBatch(tasks.slice(start, 4))
        for index in batch.pending():
            if start + index == 0:
                batch.fail(index, "made to fail")
            else:
                batch.finish(index, random.uniform(0.2, 0.8, (64, 32, 3)))
        sink.write([batch.output("jpg", 90)], None)
    return out


def test_a_clean_folder_passes(committed_job, capsys):
    audit = audit_run(committed_job)
    assert audit.ok, audit.problems
    assert (audit.planned, audit.committed, audit.generated, audit.failed) == (8, 8, 7, 1)
    assert audit.image_files == audit.decoded == 7
    assert main(["audit", str(committed_job)]) == 0
    assert "8 planned, 8 committed" in capsys.readouterr().out


def test_lost_and_repeated_rows(committed_job):
    out = committed_job
    parts = sorted((out / GENERATED_DIR).glob("part-*.parquet"))
    shutil.copy(parts[0], out / GENERATED_DIR / "part-again.parquet")  # a retry not deduplicated
    parts[1].unlink()  # a block whose manifest never landed
    problems = "\n".join(audit_run(out).problems)
    assert "task(s) with more than one committed row" in problems
    assert "planned task(s) without a committed row" in problems
    assert "image file(s) without a row (orphans)" in problems


def test_broken_files_and_leftovers(committed_job, capsys):
    out = committed_job
    image = next((out / "images").rglob("*.jpg"))
    image.write_bytes(image.read_bytes()[:100])  # truncated
    (out / STAGING_DIR / "x.jpg.0.tmp").write_bytes(b"half")
    (out / FAILED_DIR / ".part-x.parquet.1.tmp").write_bytes(b"half")
    (out / FAILED_DIR / "part-garbage.parquet").write_bytes(b"not parquet")
    audit = audit_run(out)
    problems = "\n".join(audit.problems)
    assert "image(s) that do not decode" in problems and image.name in problems
    assert f"staged file(s) left in {STAGING_DIR}/" in problems
    assert "temporary file(s) left" in problems
    assert "unreadable generated part file(s) in failed/" in problems
    assert audit.decoded == 6
    assert main(["audit", str(out)]) == 1
    assert "problem: " in capsys.readouterr().out
