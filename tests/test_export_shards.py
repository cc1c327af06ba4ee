"""`factory export --shards N --job CONFIG`: WebDataset shards that `webdataset` and our stream
read back, a data card beside the data, and the same export into a bucket."""

import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml
from PIL import Image
from test_export_stage import synthetic_world  # noqa: F401  (a fixture)

from factory.cli import main
from factory.export.shards import ShardStream, iter_shard, read_index
from factory.export.stage import IN_PROGRESS, export
from factory.storage import storage_path

PER_SHARD = 4


@pytest.fixture(scope="module")
def job_config(synthetic_world, tmp_path_factory):  # noqa: F811
    """A generation job config naming a model folder whose model card states a licence."""
    folder = tmp_path_factory.mktemp("job")
    model = folder / "sd-model"
    model.mkdir()
    (model / "README.md").write_text("---\nlicense: creativeml-openrail-m\ntags: [x]\n---\n# SD\n")
    tables, _, _ = synthetic_world
    config = folder / "job.yaml"
    config.write_text(yaml.safe_dump({
        "method": "diffusion_reid", "images": str(tables["images"]),
        "prompts": str(folder / "prompts.parquet"), "out": str(folder / "out"),
        "model": str(model), "scorer": str(folder / "scorer"),
        "filter": {"min_confidence": 0.4, "similarity_quantile": None}}))
    return config


@pytest.fixture(scope="module")
def sharded(synthetic_world, job_config, tmp_path_factory):  # noqa: F811
    tables, _, _ = synthetic_world
    out = tmp_path_factory.mktemp("sharded") / "export"
    code = main(["export", "--images", str(tables["images"]), "--generated",
                 str(tables["generated"]), "--scores", str(tables["scores"]), "--out", str(out),
                 "--shards", str(PER_SHARD), "--job", str(job_config)])
    assert code == 0
    return out


def all_samples(folder) -> list[dict]:
    index = read_index(storage_path(folder) / "webdataset")
    return [sample for shard in index["shards"]
            for sample in iter_shard(storage_path(folder) / "webdataset" / shard["url"])]


def test_every_training_image_is_in_one_shard_once(sharded):
    train = {path.stem: path for path in (sharded / "bounding_box_train").glob("*.jpg")}
    index = read_index(sharded / "webdataset")
    assert index["samples"] == len(train) and len(index["shards"]) == -(-len(train) // PER_SHARD)
    assert all(shard["samples"] <= PER_SHARD for shard in index["shards"])
    samples = all_samples(sharded)
    assert sorted(s["__key__"] for s in samples) == sorted(train)
    for sample in samples:
        assert sample["jpg"] == train[sample["__key__"]].read_bytes()
        assert sample["json"]["class"] == sample["cls"]
        assert sample["__key__"].startswith(f"{sample['json']['export_pid']:04d}_")
    # Classes are 0..C-1, one per exported training identity, in export pid order.
    pids = {s["cls"]: s["json"]["export_pid"] for s in samples}
    assert sorted(pids) == list(range(index["num_classes"]))
    assert [pids[c] for c in sorted(pids)] == sorted(pids.values())
    assert len({s["cls"] for s in samples[:PER_SHARD]}) > 1  # shuffled: a shard mixes people
    assert json.loads((sharded / "export.json").read_text())["shards"] == {
        "samples": len(train), "num_classes": index["num_classes"],
        "files": len(index["shards"])}


def test_the_webdataset_package_reads_the_shards(sharded):
    webdataset = pytest.importorskip("webdataset")
    urls = sorted(str(path) for path in (sharded / "webdataset").glob("*.tar"))
    read = list(webdataset.WebDataset(urls, shardshuffle=False))
    ours = {s["__key__"]: s for s in all_samples(sharded)}
    assert sorted(sample["__key__"] for sample in read) == sorted(ours)
    for sample in read:
        assert sample["jpg"] == ours[sample["__key__"]]["jpg"]
        assert int(sample["cls"]) == ours[sample["__key__"]]["cls"]


def test_the_stream_splits_shards_across_ranks_and_workers(sharded):
    samples = all_samples(sharded)
    per_rank = []
    for rank in (0, 1):
        stream = ShardStream(sharded / "webdataset", lambda jpeg: jpeg, rank=rank, world_size=2,
                             shuffle=3)
        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2)
        per_rank.append([data for data, _ in loader])
    seen = Counter(data for rank in per_rank for data in rank)
    assert seen == Counter(s["jpg"] for s in samples)  # each sample once, over 2 ranks x 2 workers
    assert all(per_rank)
    stream = ShardStream(sharded / "webdataset", lambda jpeg: jpeg, shuffle=2)
    first = [data for data, _ in stream]
    stream.set_epoch(1)
    assert sorted(first) == sorted(data for data, _ in stream) and first != list(stream)


def test_the_data_card(sharded, synthetic_world):  # noqa: F811
    _, real, exported = synthetic_world
    card = (sharded / "README.md").read_text()
    for heading in ("## Counts", "## Samples", "## Sources and their terms", "## Models",
                    "## Prompts", "## Filter"):
        assert heading in card
    assert "creativeml-openrail-m" in card  # the model card's licence
    assert "no open licence" in card or "toy world" in card
    assert "| diffusion_reid | 0.4 |" in card.replace("  ", " ") or "0.4" in card
    identities = pl.read_csv(sharded / "identities.csv")
    assert identities["images"].sum() == real.height + len(exported)
    with Image.open(sharded / "samples.jpg") as grid:
        assert grid.height == 2 * 128  # one row per method: dlcr, diffusion_reid


def test_the_training_example_streams_the_shards(sharded):
    example = Path(__file__).parents[1] / "examples" / "train_from_shards.py"
    run = subprocess.run([sys.executable, str(example), str(sharded), "--steps", "3",
                          "--batch-size", "4", "--workers", "1", "--size", "64", "32",
                          "--arch", "resnet18"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "step 3: loss" in run.stdout


def test_an_export_into_a_bucket(synthetic_world, bucket):  # noqa: F811
    tables, real, exported = synthetic_world
    out = storage_path(bucket) / "exports" / "market"
    summary = export(tables["images"], tables["generated"], tables["scores"], out, shards=3,
                     parquet=True)
    assert (out / "export.json").is_file() and not (out / IN_PROGRESS).exists()
    assert summary["images"]["train/synthetic"] == len(exported)
    assert len(list((out / "query").glob("*.jpg"))) == real.filter(
        pl.col("role") == "query").height
    assert (out / "README.md").is_file() and (out / "images.parquet").is_file()
    stream = ShardStream(out / "webdataset", lambda jpeg: Image.open(io.BytesIO(jpeg)).size)
    assert len(list(stream)) == summary["shards"]["samples"]
    with pytest.raises(FileExistsError, match="already exists"):
        export(tables["images"], tables["generated"], tables["scores"], out)
    # An export cut off in a bucket (marker, some files, no export.json) is written again whole.
    cut = storage_path(bucket) / "exports" / "cut"
    (cut / IN_PROGRESS).write_bytes(b"")
    (cut / "query" / "stale.jpg").write_bytes(b"stale")
    export(tables["images"], tables["generated"], tables["scores"], cut)
    assert not (cut / "query" / "stale.jpg").exists() and (cut / "export.json").is_file()
    other = storage_path(bucket) / "exports" / "other"
    (other / "data.txt").write_text("someone else's")
    with pytest.raises(FileExistsError, match="no export"):
        export(tables["images"], tables["generated"], tables["scores"], other)
