"""Mixed precision and gradient checkpointing of the adapt and ReID training steps, on the smoke
toy SD and a smoke-size BoT on CPU (no Ray): bf16 really computes in bf16, fp32 is the step as it
was before precision existed, fp16 is refused on CPU."""

import math

import pytest
import torch

from factory.adapt.data import load_pixels, select_images, step_batch
from factory.adapt.model import build_parts, denoising_loss, train_step
from factory.laptop.presets import smoke_preset
from factory.laptop.toy_sd.build import toy_sd_path
from factory.precision import MixedPrecision, precision_name
from factory.train.data import load_training_set
from factory.train.loop import build_loader, build_reid_model, train_epoch
from factory.train.loop import train_step as reid_train_step
from factory.train.objectives import Objective
from schemas.configs import AdaptConfig, ConfigError, TrainConfig, make_config

TINY = {"batch_size": 2, "height": 64, "width": 32, "rank": 4, "lr": 1e-3, "token_lr": 1e-2,
        "identities": [1, 2]}


@pytest.fixture(scope="module")
def adapt_setup(toy_sd, toy_images, tmp_path_factory):
    """`setup(**changes)`: fresh (parts, optimiser, batch) of one seeded adapt step."""
    folder = tmp_path_factory.mktemp("adapt")

    def setup(**changes):
        config = AdaptConfig(model=str(toy_sd_path(toy_sd, "text2img")),
                             images=toy_images("sysu_mm01"), out=folder / "adapters",
                             storage_path=folder / "runs", **TINY, **changes)
        images = select_images(config)
        parts = build_parts(config, images.tokens)
        rows, prompts = step_batch(images, config, 0)
        pixels = load_pixels([images.paths[row] for row in rows], config.height, config.width)
        optimizer = torch.optim.AdamW([p for group in parts.trainable() for p in group],
                                      lr=config.lr)
        return parts, optimizer, (pixels, prompts)

    return setup


def test_auto_resolves_by_device_and_fp16_needs_a_gpu(toy_market):
    assert precision_name("auto", gpu=False) == "fp32"
    assert precision_name("auto", gpu=True) in ("bf16", "fp16")
    assert precision_name("bf16", gpu=False) == "bf16"
    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        make_config(TrainConfig, {"images": str(toy_market), "precision": "fp16"})
    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        MixedPrecision("fp16", "cpu")
    config = TrainConfig(images=toy_market, precision="fp16", gpus_per_worker=1)
    assert config.precision == "fp16"  # on a GPU it is a valid choice


def test_adapt_bf16_computes_in_bf16_with_fp32_master_weights(adapt_setup):
    parts, optimizer, batch = adapt_setup()
    mixed = MixedPrecision("bf16", "cpu")
    mixed.cast_frozen(parts.model)
    mixed.cast_frozen(parts.vae)
    seen = []
    attention = next(m for name, m in parts.model.unet.named_modules() if name.endswith("to_q"))
    attention.register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    rows, lora = parts.trainable()
    before = lora[0].detach().clone()
    loss = train_step(parts, parts.model, batch, optimizer=optimizer, mixed=mixed,
                      generator=torch.Generator().manual_seed(0))
    assert seen and set(seen) == {torch.bfloat16} and math.isfinite(loss)
    assert {p.dtype for p in (*rows, *lora)} == {torch.float32}
    assert not torch.equal(lora[0], before)  # the fp32 master weights were updated
    # On a GPU the frozen weights are cast (no GPU is needed to cast them); CPU keeps fp32.
    assert {p.dtype for p in parts.model.parameters()} == {torch.float32}
    MixedPrecision("bf16", "cuda").cast_frozen(parts.model)
    frozen = {p.dtype for p in parts.model.parameters() if not p.requires_grad}
    assert frozen == {torch.bfloat16} and {p.dtype for p in (*rows, *lora)} == {torch.float32}


def test_adapt_fp32_is_the_step_before_precision(adapt_setup):
    """fp32 gives bit-identical losses and weights to the plain backward/step of before."""
    runs = []
    for plain in (True, False):
        parts, optimizer, (pixels, prompts) = adapt_setup()
        losses = []
        for step in range(2):
            generator = torch.Generator().manual_seed(step)
            if plain:
                loss = denoising_loss(parts, parts.model, pixels, prompts, generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            else:
                losses.append(train_step(parts, parts.model, (pixels, prompts),
                                         optimizer=optimizer, generator=generator,
                                         mixed=MixedPrecision("fp32", "cpu")))
        runs.append((losses, parts.trainable()[1][0].detach()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(adapt_setup):
    results = []
    for checkpointing in (False, True):
        parts, _, (pixels, prompts) = adapt_setup(gradient_checkpointing=checkpointing)
        assert parts.model.unet.is_gradient_checkpointing == checkpointing
        loss = denoising_loss(parts, parts.model, pixels, prompts,
                              torch.Generator().manual_seed(0))
        loss.backward()
        rows, lora = parts.trainable()
        results.append((loss.detach(), rows[0].grad, [p.grad for p in lora]))
    (loss, rows, lora), (loss_again, rows_again, lora_again) = results
    assert torch.allclose(loss, loss_again, rtol=1e-5)
    assert torch.allclose(rows, rows_again, rtol=1e-4, atol=1e-7)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-7)
               for a, b in zip(lora, lora_again, strict=True))


def test_reid_bf16_step_and_fp32_unchanged(toy_market):
    config = TrainConfig(images=toy_market, **smoke_preset("train"))
    data = load_training_set(config)
    batch = next(iter(build_loader(config, data, rank=0, world=1)))
    results = {}
    for name in ("plain", "fp32", "bf16"):
        torch.manual_seed(0)
        model = build_reid_model(config, data).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        objective = Objective(config, data)
        if name == "plain":
            loss, parts = objective(model, batch, 0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        else:
            seen = []
            model.body.register_forward_hook(
                lambda module, args, output, seen=seen: seen.append(output.dtype))
            parts = reid_train_step(model, batch, objective, optimizer, epoch=0,
                                    mixed=MixedPrecision(name, "cpu"))
            assert set(seen) == {DTYPE[name]}
        results[name] = (parts, next(model.parameters()).detach())
    assert results["plain"][0] == results["fp32"][0]
    assert torch.equal(results["plain"][1], results["fp32"][1])
    assert all(math.isfinite(value) for value in results["bf16"][0].values())
    assert results["bf16"][1].dtype == torch.float32


def test_reid_epoch_records_its_precision(toy_market):
    config = TrainConfig(images=toy_market, **smoke_preset("train") | {"max_steps_per_epoch": 1})
    data = load_training_set(config)
    loader = build_loader(config, data, rank=0, world=1)
    loader.batch_sampler.set_epoch(0)
    model = build_reid_model(config, data)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    metrics = train_epoch(model, loader, Objective(config, data), optimizer, 0, config, "cpu")
    assert metrics["steps"] == 1 and metrics["precision"] == "fp32"  # auto on CPU


DTYPE = {"fp32": torch.float32, "bf16": torch.bfloat16}
