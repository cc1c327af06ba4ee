"""The function every Ray Train worker runs: build, restore, train, evaluate, checkpoint.

The device comes from Ray (`ray.train.torch.get_device()`), the process group (gloo on CPU, NCCL
on GPUs) from `TorchTrainer`; nothing here names a device kind. What differs by model (sampler,
augmentation, metric loss, clothes labels) the model class says (`factory.reid.models`).
"""

import time

import ray.train
import ray.train.torch
import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from factory.precision import MixedPrecision
from factory.ray_training import report, restore
from factory.reid.checkpoint import CHECKPOINT_WEIGHTS, save_checkpoint
from factory.reid.models import ReIDModel, model_class
from factory.train.batches import ImageRows, ProgressiveBatchSampler
from factory.train.data import TrainingSet, load_training_set
from factory.train.evaluation import evaluate_model
from factory.train.objectives import Objective
from schemas.configs import TrainConfig


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """BoT's schedule: linear warm-up from lr/10, then x0.1 at each milestone."""
    if epoch < config.warmup_epochs:
        return config.lr * (0.1 + 0.9 * epoch / config.warmup_epochs)
    return config.lr * 0.1 ** sum(epoch >= milestone for milestone in config.milestones)


def build_loader(config: TrainConfig, data: TrainingSet, rank: int, world: int) -> DataLoader:
    # Progressive mixing pairs synthetic rows with their real sources; as extra classes they
    # are identities of their own, sampled like real ones.
    sampled = slice(None) if config.mixing == "extra_classes" else slice(0, data.num_real)
    kind = model_class(config.model)
    batches = kind.batch_sampler(data.labels[sampled], data.modalities[sampled], config.p,
                                 config.k, seed=config.seed, rank=rank, world_size=world)
    if config.mixing == "progressive":
        batches = ProgressiveBatchSampler(batches, data.variants, ratio=config.synthetic_ratio,
                                          seed=config.seed)
    transforms = kind.train_transforms((config.height, config.width))
    return DataLoader(ImageRows(data, transforms), batch_sampler=batches,
                      num_workers=config.loader_workers,
                      persistent_workers=config.loader_workers > 0)


def train_step(model, batch: dict, objective: Objective, optimizer, *, epoch: int,
               mixed: MixedPrecision) -> dict[str, float]:
    """One optimiser step on `batch` in `mixed`'s precision; returns its loss parts."""
    with mixed.autocast():
        loss, parts = objective(model, batch, epoch)
    mixed.step(loss, optimizer)
    return parts


def train_epoch(model, loader, objective, optimizer, epoch: int, config: TrainConfig, device, *,
                mixed: MixedPrecision | None = None):
    """One pass over `loader`; returns the mean of each loss part, the step count, the rate and
    the precision it ran in (`mixed`: the run's, whose fp16 loss scale carries over epochs)."""
    model.train()
    mixed = mixed or MixedPrecision(config.precision, device)
    totals, steps, images = {}, 0, 0
    start = time.perf_counter()
    for batch in loader:
        batch = {name: value.to(device) for name, value in batch.items()}
        parts = train_step(model, batch, objective, optimizer, epoch=epoch, mixed=mixed)
        for name, value in parts.items():
            totals[name] = totals.get(name, 0.0) + value
        steps += 1
        images += len(batch["label"])
        if config.max_steps_per_epoch and steps >= config.max_steps_per_epoch:
            break
    seconds = time.perf_counter() - start
    means = {name: total / max(steps, 1) for name, total in totals.items()}
    return means | {"steps": steps, "train_seconds": seconds,
                    "images_per_second": images / seconds if seconds else 0.0,
                    "precision": mixed.name}


def build_reid_model(config: TrainConfig, data: TrainingSet) -> ReIDModel:
    kind = model_class(config.model)
    options = {"arch": config.arch, "pooling": config.pooling,
               "pretrained_path": config.pretrained}
    if kind.learns_clothes:
        options["num_clothes"] = data.num_clothes
    return kind(data.num_classes, **options)


def train_loop_per_worker(config_dict: dict) -> None:
    config = TrainConfig.model_validate(config_dict)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    torch.manual_seed(config.seed)
    data = load_training_set(config)
    model = build_reid_model(config, data)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    optimizer_state, history = restore(
        lambda folder: model.load_state_dict(load_file(folder / CHECKPOINT_WEIGHTS)))
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    trained = ray.train.torch.prepare_model(model)
    loader = build_loader(config, data, rank, world)
    objective = Objective(config, data)
    settings = config.model_dump(mode="json")
    mixed = MixedPrecision(config.precision, device)
    for epoch in range(len(history), config.epochs):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, epoch)
        loader.batch_sampler.set_epoch(epoch)
        metrics = {"epoch": epoch + 1, "lr": learning_rate(config, epoch),
                   **train_epoch(trained, loader, objective, optimizer, epoch, config, device,
                                 mixed=mixed)}
        last = epoch + 1 == config.epochs
        if config.protocol and rank == 0 and ((epoch + 1) % config.eval_every == 0 or last):
            metrics |= evaluate_model(model, config.images, config.protocol,
                                      size=(config.height, config.width), device=device,
                                      refine_with=config.refine_with,
                                      refine_versions=config.refine_versions)
        history.append(metrics)
        report(history[-1], rank=rank, optimizer=optimizer, history=history,
               save_model=lambda folder: save_checkpoint(model, folder, settings,
                                                         class_pids=data.class_pids))
