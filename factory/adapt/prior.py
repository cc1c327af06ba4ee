"""DreamBooth's prior preservation in adapt (Diffusion-ReID's fine-grain-specific prior
preservation): before training, the base model draws `class_images` people from the class prompt
("a photo of a person"), once, into `<storage_path>/class_images/<digest>/`; every step
then adds `prior_weight` x the denoising loss of a batch of them with the class prompt, so the
adapted model keeps drawing people in general while it learns the identity tokens.

Also home of `render`: seeded text-to-image per prompt, which the adapt report's samples use too.
"""

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import ray

from factory.adapt.data import load_pixels
from factory.atomic import write_bytes
from factory.local_ray import init_ray
from schemas.diffusion_configs import AdaptConfig

CLASS_DIR = "class_images"


def render(model: str, adapters: str | None, prompts: list[str], seeds: list[int], *,
           height: int, width: int, steps: int) -> list[np.ndarray]:
    """Text-to-image (with the adapters, when given), one seeded image per prompt (uint8
    HxWx3 arrays), on the GPU Ray gave this task or the CPU."""
    import torch

    from factory.diffusion.loader import load_pipeline

    device = torch.device("cuda" if ray.get_gpu_ids() else "cpu")
    pipeline = load_pipeline("text2img", model, adapters=adapters).to(device)
    images = []
    for prompt, seed in zip(prompts, seeds, strict=True):
        generator = torch.Generator(device).manual_seed(seed)
        images.append(pipeline(prompt, height=height, width=width, num_inference_steps=steps,
                               generator=generator, output_type="np").images[0])
    return [np.round(image * 255).astype(np.uint8) for image in images]


def class_image_paths(config: AdaptConfig) -> list[Path]:
    """Where the class images go: a folder named by everything that draws them, so runs
    (and a `--restart`, which deletes its run) share them and another setting makes its own."""
    drawn = [config.model, config.class_prompt, config.height, config.width, config.class_steps,
             config.seed]
    digest = hashlib.sha256(json.dumps(drawn).encode()).hexdigest()[:16]
    folder = Path(config.storage_path) / CLASS_DIR / digest
    return [folder / f"{index:05d}.png" for index in range(config.class_images)]


def make_class_images(config: AdaptConfig) -> list[Path]:
    """The run's class images, drawing those not made yet (a resumed run reuses them)."""
    from PIL import Image

    paths = class_image_paths(config)
    missing = [index for index, path in enumerate(paths) if not path.exists()]
    if missing:
        print(f"adapt: drawing {len(missing)} class images of {config.class_prompt!r} with the "
              f"base model for prior preservation")
        seeds = [int(np.random.SeedSequence([config.seed, index]).generate_state(1)[0])
                 for index in missing]
        init_ray()
        task = ray.remote(num_cpus=1, num_gpus=config.gpus_per_worker)(render)
        made = ray.get(task.remote(config.model, None, [config.class_prompt] * len(missing),
                                   seeds, height=config.height, width=config.width,
                                   steps=config.class_steps))
        for index, image in zip(missing, made, strict=True):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            write_bytes(paths[index], buffer.getvalue())
    return paths


def class_batch(config: AdaptConfig, paths: list[Path], step: int, *, rank: int = 0,
                world: int = 1) -> tuple:
    """(pixels, prompts) of this worker's share of step `step`'s class batch, as large as its
    share of the instance batch; drawn from (seed, step) apart from the instance draws."""
    rng = np.random.default_rng([config.seed, step, 1])
    rows = rng.choice(len(paths), size=config.batch_size,
                      replace=len(paths) < config.batch_size)[rank::world]
    pixels = load_pixels([str(paths[row]) for row in rows], config.height, config.width)
    return pixels, [config.class_prompt] * len(rows)
