"""Toy SD build logic: specs, seeding, cache and atomicity (a failure injected to check cleanup).

The full build (and running the real pipelines on it) is tested once in test_diffusion_loader.py.
"""

import json

import pytest
import torch

from factory.diffusion import toy_sd
from factory.diffusion.toy_sd import (
    TOY_SIZES,
    build_toy_sd,
    make_text_encoder,
    make_unet,
    make_vae,
    spec_hash,
    toy_sd_path,
    toy_sd_spec,
)

SMOKE = TOY_SIZES["smoke"]


def same_weights(first, second) -> bool:
    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_unknown_size_lists_valid_ones():
    with pytest.raises(ValueError, match=r"'huge'.*\['small', 'smoke'\]"):
        toy_sd_spec("huge", 0)


def test_spec_hash_depends_on_size_and_seed():
    hashes = {spec_hash(toy_sd_spec(size, seed)) for size in TOY_SIZES for seed in (0, 1)}
    assert len(hashes) == 4
    assert spec_hash(toy_sd_spec("smoke", 0)) == spec_hash(toy_sd_spec("smoke", 0))


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
    root = build_toy_sd(tmp_path / "toy", seed=0)
    index = toy_sd_path(root, "inpaint") / "model_index.json"
    stamp = index.stat().st_mtime_ns
    assert build_toy_sd(root, seed=0) == root and index.stat().st_mtime_ns == stamp
    weights = sorted((toy_sd_path(root, "text2img") / "text_encoder").glob("*.safetensors"))
    before = weights[0].read_bytes()
    build_toy_sd(root, seed=5)  # a different spec replaces the old build
    assert json.loads((root / "toy_sd.json").read_text())["spec"]["seed"] == 5
    assert weights[0].read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy"]


def test_failed_build_leaves_nothing(tmp_path, monkeypatch):
    def broken(folder, size, seed):
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
