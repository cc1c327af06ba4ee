"""`factory models pull|tiny`, run as a user runs them (a subprocess, HF_HUB_OFFLINE=1): a fake
hub cache stands for the hub; a job naming a model that is not pulled stops before any work."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from hub_cache import COMMIT, cache_model

FACTORY = shutil.which("factory", path=str(Path(sys.executable).parent))


def factory(tmp_path, *args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"),
           "FACTORY_MODELS_LOCK": str(tmp_path / "models.lock.json"),
           "TORCH_HOME": str(tmp_path / "torch")}
    return subprocess.run([FACTORY, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)


def job_file(tmp_path, **fields) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"method": "dive", "images": str(tmp_path / "images.parquet"),
                                    "prompts": str(tmp_path / "prompts.parquet"),
                                    "out": str(tmp_path / "out"), **fields}))
    return path


def test_pull_pins_what_the_cache_holds_and_plan_refuses_what_is_not_pulled(tmp_path, toy_sd):
    job = job_file(tmp_path, model="org/sd")
    result = factory(tmp_path, "plan", job)
    assert result.returncode == 2
    assert "model org/sd has no pinned revision" in result.stderr
    assert "factory models pull" in result.stderr and not (tmp_path / "out").exists()
    result = factory(tmp_path, "models", "pull", job)
    assert result.returncode == 2 and "org/sd is not in the model cache" in result.stderr
    cache_model(tmp_path / "hub", "org/sd", toy_sd / "sd")
    result = factory(tmp_path, "models", "pull", job)
    assert result.returncode == 0, result.stderr
    assert f"model: org/sd @ {COMMIT}" in result.stdout
    assert json.loads((tmp_path / "models.lock.json").read_text())["hub"] == {"org/sd": COMMIT}


def test_pull_of_a_train_config_with_imagenet_names_the_weights(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("images: images.parquet\narch: resnet18\npretrained: imagenet\n")
    result = factory(tmp_path, "models", "pull", config)
    assert result.returncode == 2
    assert "ResNet18_Weights.IMAGENET1K_V1" in result.stderr and "resnet18-f37072fd.pth" in \
        result.stderr


def test_tiny_writes_the_stand_ins_and_their_set_lines(tmp_path):
    result = factory(tmp_path, "models", "tiny", "--out", tmp_path / "tiny")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "tiny" / "stand-ins.dlcr.txt").read_text().split()
    assert lines[0] == f"model={(tmp_path / 'tiny' / 'sd-inpainting').resolve()}"
    assert "parser-atr" in result.stdout and "stand-ins.txt" in result.stdout
