"""The loader on a real toy SD build: every pipeline class runs, schedulers swap, caches hold."""

import json

import pytest
import torch
from PIL import Image

from factory.diffusion.loader import (
    FULL_HASH_LIMIT,
    SAMPLE_BYTES,
    load_pipeline,
    model_fingerprint,
)
from factory.laptop.toy_sd.build import build_toy_sd, toy_sd_path

WIDTH, HEIGHT = 32, 64
PROMPT = "a person in a red shirt"


@pytest.fixture(scope="module")
def toy_root(toy_sd):
    """The session's smoke toy SD (built once for all diffusion tests)."""
    return toy_sd


def generator():
    return torch.Generator().manual_seed(0)


def test_layout_and_model_index(toy_root):
    for kind in ("text2img", "inpaint"):
        index = json.loads((toy_sd_path(toy_root, kind) / "model_index.json").read_text())
        assert index["safety_checker"] == [None, None]
        assert index["feature_extractor"] == [None, None]
        assert index["requires_safety_checker"] is False
        assert index["scheduler"] == ["diffusers", "DDIMScheduler"]
        assert (toy_sd_path(toy_root, kind) / "tokenizer" / "merges.txt").is_file()
    unet = json.loads((toy_sd_path(toy_root, "inpaint") / "unet" / "config.json").read_text())
    assert unet["in_channels"] == 9


def test_text2img_runs(toy_root):
    pipeline = load_pipeline("text2img", toy_sd_path(toy_root, "text2img"))
    assert pipeline.device.type == "cpu" and pipeline.unet.dtype == torch.float32
    assert pipeline.safety_checker is None
    assert pipeline.tokenizer("a red shirt").input_ids == [49406, 320, 736, 2523, 49407]
    assert pipeline.tokenizer.model_max_length == 77
    assert type(pipeline.scheduler).__name__ == "DDIMScheduler"
    images = pipeline([PROMPT] * 2, height=HEIGHT, width=WIDTH, num_inference_steps=2,
                      generator=generator()).images
    assert [image.size for image in images] == [(WIDTH, HEIGHT)] * 2


def test_img2img_runs(toy_root):
    pipeline = load_pipeline("img2img", toy_sd_path(toy_root, "img2img"), scheduler="euler")
    assert type(pipeline.scheduler).__name__ == "EulerDiscreteScheduler"
    source = Image.new("RGB", (WIDTH, HEIGHT), (200, 30, 30))
    images = pipeline(PROMPT, image=source, strength=1.0, num_inference_steps=2,
                      generator=generator()).images
    assert images[0].size == (WIDTH, HEIGHT)


def test_inpaint_runs(toy_root):
    pipeline = load_pipeline("inpaint", toy_sd_path(toy_root, "inpaint"), scheduler="dpmsolver++")
    assert type(pipeline.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert pipeline.scheduler.config.algorithm_type == "dpmsolver++"
    assert pipeline.scheduler.config.beta_schedule == "scaled_linear"  # the model's own config
    source = Image.new("RGB", (WIDTH, HEIGHT), (30, 30, 200))
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    mask.paste(255, (0, 16, WIDTH, 48))
    images = pipeline(PROMPT, image=source, mask_image=mask, height=HEIGHT, width=WIDTH,
                      num_inference_steps=2, generator=generator()).images
    assert images[0].size == (WIDTH, HEIGHT)


def test_unknown_kind_and_scheduler_list_valid_ones(toy_root):
    with pytest.raises(ValueError, match=r"'video'.*\['img2img', 'inpaint', 'text2img'\]"):
        load_pipeline("video", toy_root / "sd")
    with pytest.raises(ValueError, match=r"'plms'.*\['ddim', 'dpmsolver\+\+', 'euler'\]"):
        load_pipeline("text2img", toy_root / "sd", scheduler="plms")


def test_wrong_unet_for_kind_is_named(toy_root):
    with pytest.raises(ValueError, match="needs a UNet with 9 input channels"):
        load_pipeline("inpaint", toy_sd_path(toy_root, "text2img"))


def test_second_build_is_a_no_op(toy_root):
    sd, inpaint = toy_sd_path(toy_root, "text2img"), toy_sd_path(toy_root, "inpaint")
    before = (model_fingerprint(sd), model_fingerprint(inpaint), sd.stat().st_mtime_ns)
    assert build_toy_sd(toy_root, size="smoke", seed=0) == toy_root
    assert (model_fingerprint(sd), model_fingerprint(inpaint), sd.stat().st_mtime_ns) == before
    assert model_fingerprint(sd) != model_fingerprint(inpaint)
    assert len(model_fingerprint(sd)) == 16


def test_fingerprint_tracks_configs_and_weights(tmp_path):
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text('{"in_channels": 4}')
    (tmp_path / "unet" / "model.safetensors").write_bytes(b"x" * 10)
    first = model_fingerprint(tmp_path)
    (tmp_path / "notes.txt").write_text("ignored")
    assert model_fingerprint(tmp_path) == first
    (tmp_path / "unet" / "model.safetensors").write_bytes(b"x" * 11)
    assert model_fingerprint(tmp_path) != first
    with pytest.raises(FileNotFoundError, match="no-such/model"):
        model_fingerprint("no-such/model")


def test_fingerprint_tells_trained_weights_from_their_init(tmp_path):
    """Same names and sizes, other values (a trained model and its random initialisation)."""
    (tmp_path / "unet").mkdir()
    weights = tmp_path / "unet" / "model.safetensors"
    weights.write_bytes(bytes(1000))
    init = model_fingerprint(tmp_path)
    weights.write_bytes(bytes(500) + b"\1" + bytes(499))
    assert model_fingerprint(tmp_path) != init


def test_fingerprint_samples_big_weight_files(tmp_path):
    """Files over FULL_HASH_LIMIT are read at both ends only (fast on multi-GB checkpoints)."""
    big = bytearray(FULL_HASH_LIMIT + 3 * SAMPLE_BYTES)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(big)
    first = model_fingerprint(tmp_path)
    big[FULL_HASH_LIMIT // 2] = 1  # the middle is not read
    weights.write_bytes(big)
    assert model_fingerprint(tmp_path) == first
    for position in (10, len(big) - 10):  # the first and last MiB are
        big[position] = 1
        weights.write_bytes(big)
        assert model_fingerprint(tmp_path) != first
        first = model_fingerprint(tmp_path)
