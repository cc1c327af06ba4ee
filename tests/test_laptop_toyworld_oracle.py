"""The toy world's oracle renders the truth of a method's planned tasks: DLCR's source image with
only the clothes changed, DiVE's person seen by a camera of the target modality (grey in
infrared, as the world's own IR images); training reads its `generated` table as a method's."""

import io
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from factory.ingest.stage import ingest
from factory.laptop.toy_jobs import toy_job
from factory.laptop.toyworld.layouts import render_layout
from factory.laptop.toyworld.oracle import ORACLE_MODEL, ORACLES, WorldTruth, render_oracle
from factory.laptop.toyworld.writer import world_tables
from factory.parsing.labels import LIP_LABELS
from factory.plan.stage import read_tasks, run_plan
from factory.table_io import read_table
from factory.train.data import load_training_set
from schemas.configs import ToyWorldConfig, TrainConfig


def _world(folder, layout: str) -> tuple[ToyWorldConfig, object]:
    config = ToyWorldConfig(layout=layout, seed=3, train_identities=2, test_identities=2,
                            images_per_camera=1, workers=1)
    root = render_layout(config, folder / layout)
    ingest(layout, root, folder / "images.parquet", progress=False)
    return config, folder / "images.parquet"


def _oracle(tmp_path_factory, toy_sd, method: str, layout: str, plan: dict):
    """(world config, images table, job config, tasks, oracle's generated rows) of `method`."""
    folder = tmp_path_factory.mktemp(f"oracle-{method}")
    world, images = _world(folder, layout)
    job = toy_job(method, images, toy_sd, folder / "job", plan=plan)
    run_plan(job)
    generated = render_oracle(job.out, world, images, folder / "oracle")
    rows = pl.from_arrow(read_table(generated, "generated"))
    return world, images, job, read_tasks(job), rows


@pytest.fixture(scope="module")
def dlcr(tmp_path_factory, toy_sd):
    return _oracle(tmp_path_factory, toy_sd, "dlcr", "ltcc", {"dlcr": {"targets_per_image": 2}})


@pytest.fixture(scope="module")
def dive(tmp_path_factory, toy_sd):
    return _oracle(tmp_path_factory, toy_sd, "dive", "llcm", {"dive": {"images_per_target": 2}})


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


def test_dlcr_oracle_changes_only_the_clothes(dlcr):
    world, images, job, tasks, rows = dlcr
    assert sorted(rows["task_id"]) == sorted(tasks["task_id"])
    assert set(rows["model_fingerprint"]) == {ORACLE_MODEL}
    joined = tasks.join(rows, on="task_id")
    assert (joined["outfit"] == joined["target_outfit"]).all()
    assert joined["parents"].to_list() == [[source] for source in joined["source_image_id"]]
    tables = world_tables(images.parent / "ltcc")
    masks = dict(zip(*pl.read_parquet(tables["parsing_masks"]).select(
        "image_id", "mask_png").to_dict().values(), strict=True))
    truth = pl.read_parquet(tables["toy_truth"])
    top_colour = {row["outfit"]: json.loads(row["attributes"])["outfit"]["top_colour"]
                  for row in truth.iter_rows(named=True)}
    outfit_of = dict(zip(truth["image_id"], truth["outfit"], strict=True))
    reader_outfit = pl.from_arrow(read_table(images, "images")).select("image_id", "outfit")
    reader_to_truth = {o: outfit_of[i] for i, o in reader_outfit.iter_rows()}
    changed = 0
    for row in joined.iter_rows(named=True):
        made, source = _pixels(row["path"]), _pixels(row["source_path"])
        mask = np.asarray(Image.open(io.BytesIO(masks[row["source_image_id"]])))
        assert made.shape == source.shape == (world.height, world.width, 3)
        person_rows = np.flatnonzero(mask.any(axis=1))
        above_head = slice(0, max(person_rows[0] - 2, 0))
        # the same camera, frame and pose: the background above the head is the source's
        assert np.array_equal(made[above_head], source[above_head])
        # the same person: their face and hair are the source's
        head = np.isin(mask, [LIP_LABELS["face"], LIP_LABELS["hair"]])
        assert np.median(np.abs(made[head] - source[head])) <= 2
        target = reader_to_truth[row["target_outfit"]]
        if top_colour[target] != top_colour[outfit_of[row["source_image_id"]]]:
            top = mask == LIP_LABELS["upper-clothes"]
            changed += np.abs(made[top] - source[top]).mean() > 10
    assert changed > 0


def test_dive_oracle_shows_the_person_in_the_target_modality(dive):
    world, images, job, tasks, rows = dive
    joined = tasks.join(rows, on="task_id")
    assert set(joined["target_modality"]) == {"rgb", "ir"}
    real = pl.from_arrow(read_table(images, "images"))
    for row in joined.iter_rows(named=True):
        made = _pixels(row["path"])
        grey = (made[..., 0] == made[..., 1]).all() and (made[..., 1] == made[..., 2]).all()
        assert grey == (row["target_modality"] == "ir"), row
        assert row["modality"] == row["target_modality"] and row["parents"] == []
        # a new view: no real image of the person shows it
        for path in real.filter(pl.col("pid") == row["pid"])["path"]:
            assert not np.array_equal(made, _pixels(path))
    # each task's view is its own
    assert len({_pixels(path).tobytes() for path in joined["path"]}) == joined.height


def test_oracle_table_trains_as_a_method_table(dlcr, tmp_path):
    _, images, job, tasks, rows = dlcr
    generated = tmp_path / "generated.parquet"
    rows.write_parquet(generated)
    data = load_training_set(TrainConfig(images=images, synthetic=generated))
    train = tasks.filter(pl.col("source_image_id").is_in(
        pl.from_arrow(read_table(images, "images")).filter(pl.col("role") == "train")["image_id"]
        .to_list()))
    assert len(data) - data.num_real == train.height > 0
    assert all(len(variants) == 2 for variants in data.variants)


def test_a_task_outside_the_world_is_named(dlcr):
    world, images, job, tasks, rows = dlcr
    task = tasks.row(0, named=True) | {"source_image_id": "not-an-image"}
    with pytest.raises(ValueError, match=f"task {task['task_id']}: its source image not-an-image"):
        ORACLES["dlcr"](task, WorldTruth.read(world, images))


def test_a_finished_oracle_is_reused(dlcr):
    world, images, job, tasks, rows = dlcr
    image = Path(rows["path"][0])
    written = image.stat().st_mtime_ns
    oracle = image.parents[2]
    assert render_oracle(job.out, world, images, oracle) == oracle / "generated.parquet"
    assert image.stat().st_mtime_ns == written
