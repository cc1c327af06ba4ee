"""Training the toy SD: the smoke build is trained and loads in every pipeline class; the
inpainting UNet starts as the text-to-image one; training is a pure function of its seed."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from factory.diffusion.loader import load_pipeline
from factory.laptop.toy_sd.build import (
    MANIFEST,
    TOY_SIZES,
    TOY_TRAINING,
    make_text_encoder,
    make_unet,
    make_vae,
    toy_sd_path,
    toy_sd_resolution,
)
from factory.laptop.toy_sd.clip import contrastive_loss, image_tower
from factory.laptop.toy_sd.training import (
    ToyComponents,
    encode_posteriors,
    inpainting_unet_from,
    train_toy_sd,
)
from factory.laptop.toy_sd.training_set import render_training_set

SMOKE = TOY_SIZES["smoke"]
TINY = dataclasses.replace(TOY_TRAINING["smoke"], images=8, batch=2, vae_steps=1, clip_steps=1,
                           clip_batch=4, unet_steps=1, inpaint_steps=1)


def fresh_components(seed: int = 0) -> ToyComponents:
    from factory.laptop.toy_sd.tokenizer import clip_tokenizer

    return ToyComponents(tokenizer=clip_tokenizer(), text_encoder=make_text_encoder(SMOKE, seed),
                         vae=make_vae(SMOKE, seed + 1),
                         unet=make_unet(SMOKE, seed + 2, in_channels=4))


def test_smoke_build_is_trained(toy_sd):
    manifest = json.loads((toy_sd / MANIFEST).read_text())
    log = manifest["training_log"]
    for phase in ("vae", "text2img", "inpaint"):
        assert log[phase]["loss"] > 0 and log[phase]["wall_s"] >= 0, phase
    assert toy_sd_resolution(toy_sd) == (64, 32)
    pipeline = load_pipeline("text2img", toy_sd_path(toy_sd, "text2img"))
    untrained = make_unet(SMOKE, manifest["spec"]["seed"] + 2, in_channels=4).state_dict()
    trained = pipeline.unet.state_dict()
    assert trained.keys() == untrained.keys()
    assert not all(torch.equal(trained[key], untrained[key]) for key in trained)
    assert pipeline.vae.config.scaling_factor != 0.18215  # measured on the training latents


@pytest.mark.parametrize("kind", ["text2img", "img2img", "inpaint"])
def test_every_pipeline_class_runs_the_trained_build(toy_sd, kind):
    pipeline = load_pipeline(kind, toy_sd_path(toy_sd, kind))
    height, width = toy_sd_resolution(toy_sd)
    source = Image.new("RGB", (width, height), (200, 30, 30))
    inputs = {"text2img": {"height": height, "width": width},
              "img2img": {"image": source, "strength": 0.5},
              "inpaint": {"image": source, "mask_image": Image.new("L", (width, height), 255),
                          "height": height, "width": width}}[kind]
    image = pipeline("a person in a red t-shirt and blue trousers", num_inference_steps=2,
                     generator=torch.Generator().manual_seed(0), **inputs).images[0]
    assert image.size == (width, height)


def test_inpainting_unet_starts_as_the_text2img_unet():
    unet = make_unet(SMOKE, 0, in_channels=4)
    inpaint = inpainting_unet_from(unet)
    assert inpaint.config.in_channels == 9
    latents, condition = torch.randn(2, 4, 16, 8), torch.randn(2, 5, 16, 8)
    hidden = torch.randn(2, 77, SMOKE.text_hidden)
    with torch.no_grad():
        expected = unet(latents, 500, hidden).sample
        got = inpaint(torch.cat([latents, condition], dim=1), 500, hidden).sample
    assert torch.allclose(got, expected, atol=1e-5)


def same(first, second) -> bool:
    a, b = first.state_dict(), second.state_dict()
    return all(torch.equal(a[key], b[key]) for key in a)


def test_training_is_seeded_and_changes_the_trained_models():
    first, second, other = fresh_components(), fresh_components(), fresh_components()
    inpaint_a, log = train_toy_sd(first, TINY, seed=1, progress=False)
    inpaint_b, _ = train_toy_sd(second, TINY, seed=1, progress=False)
    train_toy_sd(other, TINY, seed=2, progress=False)
    assert set(log) == {"render", "vae", "clip", "encode", "text2img", "inpaint"}
    untrained = fresh_components()
    for name in ("vae", "text_encoder", "unet"):
        a, b, c, before = (getattr(models, name) for models in (first, second, other, untrained))
        assert same(a, b) and not same(a, c) and not same(a, before), name
    assert same(inpaint_a, inpaint_b)
    assert inpaint_a.conv_in.weight[:, 4:].abs().sum() > 0  # the new channels learned


def test_text_encoder_stays_at_its_init_without_contrastive_steps():
    components, untrained = fresh_components(), fresh_components()
    train_toy_sd(components, dataclasses.replace(TINY, clip_steps=0), seed=1, progress=False)
    assert same(components.text_encoder, untrained.text_encoder)


def test_contrastive_loss_counts_equal_captions_as_positives():
    features = torch.eye(3)
    log_scale = torch.tensor(4.0)
    distinct = contrastive_loss(features, features, log_scale, ["a", "b", "c"])
    # rows 0 and 1 share a caption: pairing image 0 with text 1 is no longer a mistake
    crossed = torch.stack([features[1], features[0], features[2]])
    assert contrastive_loss(features, crossed, log_scale, ["a", "a", "c"]) < \
        contrastive_loss(features, crossed, log_scale, ["a", "b", "c"])
    assert distinct < contrastive_loss(features, crossed, log_scale, ["a", "b", "c"])


def test_image_tower_takes_the_toy_resolution():
    tower = image_tower(16)
    assert tower(torch.zeros(2, 3, 64, 32)).shape == (2, 16)


def test_posteriors_blank_the_masked_pixels():
    vae = make_vae(SMOKE, 0)
    data = render_training_set(4, height=64, width=32, seed=0)
    plain, _ = encode_posteriors(vae, data.images)
    blanked, _ = encode_posteriors(vae, data.images, data.clothes_masks)
    grey = np.where(data.clothes_masks[..., None], np.uint8(0), data.images)
    assert not torch.allclose(plain, blanked)
    assert not torch.allclose(blanked, encode_posteriors(vae, grey)[0])  # 0 in [-1, 1] is not black
