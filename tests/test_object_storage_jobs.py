"""Jobs with every path in a bucket on the session's S3 server (`factory/laptop/s3_server.py`):
the source images, tables, generated images, manifests and scores, read and written over HTTP by
the driver and the Ray workers."""

import io
import json

import polars as pl
from generation_inputs import toy_job

from factory.filter.stage import SUMMARY_FILE, run_filter
from factory.generate.audit import audit_run
from factory.generate.manifest import SCORES_DIR, read_manifest
from factory.generate.stage import run_generate
from factory.laptop.presets import smoke_preset
from factory.laptop.toy_jobs import images_in_bucket
from factory.plan.stage import run_plan
from factory.ray_training import run_checkpoints
from factory.reid.checkpoint import load_checkpoint
from factory.storage import storage_path, upload
from factory.table_io import read_table
from factory.train.run import sweep, train
from schemas.configs import SweepConfig, TrainConfig


def test_generation_job_in_a_bucket(ray_cluster, toy_images, toy_sd, toy_scorer, bucket):
    """Plan, generate and filter, with the scorer checkpoint in the bucket too."""
    root = storage_path(bucket)
    images = images_in_bucket(toy_images("market1501"), root)
    upload(toy_scorer, root / "scorer")
    config = toy_job("diffusion_reid", images, toy_sd, root / "job",
                     plan={"max_identities": 2, "diffusion_reid": {"images_per_identity": 3}})
    config = config.model_copy(update={"scorer": root / "scorer"})
    run_plan(config)
    run_generate(config)
    audit = audit_run(config.out)
    assert audit.ok, audit.problems
    assert audit.committed == audit.planned == audit.generated == 6
    written = pl.from_arrow(read_manifest(config.out))
    assert written["path"].str.starts_with(f"{bucket}/job/images/").all()
    assert all(storage_path(path).is_file() for path in written["path"])
    summary = run_filter(config)
    scores = pl.from_arrow(read_table(root / "job" / SCORES_DIR, "scores"))
    assert sorted(scores["image_id"]) == sorted(written["image_id"])
    assert summary["methods"]["diffusion_reid"]["scored"] == 6
    assert (root / "job" / SUMMARY_FILE).is_file() and run_filter(config)["scored_now"] == 0


def test_training_in_a_bucket(ray_cluster, toy_market, bucket):
    """Images, checkpoints, the published model and the report all in the bucket; a second run
    with more epochs resumes from the bucket's last checkpoint."""
    root = storage_path(bucket)
    images = images_in_bucket(toy_market, root)
    config = TrainConfig(images=str(images), storage_path=str(root / "runs"), name="run",
                         **smoke_preset("train"), protocol="market1501")
    model, report = train(config)
    assert model == root / "runs" / "run" / "model"
    assert sorted(path.name for path in model.iterdir()) == [
        "config.json", "history.json", "model.safetensors"]
    assert (report.parent / "curves.png").is_file() and "mAP" in report.read_text()
    model, _ = train(config.model_copy(update={"epochs": 3}))
    history = json.loads((model / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert load_checkpoint(model).num_classes == 8
    assert len(run_checkpoints(root / "runs" / "run")) == config.keep_checkpoints


def test_sweep_in_a_bucket(ray_cluster, toy_market, bucket):
    """Tune's experiment state, every trial's Ray Train run and the sweep's report in the bucket;
    running it again restores it from there."""
    root = storage_path(bucket)
    config = SweepConfig.model_validate({
        "train": smoke_preset("train") | {"protocol": "market1501", "eval_every": 5,
                                          "images": str(toy_market)},
        "samples": 2, "storage_path": str(root / "sweeps"), "name": "sweep"})
    report = sweep(config)
    assert report == root / "sweeps" / "sweep" / "report.md"
    table = pl.read_csv(io.BytesIO((report.parent / "results.csv").read_bytes()))
    assert table.height == 2 and table["best_mAP"].drop_nulls().len() == 2
    assert (report.parent / "sweep.png").is_file() and "s3://" in report.read_text()
    runs = {path.parent for path in (root / "sweeps" / "sweep").glob("*/train/*/checkpoint_*")
            if path.is_dir()}
    assert len(runs) == 2  # each trial's Ray Train run checkpoints beside its trial
    again = pl.read_csv(io.BytesIO((sweep(config).parent / "results.csv").read_bytes()))
    assert sorted(again["trial"].to_list()) == sorted(table["trial"].to_list())
