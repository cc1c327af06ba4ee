"""The demo report's pictures: the lead (real only, + method and + oracle per method), per-method
image grids (source, generated, kept or rejected by the filter), filter-score histograms, and CMC
points of every trained model."""

import json
from pathlib import Path

import matplotlib
import numpy as np
import polars as pl
from PIL import Image

from factory.atomic import atomic_path
from factory.demo.report import arm_name
from factory.export.stage import written_images
from factory.filter.stage import SUMMARY_FILE
from factory.generate.manifest import GENERATED_DIR, SCORES_DIR
from factory.image_files import load_rgb
from factory.report.training import save_figure
from factory.table_io import read_table

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CELL = (48, 96)  # width, height of a grid cell
BORDER = 3
KEPT, REJECTED, SOURCE = (40, 170, 60), (210, 40, 40), (120, 120, 120)


def scored_images(job: Path) -> pl.DataFrame:
    """The job's written images with their filter scores (unscored rows have null `kept`)."""
    generated = written_images(pl.from_arrow(read_table(job / GENERATED_DIR, "generated")))
    scores = pl.from_arrow(read_table(job / SCORES_DIR, "scores")).select(
        "image_id", "confidence", "similarity", "kept")
    return generated.join(scores, on="image_id", how="left")


def _cell(path: str, colour: tuple[int, int, int]) -> Image.Image:
    image = load_rgb(path).resize((CELL[0] - 2 * BORDER, CELL[1] - 2 * BORDER))
    framed = Image.new("RGB", CELL, colour)
    framed.paste(image, (BORDER, BORDER))
    return framed


def method_grid(job: Path, images: Path, out: Path, *, rows: int = 6, columns: int = 5) -> Path:
    """Rows of one source each: the real image (grey frame), then generated images framed green
    (kept by the filter) or red (rejected). Sources are parents (DLCR, Diffusion-ReID img2img)
    or, for text-to-image, a real training image of the identity (DiVE)."""
    made = scored_images(job).with_columns(pl.col("parents").list.first().alias("parent"))
    real = pl.from_arrow(read_table(images, "images")).filter(pl.col("role") == "train")
    first_image = real.group_by("pid").agg(pl.col("path").sort().first().alias("pid_path"))
    made = made.join(real.select(pl.col("image_id").alias("parent"), "path")
                     .rename({"path": "parent_path"}), on="parent", how="left")
    made = made.join(first_image, on="pid", how="left").with_columns(
        pl.coalesce("parent_path", "pid_path").alias("source_path")
    ).filter(pl.col("source_path").is_not_null()).sort("source_path", "image_id")
    sources = made["source_path"].unique(maintain_order=True).to_list()[:rows]
    sheet = Image.new("RGB", (CELL[0] * (columns + 1), CELL[1] * max(len(sources), 1)), "white")
    for row, source in enumerate(sources):
        sheet.paste(_cell(source, SOURCE), (0, row * CELL[1]))
        shown = made.filter(pl.col("source_path") == source).head(columns)
        for column, item in enumerate(shown.iter_rows(named=True), start=1):
            colour = KEPT if item["kept"] else REJECTED
            sheet.paste(_cell(item["path"], colour), (column * CELL[0], row * CELL[1]))
    with atomic_path(out) as temporary:
        sheet.save(temporary, format="PNG")
    return out


def score_histograms(jobs: dict[str, Path], out: Path) -> Path:
    """Similarity to the identity's real images, per method, kept and rejected stacked, with the
    threshold the filter used."""
    figure, axes = plt.subplots(1, len(jobs), figsize=(4 * len(jobs), 3), squeeze=False)
    for axis, (method, job) in zip(axes[0], jobs.items(), strict=True):
        scores = scored_images(job).filter(pl.col("similarity").is_not_null())
        kept = scores.filter(pl.col("kept"))["similarity"].to_numpy()
        rejected = scores.filter(~pl.col("kept"))["similarity"].to_numpy()
        bins = np.linspace(-1, 1, 41)
        axis.hist([kept, rejected], bins=bins, stacked=True, label=["kept", "rejected"],
                  color=[np.array(KEPT) / 255, np.array(REJECTED) / 255])
        threshold = json.loads((job / SUMMARY_FILE).read_text())["similarity_threshold"]
        if threshold is not None:
            axis.axvline(threshold, color="black", linestyle="--",
                         label=f"threshold {threshold:.2f}")
        axis.set_title(f"{method}: {len(kept)}/{len(kept) + len(rejected)} kept")
        axis.set_xlabel("cosine similarity to the identity's real images")
        axis.legend()
    return save_figure(figure, out)


def cmc_points(results: pl.DataFrame, out: Path) -> Path:
    """Rank-1/5/10 (mean over seeds) of each training variant, one panel per method/setting."""
    settings = sorted({(row["method"], column.split("/")[0])
                       for row in results.iter_rows(named=True)
                       for column in results.columns if column.endswith("/rank5")
                       and row.get(column) is not None})
    figure, axes = plt.subplots(1, max(len(settings), 1), figsize=(3.6 * len(settings), 3),
                                squeeze=False)
    for axis, (method, setting) in zip(axes[0], settings, strict=False):
        rows = results.filter(pl.col("method") == method)
        columns = [f"{setting}/rank{k}" for k in (1, 5, 10)]
        variants = rows.group_by("training", "refinement", maintain_order=True).agg(
            [pl.col(column).mean() for column in columns])
        for variant in variants.iter_rows(named=True):
            label = variant["training"] + (" + TTPR" if variant["refinement"] else "")
            axis.plot([1, 5, 10], [variant[column] for column in columns], marker="o",
                      label=label)
        axis.set_title(f"{method}: {setting}", fontsize=9)
        axis.set_xlabel("rank")
        axis.set_ylim(0, 1)
        axis.legend(fontsize=7)
    axes[0][0].set_ylabel("matching rate (CMC)")
    return save_figure(figure, out)


ARM_COLOURS = {"real": "#9a9a9a", "method": "#3c78c8", "oracle": "#3caa5a"}


def headline_bars(headlines: pl.DataFrame, out: Path) -> Path:
    """The report's lead: per method, its headline metric for real only, + method and + oracle
    (mean over seeds, the bar's whisker one standard deviation), an arm without runs named."""
    methods = headlines["method"].unique(maintain_order=True).to_list()
    figure, axes = plt.subplots(1, max(len(methods), 1), figsize=(3.4 * len(methods), 3.2),
                                squeeze=False)
    for axis, method in zip(axes[0], methods, strict=False):
        rows = headlines.filter(pl.col("method") == method).to_dicts()
        names = [arm_name(method, row["arm"], refined=row["refined"]).replace(" + ", "\n+ ", 2)
                 .lstrip("\n") for row in rows]
        means = [row["mean"] or 0.0 for row in rows]
        axis.bar(names, means, yerr=[row["sd"] or 0.0 for row in rows], capsize=4,
                 color=[ARM_COLOURS[row["arm"]] for row in rows])
        for x, (row, mean) in enumerate(zip(rows, means, strict=True)):
            label = row["note"] or f"{mean:.2f}"
            axis.text(x, mean + 0.02, label, ha="center", va="bottom", fontsize=7, wrap=True)
        axis.set_title(f"{method}: {rows[0]['setting']} {rows[0]['metric']}", fontsize=9)
        axis.set_ylim(0, 1)
        axis.tick_params(axis="x", labelsize=8)
    axes[0][0].set_ylabel(f"mean over {int(headlines['seeds'].max() or 0)} seed(s)")
    return save_figure(figure, out)
