"""Synthetic data as training input: an `images` table of the kept synthetic images (to pre-train
on synthetic identities alone, as Diffusion-ReID does), and the pre-train-then-fine-tune recipe
that hands the pre-trained model's backbone on (`TrainConfig.pretrained` takes a model folder)."""

from pathlib import Path

import polars as pl
from PIL import Image

from factory.export.stage import kept_synthetic, synthetic_image_rows, written_images
from factory.table_io import read_table, write_table
from schemas.configs import TrainConfig


def synthetic_images_table(generated: Path, out: Path, *, source_images: Path,
                           scores: Path | None) -> Path:
    """Write to `out` the `images` table of the images of a `generated` table that its `scores`
    table kept (scores None: every written image, e.g. the toy world's oracle)."""
    rows = pl.from_arrow(read_table(generated, "generated"))
    kept = written_images(rows) if scores is None else kept_synthetic(
        rows, pl.from_arrow(read_table(scores, "scores")), source=str(generated))
    if kept.is_empty():
        raise ValueError(f"{generated}: no kept image; nothing to train on")
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


def pretrain_then_finetune(pretrain: TrainConfig, finetune: TrainConfig) -> Path:
    """Diffusion-ReID's recipe: train on the synthetic identities of `pretrain.images` alone, hand
    the backbone on and fine-tune on `finetune`'s real images from
    it; returns the fine-tuned run's last checkpoint. A PK batch needs P identities, and the filter
    may have kept fewer synthetic ones, so P is capped at their number."""
    from factory.train.run import train

    identities = len(read_table(pretrain.images, "images").column("pid").unique())
    pretrain = pretrain.model_copy(update={"p": min(pretrain.p, identities)})
    pretrained, _ = train(pretrain)
    finetuned, _ = train(finetune.model_copy(update={"pretrained": pretrained}))
    return finetuned
