"""The models a config names: every shipped config's, pulling them into a (fake) hub cache, and
a job that stops before any work when one is missing."""

import json
from pathlib import Path

import pytest
import yaml
from generation_inputs import generate_main
from hub_cache import COMMIT, cache_model, use_hub_cache

from factory.job import run_job
from factory.pretrained.config_models import (
    MODEL_FIELDS,
    config_models,
    pull_config,
    read_job_config,
    require_pulled,
)
from factory.pretrained.lock import ModelNotPulled
from schemas.config_base import ConfigError

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted((REPO / "jobs" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_every_shipped_config_names_its_models_by_maintained_hub_ids_or_folders(path):
    kind, config = read_job_config(path)
    refs = config_models(kind, config)
    assert {ref.field for ref in refs} <= set(MODEL_FIELDS[kind])
    names = {ref.name for ref in refs}
    assert not any(name.startswith("runwayml/") for name in names)  # left the hub
    if kind == "generation_job" and config.method == "dlcr" and "toy" not in path.stem:
        assert "stable-diffusion-v1-5/stable-diffusion-inpainting" in names


def test_a_pull_pins_hub_models_and_leaves_folders_alone(tmp_path, monkeypatch, toy_sd):
    cache = use_hub_cache(monkeypatch, tmp_path)
    cache_model(cache, "org/sd-inpainting", toy_sd / "sd-inpainting")
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({
        "method": "dlcr", "images": "images.parquet", "prompts": "prompts.parquet",
        "out": str(tmp_path / "out"), "model": "org/sd-inpainting",
        "parser": str(toy_sd / "sd")}))  # any folder stands for a local parser here
    kind, config = read_job_config(job)
    with pytest.raises(ModelNotPulled, match="field 'model': model org/sd-inpainting has no "
                                             "pinned revision"):
        require_pulled(kind, config)
    pulled = pull_config(job)
    assert [(item.ref.field, item.ref.source, item.revision) for item in pulled] == [
        ("model", "hub", COMMIT), ("parser", "local", None)]
    lock = json.loads((tmp_path / "models.lock.json").read_text())
    assert lock["hub"] == {"org/sd-inpainting": COMMIT}
    assert [ref.field for ref in require_pulled(kind, config)] == ["model", "parser"]


def test_a_job_whose_model_is_not_pulled_stops_before_any_work(tmp_path, monkeypatch):
    use_hub_cache(monkeypatch, tmp_path)
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({
        "method": "dive", "images": "images.parquet", "prompts": "prompts.parquet",
        "out": str(tmp_path / "out"), "model": "org/not-pulled"}))
    _, config = read_job_config(job)
    with pytest.raises(ModelNotPulled, match=r"org/not-pulled .*factory models pull CONFIG"):
        run_job(config, stages=("plan", "generate"))
    assert not (tmp_path / "out").exists()
    with pytest.raises(ModelNotPulled, match="org/not-pulled is not in the model cache"):
        pull_config(job)  # offline in tests: nothing downloaded


def test_generate_pull_pins_the_models_before_the_job_runs(tmp_path, monkeypatch, toy_sd, capsys):
    cache = use_hub_cache(monkeypatch, tmp_path)
    cache_model(cache, "org/sd", toy_sd / "sd")
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({
        "method": "dive", "images": str(tmp_path / "missing.parquet"),
        "prompts": "prompts.parquet", "out": str(tmp_path / "out"), "model": "org/sd"}))
    assert generate_main()([str(job), "--stages", "plan"]) == 2
    assert "org/sd has no pinned revision" in capsys.readouterr().err
    assert generate_main()([str(job), "--pull", "--stages", "plan"]) == 2
    assert "missing.parquet" in capsys.readouterr().err  # past the models, at the first table
    assert json.loads((tmp_path / "models.lock.json").read_text())["hub"] == {"org/sd": COMMIT}


def test_a_file_that_is_no_job_config_is_named(tmp_path):
    path = tmp_path / "ingest.yaml"
    path.write_text("dataset: market1501\nroot: x\nout: y\n")
    with pytest.raises(ConfigError, match="not a config that names models"):
        read_job_config(path)


def test_a_model_folder_in_a_bucket_counts_as_at_hand(tmp_path, bucket):
    from factory.storage import storage_path

    job = tmp_path / "job.yaml"
    model = storage_path(bucket) / "models" / "sd"
    job.write_text(yaml.safe_dump({
        "method": "dive", "images": "images.parquet", "prompts": "prompts.parquet",
        "out": str(tmp_path / "out"), "model": str(model)}))
    kind, config = read_job_config(job)
    with pytest.raises(ConfigError, match=f"field 'model': {model} is neither a model folder"):
        require_pulled(kind, config)
    (model / "model_index.json").write_text("{}")
    assert [(ref.field, ref.source) for ref in require_pulled(kind, config)] == [
        ("model", "local")]
    assert [item.path for item in pull_config(job)] == [model]
