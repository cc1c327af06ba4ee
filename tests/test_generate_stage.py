"""The generate stage on a real local Ray with the smoke toy SD: all three methods end to end,
re-runs, a malformed input row, and resume after a killed worker or driver."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from generation_inputs import toy_job
from PIL import Image

from factory.generate.audit import audit_run
from factory.generate.manifest import GENERATED_DIR, IMAGES_DIR, read_manifest
from factory.generate.stage import run_generate
from factory.parsing.parser import GroundTruthMasks
from factory.plan.stage import read_tasks, run_plan
from factory.table_io import read_table, write_table


def committed_state(config):
    """(tasks, written rows, failed rows, image files on disk) of a job."""
    out = Path(config.out)
    files = sorted(p for p in (out / IMAGES_DIR).rglob("*") if p.is_file())
    return (read_tasks(config), pl.from_arrow(read_manifest(out)),
            pl.from_arrow(read_manifest(out, failed=True)), files)


def assert_exactly_once(config):
    """One committed row per task, one decodable image per written row, nothing half-done."""
    audit = audit_run(config.out)
    assert audit.ok, audit.problems
    assert audit.committed == audit.planned == audit.generated + audit.failed
    assert audit.decoded == audit.image_files == audit.generated
    # The part folder is itself a valid `generated` table, one row per task.
    assert read_table(Path(config.out) / GENERATED_DIR, "generated").num_rows == audit.generated


@pytest.fixture(scope="module")
def dlcr_job(ray_cluster, toy_images, toy_sd, tmp_path_factory):
    """DLCR on toy LTCC, one identity, with one source image replaced by a zero-byte file."""
    folder = tmp_path_factory.mktemp("dlcr-job")
    config = toy_job("dlcr", toy_images("ltcc"), toy_sd, folder,
                     plan={"max_identities": 2, "dlcr": {"targets_per_image": 1}},
                     generate={"image_format": "png", "batch_size": 4})
    images = read_table(config.images, "images").to_pylist()
    broken = next(row for row in images if row["pid"] == 1 and row["split"] == "train")
    broken["path"] = str(folder / "empty.png")
    (folder / "empty.png").write_bytes(b"")
    write_table(pl.DataFrame(images).to_arrow(), folder / "images.parquet", "images")
    config = config.model_copy(update={"images": folder / "images.parquet"})
    run_plan(config)
    return config, run_generate(config), broken


def test_dlcr_changes_only_the_clothes(dlcr_job):
    config, summary, broken = dlcr_job
    assert_exactly_once(config)
    tasks, written, failed, _ = committed_state(config)
    assert summary["planned"] == summary["committed"] == tasks.height
    assert 0.0 < summary["actor_busy_share"] < 1.0
    masks = GroundTruthMasks(config.masks)
    sources = tasks.select("task_id", "source_image_id", "source_path")
    for row in written.join(sources, on="task_id").iter_rows(named=True):
        source = np.asarray(Image.open(row["source_path"]).convert("RGB"))
        made = np.asarray(Image.open(row["path"]))
        clothes = masks([Image.fromarray(source)], [row["source_image_id"]])[0]
        assert made.shape == source.shape
        assert (made[~clothes] == source[~clothes]).all()  # identity pixels untouched
        assert (made[clothes] != source[clothes]).any()
        assert row["parents"] == [row["source_image_id"]] and row["outfit"] is not None
        # the CPU stages' steps, the actor's, and its share of being busy
        assert set(row["timings"]) == {"decode", "mask", "inpaint", "composite", "encode",
                                       "actor_busy", "actor_idle"}
    # The malformed row (a zero-byte source) is recorded with its reason, not passed on.
    assert failed.height == tasks.filter(pl.col("source_image_id") == broken["image_id"]).height
    assert failed.height >= 1 and failed["path"].is_null().all()
    assert all("empty.png" in error for error in failed["error"])


def test_rerun_skips_committed_tasks(dlcr_job):
    config, _, _ = dlcr_job
    before = {p: p.stat().st_mtime_ns for p in Path(config.out).rglob("part-*.parquet")}
    summary = run_generate(config)
    assert summary["pending"] == 0 and summary["committed"] == summary["planned"]
    assert {p: p.stat().st_mtime_ns for p in Path(config.out).rglob("part-*.parquet")} == before


def test_dive_pairs_and_infrared(ray_cluster, toy_images, toy_sd, tmp_path):
    config = toy_job("dive", toy_images("sysu_mm01"), toy_sd, tmp_path,
                     plan={"max_identities": 2, "dive": {"images_per_target": 2}},
                     generate={"batch_size": 4})
    run_plan(config)
    run_generate(config)
    assert_exactly_once(config)
    _, written, failed, _ = committed_state(config)
    assert written.height == 2 * 2 * 2 and failed.height == 0
    for pair in written.group_by("pid", "seed").agg("modality", "path").iter_rows(named=True):
        assert sorted(pair["modality"]) == ["ir", "rgb"]
        images = {m: np.asarray(Image.open(p)).astype(int) for m, p in
                  zip(pair["modality"], pair["path"], strict=True)}
        assert images["ir"].shape == (64, 32, 3)
        assert np.abs(images["ir"][..., 0] - images["ir"][..., 2]).max() <= 3  # one channel
    assert written["parents"].list.len().eq(0).all() and written["outfit"].is_null().all()


def test_diffusion_reid_img2img(ray_cluster, toy_images, toy_sd, tmp_path):
    config = toy_job("diffusion_reid", toy_images("sysu_mm01"), toy_sd, tmp_path,
                     plan={"max_identities": 2, "diffusion_reid": {"images_per_identity": 3}})
    run_plan(config)
    run_generate(config)
    assert_exactly_once(config)
    tasks, written, _, _ = committed_state(config)
    joined = written.join(tasks.select("task_id", "source_image_id", "prompt"), on="task_id")
    assert joined.height == 6
    assert (joined["parents"].list.first() == joined["source_image_id"]).all()
    assert (joined["prompt"] == joined["prompt_right"]).all()


def _kill_once_a_block_is_committed(out: Path, kill, timeout: float = 240.0) -> threading.Thread:
    """Call kill() from a thread as soon as the first part file appears (mid-run)."""
    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any((out / GENERATED_DIR).glob("part-*.parquet")):
                watch.killed = kill()
                return
            time.sleep(0.05)
    watch.killed = None
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    thread.watch = watch
    return thread


def _many_tasks(toy_images, toy_sd, out):
    config = toy_job("dive", toy_images("sysu_mm01"), toy_sd, out,
                     plan={"max_identities": 4, "dive": {"images_per_target": 5}},
                     generate={"batch_size": 2, "manifest_rows": 2})
    run_plan(config)
    return config


def test_resume_after_a_worker_is_killed(ray_cluster, toy_images, toy_sd, tmp_path):
    from ray.util.state import list_actors

    config = _many_tasks(toy_images, toy_sd, tmp_path)
    address = ray_cluster.get_runtime_context().gcs_address

    def kill_generator_actor():
        for actor in list_actors(address=address, filters=[("state", "=", "ALIVE")],
                                 detail=True):
            if "DiveGenerator" in actor.class_name and actor.pid:
                os.kill(actor.pid, signal.SIGKILL)
                return actor.pid
        return None

    watcher = _kill_once_a_block_is_committed(Path(config.out), kill_generator_actor)
    run_generate(config)
    watcher.join()
    assert watcher.watch.killed is not None, "no generator actor was killed mid-run"
    assert_exactly_once(config)


@pytest.mark.slow
def test_resume_after_the_driver_is_killed(ray_cluster, toy_images, toy_sd, tmp_path):
    config = _many_tasks(toy_images, toy_sd, tmp_path)
    address = ray_cluster.get_runtime_context().gcs_address
    script = ("import sys, ray\nfrom schemas.generation_configs import GenerationJobConfig\n"
              "from factory.generate.stage import run_generate\n"
              f"ray.init(address={address!r}, log_to_driver=False)\n"
              "run_generate(GenerationJobConfig.model_validate_json(sys.stdin.read()))\n")
    driver = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              cwd=Path(__file__).parent.parent)
    driver.stdin.write(config.model_dump_json().encode())
    driver.stdin.close()
    watcher = _kill_once_a_block_is_committed(Path(config.out), lambda: driver.kill() or True)
    watcher.join()
    driver.wait(timeout=60)
    assert watcher.watch.killed, "the driver was not killed mid-run"
    summary = run_generate(config)
    assert 0 < summary["pending"] < summary["planned"]
    assert_exactly_once(config)
    assert pq.read_table(Path(config.out) / GENERATED_DIR).num_rows == summary["planned"]
