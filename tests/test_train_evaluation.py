"""Evaluating a model on its dataset's protocol, with and without DLCR's test-time refinement."""

import pyarrow as pa
import pytest
import torch

from factory.evaluate import protocol_for
from factory.evaluate.refinement import refined_distance
from factory.reid.features import extract_features
from factory.reid.models import build_model
from factory.table_io import write_table
from factory.train.data import evaluation_rows
from factory.train.evaluation import evaluate_model
from schemas.tables import GENERATED

SIZE = (64, 32)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("bot", 8, arch="resnet10").eval()


def query_versions(rows, folder):
    """Two 'outfit changes' per query: its own image and a flipped copy (pixels matter little)."""
    versions = []
    for row in rows.filter(rows["role"] == "query").iter_rows(named=True):
        for n in range(2):
            versions.append({
                "task_id": f"t{row['image_id']}{n}", "image_id": f"{row['image_id']}-{n}",
                "path": row["path"], "method": "dlcr", "pid": row["pid"], "modality": "rgb",
                "outfit": None, "seed": n, "prompt": "p", "model_fingerprint": "m",
                "adapter_fingerprint": None, "timings": [], "parents": [row["image_id"]]})
    path = folder / "versions.parquet"
    write_table(pa.Table.from_pylist(versions, schema=GENERATED), path, "generated")
    return path


def test_headline_and_settings(model, toy_market):
    metrics = evaluate_model(model, toy_market, "market1501", size=SIZE, device="cpu")
    assert metrics["rank1"] == metrics["standard/rank1"] and 0 < metrics["mAP"] <= 1
    assert metrics["standard/queries"] == 32


def test_refinement_sees_the_query_versions(model, toy_market, tmp_path):
    rows = evaluation_rows(toy_market)
    versions = query_versions(rows, tmp_path)
    refined = evaluate_model(model, toy_market, "market1501", size=SIZE, device="cpu",
                             refine_with=versions)
    features = extract_features(model, rows["path"].to_list(), rows["modality"].to_list(),
                                size=SIZE, device="cpu").features
    query_rows = [i for i, role in enumerate(rows["role"].to_list()) if role == "query"]
    version_rows = [row for row in query_rows for _ in range(2)]
    distance = refined_distance(features, rows["pid"].to_numpy(), features[version_rows],
                                version_rows)
    expected = protocol_for("market1501")(rows, distance)["standard"]
    assert refined["mAP"] == pytest.approx(expected["mAP"])
    assert refined["rank1"] == pytest.approx(expected["rank1"])
