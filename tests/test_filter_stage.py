"""The filter stage on a real local Ray: ReID confidence, centroid similarity, kept flags, rates.

The scorer is a real BoT checkpoint whose classifier rows are the mean features of its classes'
real images (a nearest-class-mean classifier, so no training run is needed to know what it
should say: conftest's `toy_scorer`). "Generated" images are copies of real images labelled
with the right pid, a wrong pid, or a pid outside the classifier.
"""

import json
import shutil

import numpy as np
import polars as pl
import pytest

from factory.filter.stage import (
    SUMMARY_FILE,
    identity_references,
    keep_flags,
    run_filter,
    similarity_threshold,
)
from factory.generate.manifest import GENERATED_DIR, SCORES_DIR, read_parts, write_part
from factory.reid.checkpoint import checkpoint_class_pids, load_checkpoint
from factory.reid.features import extract_features
from factory.table_io import read_table
from schemas.generation_configs import FilterConfig, GenerationJobConfig

SIZE = (64, 32)


def fake_generated(images_path, out, toy_sd):
    """`generated` rows: copies of real images, labelled right, wrong and outside the classes."""
    images = pl.from_arrow(read_table(images_path, "images"))
    train = images.filter(pl.col("split") == "train").group_by("pid").first().sort("pid").head(4)
    test = images.filter(pl.col("split") == "test", pl.col("pid") > 0).sort("image_id").head(2)
    rows = []
    for kind, source in [("right", train), ("wrong", train), ("unseen", test)]:
        for n, row in enumerate(source.iter_rows(named=True)):
            task = f"{kind}{n:02d}" + "0" * 25
            path = out / "images" / "dive" / task[:2] / f"{task}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(row["path"], path)
            pid = train["pid"][(n + 1) % 4] if kind == "wrong" else row["pid"]
            rows.append({"task_id": task, "image_id": f"img-{task}", "path": str(path),
                         "method": "dive", "pid": pid, "modality": "rgb", "outfit": None,
                         "seed": n, "prompt": "p", "model_fingerprint": "m",
                         "adapter_fingerprint": None, "timings": [], "parents": [],
                         "error": None})
    write_part(out / GENERATED_DIR, rows, "generated", "task_id")
    return GenerationJobConfig(method="dive", images=images_path, prompts=out / "none.parquet",
                               out=out, model=str(toy_sd / "sd"), filter={"batch_size": 4})


def test_keep_flags_need_every_applicable_check():
    nan = np.nan
    confidence = np.array([0.9, 0.9, 0.1, nan, nan, nan])
    similarity = np.array([0.8, 0.1, 0.8, 0.8, 0.1, nan])
    kept = keep_flags(confidence, similarity, min_confidence=0.5, min_similarity=0.5)
    assert kept.tolist() == [True, False, False, True, False, False]
    only_similarity = keep_flags(confidence, similarity, min_confidence=None, min_similarity=0.5)
    assert only_similarity.tolist() == [True, False, True, True, False, False]


def test_filter_scores_keeps_and_resumes(ray_cluster, toy_images, toy_sd, toy_scorer, tmp_path):
    config = fake_generated(toy_images("market1501"), tmp_path, toy_sd)
    config = config.model_copy(update={"scorer": toy_scorer, "filter": config.filter.model_copy(
        update={"min_confidence": 0.2, "min_similarity": 0.9, "similarity_quantile": None})})
    assert checkpoint_class_pids(toy_scorer) == list(range(1, 9))
    summary = run_filter(config)
    scores = pl.from_arrow(read_parts(tmp_path / SCORES_DIR, "scores", "image_id"))
    right, wrong, unseen = (scores.filter(pl.col("image_id").str.contains(kind))
                            for kind in ("right", "wrong", "unseen"))
    assert right.height == wrong.height == 4 and unseen.height == 2
    assert (right["rank"] == 1).all() and right["kept"].all()
    assert (right["confidence"] > 0.2).all() and (right["similarity"] > 0.9).all()
    # world v2 (more varied people): right 0.26-0.60, wrong 0.07-0.12 under the toy scorer
    assert right["confidence"].min() > 2 * wrong["confidence"].max()
    assert right["confidence"].mean() > 3 * wrong["confidence"].mean()
    assert (wrong["rank"] > 1).all() and not wrong["kept"].any()
    assert unseen["confidence"].is_null().all() and unseen["rank"].is_null().all()
    assert unseen["similarity"].is_not_null().all() and unseen["kept"].all()
    assert summary["methods"] == {"dive": {"scored": 10, "kept": 6, "failed": 0, "keep_rate": 0.6}}
    assert json.loads((tmp_path / SUMMARY_FILE).read_text())["methods"] == summary["methods"]
    assert summary["similarity_threshold"] == 0.9
    assert run_filter(config)["scored_now"] == 0
    assert read_table(tmp_path / SCORES_DIR, "scores").num_rows == 10


def test_held_out_similarities_leave_each_image_out_of_its_centroid(toy_images, toy_scorer):
    images = pl.from_arrow(read_table(toy_images("market1501"), "images"))
    real = images.filter(pl.col("pid").is_in([1, 2, 3])).sort("image_id")
    references = real.select("path", "pid", "modality").to_dict(as_series=False)
    found = identity_references(toy_scorer, references)
    model = load_checkpoint(toy_scorer)
    features = extract_features(model, references["path"], references["modality"], size=SIZE,
                                device="cpu").features
    pids = np.asarray(references["pid"])
    expected = []
    for pid in (1, 2, 3):
        own = features[pids == pid]
        centroid = own.mean(axis=0)
        assert np.allclose(found["centroids"][pid], centroid / np.linalg.norm(centroid),
                           atol=1e-5)
        for index in range(len(own)):
            rest = np.delete(own, index, axis=0).mean(axis=0)
            expected.append(own[index] @ rest / np.linalg.norm(rest))
    assert np.allclose(found["held_out"], expected, atol=1e-5)


def test_similarity_threshold_takes_the_stricter_check():
    held_out = np.linspace(0.0, 1.0, 11)
    settings = FilterConfig(min_similarity=None, similarity_quantile=0.2)
    assert similarity_threshold(settings, held_out) == pytest.approx(0.2)
    both = FilterConfig(min_similarity=0.5, similarity_quantile=0.2)
    assert similarity_threshold(both, held_out) == 0.5
    assert similarity_threshold(FilterConfig(similarity_quantile=None), held_out) is None
    with pytest.raises(ValueError, match="two or more real images"):
        similarity_threshold(settings, np.zeros(0))


def test_calibrated_filter_keeps_what_looks_like_the_real_images(ray_cluster, toy_images, toy_sd,
                                                                  toy_scorer, tmp_path):
    config = fake_generated(toy_images("market1501"), tmp_path, toy_sd)
    config = config.model_copy(update={"scorer": toy_scorer, "filter": config.filter.model_copy(
        update={"min_confidence": None, "min_similarity": None, "similarity_quantile": 0.1})})
    summary = run_filter(config)
    threshold = summary["similarity_threshold"]
    scores = pl.from_arrow(read_parts(tmp_path / SCORES_DIR, "scores", "image_id"))
    assert scores["kept"].to_list() == (scores["similarity"] >= threshold).to_list()
    right = scores.filter(pl.col("image_id").str.contains("right"))
    assert right["kept"].all()  # real images of their own identity pass their own calibration
    assert json.loads((tmp_path / SUMMARY_FILE).read_text())["similarity_threshold"] == threshold
