"""The adapt stage on Ray Train V2: identity tokens + a UNet attention LoRA, trained jointly.

Each worker draws its slice of step s's batch from (seed, s) and its noise from (seed, s, rank),
so a run resumed from a checkpoint continues exactly as it would have run unbroken. A checkpoint
is an adapter folder (what `load_pipeline(adapters=...)` reads) plus the optimiser state and the
loss of every step (`factory.ray_training`). Ray Train restores the last one of a run from
(storage_path, name);
the run's record (`factory.run_record`: the config and the identities) refuses a re-run that
would change what is being trained.
"""

import shutil
from pathlib import Path

import numpy as np
import ray
import ray.train
import ray.train.torch
import torch

from factory.adapt.data import AdaptImages, load_pixels, select_images, step_batch
from factory.adapt.model import AdaptParts, build_parts, train_step
from factory.adapt.prior import class_batch, class_image_paths, make_class_images
from factory.atomic import atomic_folder
from factory.config_paths import resolve_model, resolve_paths
from factory.diffusion.adapters import (
    AdapterSet,
    load_adapter_set,
    write_adapter_set,
)
from factory.diffusion.loader import model_fingerprint
from factory.precision import MixedPrecision
from factory.ray_training import fit, read_history, report, restore
from schemas.diffusion_configs import AdaptConfig

ADAPTERS_DIR = "adapters"


def _optimizer(parts: AdaptParts, config: AdaptConfig) -> torch.optim.AdamW:
    rows, lora = parts.trainable()
    return torch.optim.AdamW([{"params": rows, "lr": config.token_lr or config.lr},
                              {"params": lora, "lr": config.lr}],
                             weight_decay=config.weight_decay)


def _report(parts: AdaptParts, optimizer, history: list[float], *, images: AdaptImages,
            base_fingerprint: tuple[str, str], rank: int, since: int) -> None:
    """Report the loss since the last report (history: the loss of every step so far), with a
    checkpoint whose model part is the adapter folder."""
    metrics = {"step": len(history), "loss": float(np.mean(history[since:] or [np.nan]))}
    report(metrics, rank=rank, optimizer=optimizer, history=history,
           save_model=lambda folder: write_adapter_set(
               folder / ADAPTERS_DIR, token_rows=parts.token_rows(),
               lora_state=parts.lora_state(), lora=parts.lora, codes=images.codes,
               base_fingerprint=base_fingerprint[0], text_encoder=base_fingerprint[1],
               source=images.source))


def _progress(rank: int, total: int, done: int):
    if rank != 0:
        return None
    from ray.experimental.tqdm_ray import tqdm

    progress = tqdm(total=total, desc="adapt", unit="step")
    progress.update(done)
    return progress


def adapt_loop_per_worker(config_dict: dict) -> None:
    config = AdaptConfig.model_validate(config_dict)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    images = select_images(config)
    parts = build_parts(config, images.tokens)
    base_fingerprint = (model_fingerprint(config.model),
                        model_fingerprint(Path(config.model) / "text_encoder")) if rank == 0 \
        else ("", "")
    optimizer_state, history = restore(
        lambda folder: parts.load_adapters(load_adapter_set(folder / ADAPTERS_DIR)))
    mixed = MixedPrecision(config.precision, device)  # frozen weights in its dtype
    model = ray.train.torch.prepare_model(mixed.cast_frozen(parts.model))
    mixed.cast_frozen(parts.vae).to(device)
    optimizer = _optimizer(parts, config)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    progress, reported = _progress(rank, config.steps, len(history)), len(history)
    class_paths = class_image_paths(config) if config.prior_weight else None
    for step in range(len(history), config.steps):
        rows, prompts = step_batch(images, config, step, rank=rank, world=world)
        pixels = load_pixels([images.paths[row] for row in rows], config.height, config.width)
        seed = int(np.random.SeedSequence([config.seed, step, rank]).generate_state(1)[0])
        generator = torch.Generator(device).manual_seed(seed)
        history.append(train_step(parts, model, (pixels.to(device), prompts),
                                  optimizer=optimizer, mixed=mixed, generator=generator,
                                  prior=_prior(config, class_paths, step, rank, world, device)))
        if progress is not None:
            progress.update(1)
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            _report(parts, optimizer, history, images=images, base_fingerprint=base_fingerprint,
                    rank=rank, since=reported)
            reported = len(history)
    if progress is not None:
        progress.close()


def _prior(config: AdaptConfig, class_paths, step: int, rank: int, world: int, device):
    """Prior preservation's share of a step: class pixels and prompts, weight, generator."""
    if class_paths is None:
        return None
    pixels, prompts = class_batch(config, class_paths, step, rank=rank, world=world)
    seed = int(np.random.SeedSequence([config.seed, step, rank, 1]).generate_state(1)[0])
    return (pixels.to(device), prompts, config.prior_weight,
            torch.Generator(device).manual_seed(seed))


def resolved(config: AdaptConfig) -> AdaptConfig:
    """Absolute paths (Ray workers run elsewhere); a missing images table or local model folder
    fails here, naming the field."""
    config = resolve_paths(config, inputs=("images", "source_images"),
                           outputs=("out", "storage_path"))
    return config.model_copy(update={"model": resolve_model(config.model)})


def publish_adapters(checkpoint: ray.train.Checkpoint, out: Path) -> AdapterSet:
    """Copy the checkpoint's adapter folder to `out` (atomically)."""
    with checkpoint.as_directory() as folder, atomic_folder(out) as staging:
        shutil.copytree(Path(folder) / ADAPTERS_DIR, staging, dirs_exist_ok=True)
    return load_adapter_set(out)


def run_adapt(config: AdaptConfig, *, restart: bool = False) -> tuple[AdapterSet, Path]:
    """Adapt (or resume adapting; `restart`: start the run over) and write the adapter folder
    and its report to `config.out`; returns the adapters and the report."""
    from factory.report.adapt import write_adapt_report

    config = resolved(config)
    images = select_images(config)  # bad identities or codes fail before Ray starts
    if config.prior_weight:
        make_class_images(config)
    result = fit(adapt_loop_per_worker, config, restart=restart,
                 extra={"identities": sorted(images.tokens)})
    adapters = publish_adapters(result.checkpoint, config.out)
    return adapters, write_adapt_report(config, adapters, images, read_history(result.checkpoint))
