"""Toy-world layouts round-trip through the real dataset readers with exact counts."""

import polars as pl
import pyarrow.parquet as pq
import pytest

from factory.ingest.datasets import read_dataset
from factory.laptop.toyworld.layouts import PLANS, render_layout
from factory.laptop.toyworld.writer import MARKER, world_tables
from schemas.configs import ToyWorldConfig

T, S, K = 4, 4, 2  # train ids, test ids, images per camera
OUTFITS = 2  # per person (clothes-changing layouts)
V = 2  # val ids where a dataset has a val split: max(2, T // 4)

# (split, role) -> images, from the layouts' rules (see factory/toyworld/layouts.py)
EXPECTED = {
    "market1501": {("train", "train"): T * 4 * K, ("test", "query"): S * 4,
                   ("test", "gallery"): S * 4 * (K - 1) + S // 2},
    "sysu_mm01": {("train", "train"): T * 6 * K, ("val", "train"): V * 6 * K,
                  ("test", "query"): S * 2 * K, ("test", "gallery"): S * 4 * K},
    "prcc": {("train", "train"): T * 3 * K, ("val", "train"): V * 3 * K,
             ("test", "gallery"): S * K, ("test", "query"): S * 2 * K},
    "llcm": {("train", "train"): T * 7 * K, ("test", "query"): S * 3 * K,
             ("test", "gallery"): S * 4 * K},
    "ltcc": {("train", "train"): T * OUTFITS * 2 * K, ("test", "query"): S * OUTFITS,
             ("test", "gallery"): S * OUTFITS * (2 * K - 1)},
}


def config(layout):
    return ToyWorldConfig(layout=layout, seed=3, train_identities=T, test_identities=S,
                          outfits=OUTFITS, images_per_camera=K, workers=1)


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def rendered(request, tmp_path_factory):
    layout = request.param
    root = render_layout(config(layout), tmp_path_factory.mktemp(layout) / "root")
    images = pl.from_arrow(read_dataset(layout, root))
    annotations = pl.from_arrow(pq.read_table(world_tables(root)["toy_truth"]))
    return layout, root, images, annotations


def test_every_layout_is_covered():
    assert set(EXPECTED) == set(PLANS)


def test_counts_per_split_and_role_are_exact(rendered):
    layout, _, images, _ = rendered
    counts = {(r["split"], r["role"]): r["len"]
              for r in images.group_by("split", "role").len().iter_rows(named=True)}
    assert counts == EXPECTED[layout]


def test_reader_columns_agree_with_the_ground_truth(rendered):
    layout, _, images, annotations = rendered
    joined = images.join(annotations, on="image_id", how="left", suffix="_truth")
    assert joined["relative_path"].null_count() == 0, "reader produced an image the world lacks"
    kept = annotations.filter(pl.col("pid") >= 0)  # Market's junk (-1) is dropped by its reader
    assert images.height == kept.height
    for column in ("pid", "camera", "modality"):
        assert (joined[column] == joined[f"{column}_truth"]).all(), column
    assert (joined["width"] == 64).all() and (joined["height"] == 128).all()
    assert (joined["origin"] == "real").all() and (joined["dataset"] == layout).all()


def test_outfits_match_the_ground_truth_one_to_one(rendered):
    layout, _, images, annotations = rendered
    joined = images.join(annotations, on="image_id", suffix="_truth")
    if layout not in ("ltcc", "prcc"):
        assert joined["outfit"].null_count() == joined.height
        return
    pairs = joined.select("outfit", "outfit_truth").unique()
    assert pairs["outfit"].n_unique() == pairs.height == pairs["outfit_truth"].n_unique()
    test_ids = joined.filter(pl.col("split") == "test")
    assert test_ids.group_by("pid").agg(pl.col("outfit").n_unique())["outfit"].min() == 2


def test_cameras_and_modalities_per_split(rendered):
    layout, _, images, annotations = rendered
    truth = annotations.filter(pl.col("pid") >= 0).group_by("camera", "modality").len()
    read = images.group_by("camera", "modality").len()
    truth, read = truth.sort("camera", "modality"), read.sort("camera", "modality")
    assert read.equals(truth)
    if layout in ("sysu_mm01", "llcm"):
        ir = images.filter(pl.col("modality") == "ir")
        assert sorted(ir["camera"].unique()) == ([3, 6] if layout == "sysu_mm01" else [1, 2, 4])
        assert (images.filter(pl.col("role") == "query")["modality"] == "ir").all()


def test_rendering_again_is_a_cache_hit_and_another_world_is_refused(rendered):
    layout, root, _, _ = rendered
    stamp = (root / MARKER).stat().st_mtime_ns
    assert render_layout(config(layout), root) == root
    assert (root / MARKER).stat().st_mtime_ns == stamp
    other = config(layout).model_copy(update={"seed": 4})
    with pytest.raises(FileExistsError, match="holds something else"):
        render_layout(other, root)
