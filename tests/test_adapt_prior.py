"""DreamBooth's prior preservation in adapt, on the smoke toy SD and a toy SYSU-MM01 world:
class images drawn once by the base model, a weighted class loss that changes the gradient,
nothing when its weight is 0."""

import pytest
import torch
from test_adapt_stage import adapt_config

from factory.adapt.data import load_pixels, select_images, step_batch
from factory.adapt.model import build_parts, train_step
from factory.adapt.prior import class_batch, class_image_paths, make_class_images
from factory.adapt.stage import run_adapt
from factory.precision import MixedPrecision

PRIOR = {"prior_weight": 1.0, "class_images": 3, "class_steps": 2}


@pytest.fixture(scope="module")
def sysu(toy_images):
    return toy_images("sysu_mm01")


def _lora_gradients(config, images, parts, prior) -> dict:
    rows, prompts = step_batch(images, config, 0)
    pixels = load_pixels([images.paths[row] for row in rows], config.height, config.width)
    optimizer = torch.optim.SGD(parts.trainable()[1], lr=0.0)  # gradients only, no update
    train_step(parts, parts.model, (pixels, prompts), optimizer=optimizer,
               mixed=MixedPrecision("fp32", "cpu"), generator=torch.Generator().manual_seed(0),
               prior=prior)
    return {name: p.grad.clone() for name, p in parts.model.named_parameters()
            if p.grad is not None and ".lora_" in name}


def test_class_images_and_a_weighted_class_loss_change_the_gradient(ray_cluster, toy_sd, sysu,
                                                                    tmp_path):
    config = adapt_config(toy_sd, sysu, tmp_path, identities=[1, 2], **PRIOR)
    paths = make_class_images(config)
    assert paths == class_image_paths(config) and all(path.is_file() for path in paths)
    stamps = [path.stat().st_mtime_ns for path in paths]
    assert make_class_images(config) == paths  # drawn once, then reused
    assert [path.stat().st_mtime_ns for path in paths] == stamps
    other = config.model_copy(update={"class_prompt": "a photo of a man"})
    assert class_image_paths(other)[0].parent != paths[0].parent
    images = select_images(config)
    pixels, prompts = class_batch(config, paths, 0)
    assert pixels.shape == (config.batch_size, 3, config.height, config.width)
    assert prompts == [config.class_prompt] * config.batch_size

    def gradients(weight):
        torch.manual_seed(0)  # the same LoRA initialisation each time
        parts = build_parts(config, images.tokens)
        prior = None if weight is None else (pixels, prompts, weight,
                                             torch.Generator().manual_seed(1))
        return _lora_gradients(config, images, parts, prior)

    plain, off, on = gradients(None), gradients(0.0), gradients(1.0)
    assert plain.keys() == on.keys() and plain
    assert all(torch.equal(plain[name], off[name]) for name in plain)  # weight 0: no effect
    assert any(not torch.equal(plain[name], on[name]) for name in plain)


def test_adapt_with_prior_preservation_runs_on_ray(ray_cluster, toy_sd, sysu, tmp_path):
    config = adapt_config(toy_sd, sysu, tmp_path, name="prior", report_identities=0, **PRIOR)
    adapters, _ = run_adapt(config)
    assert len(adapters.tokens) == 8 and all(path.is_file()
                                             for path in class_image_paths(config))
