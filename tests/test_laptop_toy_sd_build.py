"""Toy SD build logic: specs, seeding, cache and atomicity (a failure injected to check cleanup).

Running the real pipelines on a build is tested in test_diffusion_loader.py; the training itself
in test_laptop_toy_sd_training.py.
"""

import dataclasses
import json

import pytest
import torch

from factory.laptop.toy_sd import build as toy_sd
from factory.laptop.toy_sd.build import (
    TOY_SIZES,
    TOY_TRAINING,
    build_toy_sd,
    make_text_encoder,
    make_unet,
    make_vae,
    spec_hash,
    toy_sd_path,
    toy_sd_spec,
)

SMOKE = TOY_SIZES["smoke"]
# No training steps: these tests are about building and caching, not learning.
UNTRAINED = dataclasses.replace(TOY_TRAINING["smoke"], images=4, vae_steps=0, unet_steps=0,
                                inpaint_steps=0)


def same_weights(first, second) -> bool:
    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_unknown_size_lists_valid_ones():
    with pytest.raises(ValueError, match=r"'huge'.*\['small', 'smoke'\]"):
        toy_sd_spec("huge", 0)


def test_spec_hash_depends_on_size_seed_and_training():
    hashes = {spec_hash(toy_sd_spec(size, seed)) for size in TOY_SIZES for seed in (0, 1)}
    assert len(hashes) == 4
    assert spec_hash(toy_sd_spec("smoke", 0)) == spec_hash(toy_sd_spec("smoke", 0))
    assert toy_sd_spec("small", 0)["training"] == dataclasses.asdict(TOY_TRAINING["small"])
    default = spec_hash(toy_sd_spec("smoke", 0))
    for change in ({"unet_steps": 3}, {"caption_dropout": 0.2}, {"height": 128}):
        training = dataclasses.replace(TOY_TRAINING["smoke"], **change)
        assert spec_hash(toy_sd_spec("smoke", 0, training)) != default, change


@pytest.mark.parametrize("make", [
    make_text_encoder, make_vae, lambda size, seed: make_unet(size, seed, in_channels=9),
])
def test_components_are_seeded(make):
    assert same_weights(make(SMOKE, 0), make(SMOKE, 0))
    assert not same_weights(make(SMOKE, 0), make(SMOKE, 1))


def test_component_shapes_fit_together():
    text_encoder, unet = make_text_encoder(SMOKE, 0), make_unet(SMOKE, 0, in_channels=4)
    assert unet.config.cross_attention_dim == text_encoder.config.hidden_size
    assert isinstance(unet.config.sample_size, int)
    latents = make_vae(SMOKE, 0).encode(torch.zeros(1, 3, 64, 32)).latent_dist.mean
    assert latents.shape == (1, 4, 16, 8)


def test_cache_skips_and_rebuilds(tmp_path):
    root = build_toy_sd(tmp_path / "toy", seed=0, training=UNTRAINED)
    index = toy_sd_path(root, "inpaint") / "model_index.json"
    stamp = index.stat().st_mtime_ns
    assert build_toy_sd(root, seed=0, training=UNTRAINED) == root
    assert index.stat().st_mtime_ns == stamp
    weights = sorted((toy_sd_path(root, "text2img") / "text_encoder").glob("*.safetensors"))
    before = weights[0].read_bytes()
    build_toy_sd(root, seed=5, training=UNTRAINED)  # a different spec replaces the old build
    assert json.loads((root / "toy_sd.json").read_text())["spec"]["seed"] == 5
    assert weights[0].read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy"]


def test_failed_build_leaves_nothing(tmp_path, monkeypatch):
    def broken(folder, size, seed, training, progress):
        (folder / "sd").mkdir()
        raise RuntimeError("disk full")

    monkeypatch.setattr(toy_sd, "save_pipelines", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        build_toy_sd(tmp_path / "toy")
    assert list(tmp_path.iterdir()) == []


def test_toy_sd_path_kinds(tmp_path):
    assert toy_sd_path(tmp_path, "text2img") == toy_sd_path(tmp_path, "img2img") == tmp_path / "sd"
    assert toy_sd_path(tmp_path, "inpaint") == tmp_path / "sd-inpainting"
    with pytest.raises(ValueError, match="valid"):
        toy_sd_path(tmp_path, "video")
