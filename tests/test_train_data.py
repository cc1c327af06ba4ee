"""Training sets from tables: real rows, kept synthetic rows, progressive and extra-class mixing."""

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from factory.reid.sampler import PKSampler
from factory.table_io import read_table, write_table
from factory.train.batches import ProgressiveBatchSampler, progressive_share
from factory.train.data import load_training_set
from schemas.configs import TrainConfig
from schemas.tables import GENERATED, SCORES

VARIANTS = 4  # synthetic variants per real training image


def synthetic_tables(images_path, folder, *, new_identities=False):
    """A `generated` table whose images are copies of real training images (the pixels do not
    matter here), VARIANTS per source, and a `scores` table with confidence = variant / 4."""
    real = pl.from_arrow(read_table(images_path, "images")).filter(pl.col("split") == "train")
    rows, scores = [], []
    for source in real.iter_rows(named=True):
        for variant in range(VARIANTS):
            image_id = f"{source['image_id']}-v{variant}"
            rows.append({
                "task_id": image_id, "image_id": image_id, "path": source["path"],
                "method": "dlcr", "pid": source["pid"] + (10_000 if new_identities else 0),
                "modality": "rgb", "outfit": None, "seed": variant, "prompt": "p",
                "model_fingerprint": "m", "adapter_fingerprint": None,
                "timings": [("inpaint", 0.5)],
                "parents": [source["image_id"]],
            })
            scores.append({"image_id": image_id, "method": "dlcr", "pid": source["pid"],
                           "scorer": "s", "confidence": variant / 4, "similarity": None,
                           "rank": 1, "kept": variant >= 2})
    generated, scored = folder / "generated.parquet", folder / "scores.parquet"
    write_table(pa.Table.from_pylist(rows, schema=GENERATED), generated, "generated")
    write_table(pa.Table.from_pylist(scores, schema=SCORES), scored, "scores")
    return generated, scored


def test_real_only(toy_market):
    data = load_training_set(TrainConfig(images=toy_market))
    assert len(data) == data.num_real == 8 * 4 * 2
    assert data.num_classes == 8 and sorted(set(data.labels.tolist())) == list(range(8))
    assert data.num_clothes == 8  # no clothes labels: one outfit per person
    assert all(len(v) == 0 for v in data.variants)


@pytest.mark.parametrize(("threshold", "per_source"), [(None, 2), (0.0, 4), (0.5, 2), (0.75, 1)])
def test_progressive_variants_follow_the_filter(toy_market, tmp_path, threshold, per_source):
    generated, scores = synthetic_tables(toy_market, tmp_path)
    config = TrainConfig(images=toy_market, synthetic=generated, scores=scores,
                         filter_threshold=threshold)
    data = load_training_set(config)
    assert len(data) == data.num_real * (1 + per_source)
    assert data.num_classes == 8  # variants carry their source's identity
    for row, variants in enumerate(data.variants):
        assert len(variants) == per_source
        assert (data.labels[variants] == data.labels[row]).all()
        assert (data.clothes[variants] == -1).all()
        assert all(data.paths[v] == data.paths[row] for v in variants)


def test_extra_classes_add_synthetic_identities(toy_market, tmp_path):
    generated, _ = synthetic_tables(toy_market, tmp_path, new_identities=True)
    data = load_training_set(TrainConfig(images=toy_market, synthetic=generated,
                                         mixing="extra_classes"))
    assert data.num_classes == 16 and len(data) == data.num_real * (1 + VARIANTS)
    assert set(data.labels[data.num_real:].tolist()) == set(range(8, 16))


def test_progressive_schedule_draws_from_the_first_variants(toy_market, tmp_path):
    generated, _ = synthetic_tables(toy_market, tmp_path)
    data = load_training_set(TrainConfig(images=toy_market, synthetic=generated))
    assert [progressive_share(e) for e in (0, 4, 5, 9, 10, 14, 15, 60)] == \
        [0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0]
    real = PKSampler(data.labels[:data.num_real], p=4, k=2, seed=0)
    sampler = ProgressiveBatchSampler(real, data.variants, ratio=1.0, seed=0)
    for epoch, allowed in ((0, 1), (5, 2), (10, 3), (15, 4)):
        sampler.set_epoch(epoch)
        drawn = set()
        for batch in sampler:
            reals, partners = batch[:8], batch[8:]
            assert len(partners) == len(reals)  # 1:1 real:synthetic
            for row, partner in zip(reals, partners, strict=True):
                position = int(np.flatnonzero(data.variants[row] == partner)[0])
                drawn.add(position)
        assert max(drawn) == allowed - 1  # only the first max(1, int(n * p)) variants


def test_training_split_without_images_is_an_error(toy_market):
    with pytest.raises(ValueError, match="no training images in splits"):
        load_training_set(TrainConfig(images=toy_market, train_splits=["val"]))


def test_extra_class_identities_are_sampled_into_batches(toy_market, tmp_path):
    from factory.train.loop import build_loader

    generated, _ = synthetic_tables(toy_market, tmp_path, new_identities=True)
    config = TrainConfig(images=toy_market, synthetic=generated, mixing="extra_classes",
                         height=64, width=32, p=16, k=2)
    data = load_training_set(config)
    loader = build_loader(config, data, rank=0, world=1)
    loader.batch_sampler.set_epoch(0)
    drawn = {row for batch in loader.batch_sampler for row in batch}
    assert any(row >= data.num_real for row in drawn)  # synthetic identities are trained on
    assert any(row < data.num_real for row in drawn)
