"""Synthetic data as training input: an `images` table of the kept synthetic images (to pre-train
on synthetic identities alone, as Diffusion-ReID does) and a pre-trained backbone handed on in
torchvision's layout (what `TrainConfig.pretrained` loads), and the pre-train-then-fine-tune
recipe that joins them."""

from pathlib import Path

import polars as pl
from PIL import Image
from safetensors.torch import save_file

from factory.atomic import atomic_path
from factory.export.stage import kept_synthetic, synthetic_image_rows
from factory.generate.manifest import GENERATED_DIR, SCORES_DIR
from factory.reid.checkpoint import load_checkpoint
from factory.table_io import read_table, write_table
from schemas.configs import TrainConfig


def synthetic_images_table(job: Path, out: Path, *, source_images: Path) -> Path:
    """Write the `images` table of the kept images of generation job `job` to `out`."""
    generated = pl.from_arrow(read_table(job / GENERATED_DIR, "generated"))
    scores = pl.from_arrow(read_table(job / SCORES_DIR, "scores"))
    kept = kept_synthetic(generated, scores, source=str(job))
    if kept.is_empty():
        raise ValueError(f"{job}: the filter kept no image; nothing to train on")
    rows = synthetic_image_rows(kept, pl.from_arrow(read_table(source_images, "images")))
    sizes = [_size(path) for path in rows["path"].to_list()]
    rows = rows.drop("method").with_columns(
        width=pl.Series([w for w, _ in sizes], dtype=pl.Int32),
        height=pl.Series([h for _, h in sizes], dtype=pl.Int32))
    write_table(rows.to_arrow(), out, "images")
    return out


def _size(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def pretrained_backbone(checkpoint: Path, out: Path) -> Path:
    """Save the backbone of a BoT checkpoint as a torchvision ResNet state dict at `out`."""
    model = load_checkpoint(checkpoint)
    state = {}
    for key, value in model.state_dict().items():
        for part in ("stem.", "body."):
            if key.startswith(part):
                state[key.removeprefix(part)] = value.contiguous()
    with atomic_path(out) as temporary:
        save_file(state, str(temporary))
    return out


def pretrain_then_finetune(pretrain: TrainConfig, finetune: TrainConfig) -> Path:
    """Diffusion-ReID's recipe: train on the synthetic identities of `pretrain.images` alone, hand
    the backbone on (beside the pre-training run) and fine-tune on `finetune`'s real images from
    it; returns the fine-tuned run's last checkpoint. A PK batch needs P identities, and the filter
    may have kept fewer synthetic ones, so P is capped at their number."""
    from factory.train.run import train

    identities = len(read_table(pretrain.images, "images").column("pid").unique())
    pretrain = pretrain.model_copy(update={"p": min(pretrain.p, identities)})
    pretrained, _ = train(pretrain)
    backbone = pretrained_backbone(
        pretrained, Path(pretrain.storage_path) / f"{pretrain.name}-backbone.safetensors")
    finetuned, _ = train(finetune.model_copy(update={"pretrained": backbone}))
    return finetuned
