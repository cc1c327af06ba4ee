"""The audit of a generation folder: a clean one passes; each kind of damage is named."""

import shutil

import numpy as np
import pytest
import yaml
from generation_inputs import toy_job

from factory.cli import main
from factory.generate.audit import audit_run
from factory.generate.manifest import FAILED_DIR, GENERATED_DIR, STAGING_DIR, ManifestSink
from factory.generate.task_batch import TaskBatch
from factory.plan.stage import read_tasks, run_plan


@pytest.fixture
def committed_job(toy_images, toy_sd, tmp_path):
    """A planned DiVE job whose tasks are committed by the real sink without Ray: noise images,
    one task failed, two blocks (two part files); its config is `job.yaml` beside it. Rows hold
    absolute paths, so each test makes its own rather than copying one."""
    out = tmp_path / "job"
    config = toy_job("dive", toy_images("sysu_mm01"), toy_sd, out,
                     plan={"max_identities": 2, "dive": {"images_per_target": 2}})
    run_plan(config)
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    tasks = read_tasks(config).to_arrow()
    sink = ManifestSink(out, "jpg", rows_per_file=4, jpeg_quality=90)
    sink.on_write_start()
    random = np.random.default_rng(0)
    for start in (0, 4):
        batch = TaskBatch(tasks.slice(start, 4))
        for index in batch.pending():
            if start + index == 0:
                batch.fail(index, "made to fail")
            else:
                batch.finish(index, random.uniform(0.2, 0.8, (64, 32, 3)))
        sink.write([batch.output()], None)
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
    assert "leftover or stray file(s)" in problems
    assert f"{STAGING_DIR}/x.jpg.0.tmp" in problems and ".part-x.parquet.1.tmp" in problems
    assert "unreadable generated part file(s) in failed/" in problems
    assert audit.decoded == 6
    assert main(["audit", str(out)]) == 1
    assert "problem: " in capsys.readouterr().out


def _truncate(path):
    path.write_bytes(path.read_bytes()[:100])


# what a person or a crash did -> (damage(out, an image of a committed task), broken task?)
DAMAGE = {
    "truncated image": (lambda out, image: _truncate(image), True),
    "deleted image": (lambda out, image: image.unlink(), True),
    "image replaced by text": (lambda out, image: image.write_text("<html>"), True),
    ".DS_Store in images/": (lambda out, image: (out / "images" / ".DS_Store").write_bytes(b"x"),
                             False),
    ".DS_Store in a method folder": (
        lambda out, image: (image.parent.parent / ".DS_Store").write_bytes(b"x"), False),
    ".DS_Store in a shard": (lambda out, image: (image.parent / ".DS_Store").write_bytes(b"x"),
                             False),
    "folder in a shard": (lambda out, image: (image.parent / "copies").mkdir(), False),
    ".DS_Store in generated/": (
        lambda out, image: (out / GENERATED_DIR / ".DS_Store").write_bytes(b"x"), False),
    "notes in failed/": (lambda out, image: (out / FAILED_DIR / "notes.txt").write_text("x"),
                         False),
    "temp table beside tasks": (
        lambda out, image: (out / ".tasks.parquet.1a2b.tmp").write_bytes(b"half"), False),
    "staged image": (lambda out, image: (out / STAGING_DIR / "x.jpg.0.tmp").write_bytes(b"h"),
                     False),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_repair_removes_strays_and_uncommits_broken_images(committed_job, capsys, case):
    """Part of the bad-input catalogue (tests/test_bad_inputs.py): `factory audit --repair`
    leaves a folder whose only problem is the tasks it took back, which a re-run makes again."""
    out = committed_job
    damage, broken = DAMAGE[case]
    image = sorted((out / "images").rglob("*.jpg"))[2]
    others = {path: path.read_bytes() for path in (out / "images").rglob("*.jpg") if path != image}
    damage(out, image)
    assert main(["audit", str(out)]) == 1
    assert main(["audit", str(out), "--repair"]) == (1 if broken else 0)
    printed = capsys.readouterr().out
    assert "repaired:" in printed
    audit = audit_run(out)
    if broken:
        assert audit.problems == [f"1 planned task(s) without a committed row: {image.stem}"]
        assert audit.committed == 7 and not image.exists()
    else:
        assert audit.ok, audit.problems
    assert all(path.read_bytes() == data for path, data in others.items())


def test_generate_is_not_crashed_by_strays(committed_job):
    """remove_orphans (run by every generate) walks shards; a file where a shard belongs is a
    stray it steps over, not a folder to list."""
    from factory.generate.manifest import remove_orphans

    (committed_job / "images" / "dive" / ".DS_Store").write_bytes(b"x")
    assert remove_orphans(committed_job, "dive") == 0


@pytest.mark.parametrize("change, words", [
    ("plan.recipe.steps=3", "params.steps: 2 -> 3"),
    ("plan.recipe.negative_prompt=blurry", "negative_prompt: [''] -> ['blurry']"),
    ("plan.seed=1", "the identities, source images or prompts planned"),
])
def test_a_plan_that_drops_committed_tasks_is_refused(committed_job, capsys, change, words):
    """Part of the bad-input catalogue: re-planning a job whose images are committed with a
    changed config would leave them to reach the filter and training; `--restart` starts over."""
    from factory.generate.manifest import committed_task_ids

    config = committed_job.parent / "job.yaml"
    before = {path: path.read_bytes() for path in committed_job.rglob("*") if path.is_file()}
    assert main(["plan", str(config), "--set", change]) == 2
    first_line = capsys.readouterr().err.splitlines()[0]
    assert str(committed_job) in first_line and words in first_line and "--restart" in first_line
    after = {path: path.read_bytes() for path in committed_job.rglob("*") if path.is_file()}
    assert after == before
    assert main(["plan", str(config)]) == 0  # the same plan again is fine
    assert main(["plan", str(config), "--set", change, "--restart"]) == 0
    assert committed_task_ids(committed_job).is_empty() and audit_run(committed_job).committed == 0
