"""DiVE's identity expansion: people of an RGB-only dataset (toy Market-1501) join a
visible-infrared dataset's (toy LLCM) adaptation as one extra RGB camera, are planned in its IR
codes, and train as extra classes with their real RGB images beside their synthetic IR ones."""

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from factory.adapt.data import select_images
from factory.diffusion.adapters import AdapterSet, identity_token
from factory.plan.dive import plan_dive
from factory.plan.rows import PlanInputs
from factory.source_identities import SOURCE_PID_OFFSET
from factory.table_io import read_table, write_table
from factory.train.data import load_training_set
from schemas.configs import TrainConfig
from schemas.diffusion_configs import AdaptConfig
from schemas.generation_configs import GenerationJobConfig
from schemas.tables import GENERATED, SCORES

ADDED = 3  # source identities added


@pytest.fixture(scope="module")
def tables(toy_images):
    return toy_images("llcm"), toy_images("market1501")


def _source_pids(market) -> list[int]:
    """The first ADDED Market pids with at least 4 RGB training images, moved up."""
    train = pl.read_parquet(market).filter(pl.col("role") == "train", pl.col("pid") >= 0)
    counts = train.group_by("pid").len().filter(pl.col("len") >= 4).sort("pid")
    return [pid + SOURCE_PID_OFFSET for pid in counts["pid"].head(ADDED)]


def test_source_identities_join_adapt_as_one_extra_rgb_camera(tables, tmp_path):
    llcm, market = tables
    config = AdaptConfig(images=llcm, out=tmp_path / "adapters", code_by="camera",
                         source_images=market, source_min_images=4, source_identities=ADDED)
    images = select_images(config)
    own = set(pl.read_parquet(llcm).filter(pl.col("role") == "train")["pid"].to_list())
    added = _source_pids(market)
    assert set(images.tokens) == own | set(added)  # a token for every new person too
    assert images.tokens[added[0]] == identity_token(added[0])
    codes = {name for name, pid in zip(images.code_names, images.pids, strict=True)
             if pid >= SOURCE_PID_OFFSET}
    assert codes == {"rgb0"} and images.source == str(market)
    assert "rgb0" in images.codes and {"ir1", "rgb1"} <= set(images.codes)
    too_many = config.model_copy(update={"source_min_images": 1000})
    with pytest.raises(ValueError, match="no identity has 1000 or more RGB training images"):
        select_images(too_many)


def _adapters(llcm, market) -> AdapterSet:
    own = pl.read_parquet(llcm).filter(pl.col("role") == "train")["pid"].unique().to_list()
    pids = sorted(own) + _source_pids(market)
    return AdapterSet(path=Path("adapters"), tokens={pid: identity_token(pid) for pid in pids},
                      codes={"ir1": "infrared camera 1", "rgb0": "visible camera 0"},
                      base_fingerprint="b", fingerprint="f", lora={}, source=str(market))


@pytest.mark.parametrize("identities", ["dataset", "source", "all"])
def test_dive_plans_the_added_identities_in_the_vi_datasets_ir_codes(tables, tmp_path,
                                                                      identities):
    llcm, market = tables
    config = GenerationJobConfig(
        method="dive", images=llcm, prompts=tmp_path / "p.parquet", out=tmp_path / "out",
        model="org/sd", adapters=tmp_path / "adapters",
        plan={"dive": {"targets": ["ir1"], "images_per_target": 2, "identities": identities}})
    images = pl.read_parquet(llcm).filter(pl.col("split") == "train")
    inputs = PlanInputs(images=images, clothing=pl.DataFrame(),
                        captions=pl.DataFrame(schema={"pid": pl.Int64, "caption": pl.String}),
                        adapters=_adapters(llcm, market), model_fingerprint="m",
                        parser_fingerprint=None, skipped={})
    tasks = plan_dive(inputs, config)
    own = images["pid"].n_unique()
    expected = {"dataset": own, "source": ADDED, "all": own + ADDED}[identities]
    assert tasks["pid"].n_unique() == expected and tasks.height == expected * 2
    added = tasks.filter(pl.col("pid") >= SOURCE_PID_OFFSET)
    assert added.height == (0 if identities == "dataset" else ADDED * 2)
    for pid, prompt in added.select("pid", "prompt").iter_rows():
        assert prompt == f"a infrared camera 1 photo of a {identity_token(pid)} person"
    no_source = inputs.adapters.__class__(**{**inputs.adapters.__dict__, "source": None})
    if identities != "dataset":
        with pytest.raises(ValueError, match="needs an adapter set with added identities"):
            plan_dive(PlanInputs(**{**inputs.__dict__, "adapters": no_source}), config)


def test_added_identities_train_as_extra_classes_with_their_real_rgb_images(tables, tmp_path):
    llcm, market = tables
    added = _source_pids(market)
    sources = pl.from_arrow(read_table(market, "images")).filter(
        pl.col("role") == "train", pl.col("pid").is_in([pid - SOURCE_PID_OFFSET
                                                        for pid in added]))
    rows = [{"task_id": f"t{i}", "image_id": f"g{i}", "path": path, "method": "dive",
             "pid": pid + SOURCE_PID_OFFSET, "modality": "ir", "outfit": None, "seed": i,
             "prompt": "p", "model_fingerprint": "m", "adapter_fingerprint": "a",
             "timings": [("generate", 0.1)], "parents": [], "error": None}
            for i, (pid, path) in enumerate(sources.select("pid", "path").head(2 * ADDED)
                                            .iter_rows())]
    generated = tmp_path / "generated.parquet"
    write_table(pa.Table.from_pylist(rows, schema=GENERATED), generated, "generated")
    config = TrainConfig(images=llcm, synthetic=generated, mixing="extra_classes",
                         source_images=market)
    data = load_training_set(config)
    baseline = load_training_set(TrainConfig(images=llcm))
    with_synthetic = {row["pid"] for row in rows}
    assert data.num_classes == baseline.num_classes + len(with_synthetic)
    assert data.num_real == baseline.num_real + sources.filter(
        pl.col("pid").is_in([pid - SOURCE_PID_OFFSET for pid in with_synthetic])).height
    for pid in with_synthetic:  # each new class: real RGB and synthetic IR images
        label = data.class_pids.index(pid)
        members = data.labels == label
        real = members[:data.num_real].sum()
        assert real > 0 and members[data.num_real:].sum() > 0
        assert set(data.modalities[members].tolist()) == {0, 1}
    with pytest.raises(ValueError, match="set `synthetic` and `mixing: extra_classes`"):
        TrainConfig(images=llcm, synthetic=generated, source_images=market)
    # A confidence threshold cannot judge a person the scorer has no class for: `kept` does.
    scores = tmp_path / "scores.parquet"
    write_table(pa.Table.from_pylist([
        {"image_id": row["image_id"], "method": "dive", "pid": row["pid"], "scorer": "s",
         "confidence": None, "rank": None, "similarity": 0.5, "kept": index % 2 == 0,
         "error": None} for index, row in enumerate(rows)], schema=SCORES), scores, "scores")
    judged = load_training_set(config.model_copy(update={"scores": scores,
                                                         "filter_threshold": 0.9}))
    assert len(judged) - judged.num_real == len(rows[::2])
