"""The training set of a ReID run: real images plus kept synthetic ones, as labelled rows.

Synthetic images join in one of two ways (ARCHITECTURE.md):
- progressive (DLCR): a generated image carries its source's identity and is a *variant* of its
  source image; batches pair real images with variants (`ProgressiveBatchSampler`);
- extra_classes (DiVE, Diffusion-ReID): synthetic identities become extra classes; an image whose
  pid is a real training pid keeps that class.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from factory.reid.sampler import MODALITY_CODES
from factory.source_identities import check_below_sources, source_rows
from factory.table_io import read_table
from schemas.configs import TrainConfig


@dataclass
class TrainingSet:
    """Rows 0..num_real-1 are real images, the rest synthetic. Labels are class indices."""

    paths: list[str]
    labels: np.ndarray
    clothes: np.ndarray  # clothes class per row; -1 for synthetic rows (CAL sees only real)
    modalities: np.ndarray  # 0 rgb, 1 ir
    variants: list[np.ndarray]  # per real row: row indices of its synthetic variants, by seed
    num_real: int
    num_classes: int
    num_clothes: int
    class_pids: list[int]  # dataset pid of each class (synthetic identities included)

    def __len__(self) -> int:
        return len(self.paths)


def _real_rows(config: TrainConfig) -> pl.DataFrame:
    images = pl.from_arrow(read_table(config.images, "images"))
    rows = images.filter(pl.col("split").is_in(config.train_splits), pl.col("role") == "train")
    if rows.is_empty():
        raise ValueError(f"{config.images}: no training images in splits {config.train_splits}")
    # Datasets without clothes labels: one outfit per person, so CAL degrades to BoT.
    outfit = pl.coalesce("outfit", pl.col("pid").cast(pl.String))
    return rows.with_columns(outfit.alias("outfit")).sort("image_id")


def _kept_synthetic(config: TrainConfig) -> pl.DataFrame | None:
    if config.synthetic is None:
        return None
    generated = pl.from_arrow(read_table(config.synthetic, "generated"))
    if config.scores is not None:
        scores = pl.from_arrow(read_table(config.scores, "scores")).select(
            "image_id", "confidence", "kept")
        generated = generated.join(scores, on="image_id", how="inner")
        # A threshold on confidence applies where there is one: an identity the scorer has no
        # class for (DiVE's added people) keeps the filter's verdict on its other checks.
        keep = (pl.when(pl.col("confidence").is_null()).then(pl.col("kept"))
                .otherwise(pl.col("confidence") >= config.filter_threshold)
                if config.filter_threshold is not None else pl.col("kept"))
        generated = generated.filter(keep)
    return generated.sort("image_id")


def with_source_rows(generated: pl.DataFrame, sources: pl.DataFrame) -> pl.DataFrame:
    """The generated rows made from one of `sources`, with `source_row`: the row of that source
    (a generated image's first parent)."""
    index = dict(zip(sources["image_id"].to_list(), range(sources.height), strict=True))
    first_parent = pl.col("parents").list.first()
    return generated.with_columns(
        first_parent.replace_strict(index, default=None, return_dtype=pl.Int64).alias("source_row")
    ).filter(pl.col("source_row").is_not_null())


def _variants(real: pl.DataFrame, synthetic: pl.DataFrame) -> tuple[pl.DataFrame, list]:
    """Synthetic rows whose source is a real training image, and each real row's variants."""
    synthetic = with_source_rows(synthetic, real).sort("source_row", "seed", "image_id")
    variants = [np.empty(0, dtype=np.int64) for _ in range(real.height)]
    rows = np.arange(synthetic.height) + real.height
    sources = synthetic["source_row"].to_numpy()
    for source, group in zip(*np.unique(sources, return_index=True), strict=True):
        end = np.searchsorted(sources, source, side="right")
        variants[source] = rows[group:end]
    return synthetic, variants


def load_training_set(config: TrainConfig) -> TrainingSet:
    """Read the tables named by `config` into a TrainingSet."""
    real = _real_rows(config)
    synthetic = _kept_synthetic(config)
    if not config.real_images:
        real = real.clear()
        if synthetic.is_empty():
            raise ValueError(f"{config.synthetic}: no kept synthetic image to train on")
    variants = [np.empty(0, dtype=np.int64) for _ in range(real.height)]
    if synthetic is not None and config.mixing == "progressive":
        synthetic, variants = _variants(real, synthetic)
        synthetic_pids = real["pid"].to_numpy()[synthetic["source_row"].to_numpy()]
    elif synthetic is not None:
        synthetic_pids = synthetic["pid"].to_numpy()
    else:
        synthetic, synthetic_pids = real.clear(), np.empty(0, dtype=np.int64)
    if config.source_images is not None:  # DiVE's added identities: their real RGB images
        check_below_sources(real["pid"], str(config.images))
        added = source_rows(config.source_images, min_images=1).filter(
            pl.col("pid").is_in(np.unique(synthetic_pids).tolist()))
        real = pl.concat([real, added.with_columns(pl.col("pid").cast(pl.String).alias("outfit"))
                         .select(real.columns)])
    class_pids = sorted(set(real["pid"].to_list()) | set(synthetic_pids.tolist()))
    classes = {pid: label for label, pid in enumerate(class_pids)}
    outfits = sorted(set(real["outfit"].to_list()))
    clothes = {outfit: label for label, outfit in enumerate(outfits)}
    pids = np.concatenate([real["pid"].to_numpy(), synthetic_pids])
    return TrainingSet(
        paths=real["path"].to_list() + synthetic["path"].to_list(),
        labels=np.array([classes[pid] for pid in pids.tolist()], dtype=np.int64),
        clothes=np.concatenate([np.array([clothes[o] for o in real["outfit"].to_list()]),
                                np.full(synthetic.height, -1)]).astype(np.int64),
        modalities=np.array([MODALITY_CODES[m] for m in
                             real["modality"].to_list() + synthetic["modality"].to_list()],
                            dtype=np.int64),
        variants=variants,
        num_real=real.height,
        num_classes=len(class_pids),
        num_clothes=len(outfits),
        class_pids=class_pids,
    )


def training_summary(config: TrainConfig, data: TrainingSet) -> dict[str, str]:
    """What a run trained on, in words, for its report."""
    synthetic = len(data) - data.num_real
    real_classes = len(set(data.labels[:data.num_real].tolist()))
    summary = {"model": f"{config.model} ({config.arch}, "
                        f"{config.pretrained or 'random init'}) at {config.height}x{config.width}",
               "real images": f"{data.num_real} of {real_classes} identities ({config.images})"
               if config.real_images else "none (synthetic alone)"}
    if config.synthetic is not None:
        kept = "all" if config.scores is None else (
            f"confidence >= {config.filter_threshold}" if config.filter_threshold is not None
            else "the filter's `kept`")
        joined = ("DLCR's progressive schedule" if config.mixing == "progressive" else
                  f"{data.num_classes - real_classes} extra classes" if config.real_images else
                  f"{data.num_classes} classes")
        summary["synthetic images"] = f"{synthetic} ({kept}; {joined}) from {config.synthetic}"
    summary["evaluation"] = f"protocol {config.protocol or 'none'}" + (
        f", DLCR refinement with {config.refine_versions} versions per query from "
        f"{config.refine_with}" if config.refine_with is not None else "")
    return summary


def evaluation_rows(images: Path) -> pl.DataFrame:
    """The query and gallery rows of an images table, in a fixed order."""
    table = pl.from_arrow(read_table(images, "images"))
    return table.filter(pl.col("role").is_in(["query", "gallery"])).sort("image_id")
