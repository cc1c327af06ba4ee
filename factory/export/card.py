"""The data card of an export: `README.md` beside the data, with `samples.jpg` (kept synthetic
images per method) and `identities.csv` (images per exported identity).

It says what a reader of the data needs before using it: how many images of each method and
identity, how many the filter kept, where the real images come from and under what terms, every
model that made or judged the synthetic ones (name, pinned revision, licence as its model card
states it, weight fingerprints), the prompts used and the filter's thresholds. Models, prompts
configs and thresholds come from the generation job configs given (`--job`); without one the card
names the models by the fingerprints the tables record and says so.
"""

import io
import re
from pathlib import Path

import polars as pl
from PIL import Image, ImageDraw

from factory.atomic import write_bytes, write_text
from factory.image_files import load_rgb
from factory.ingest.datasets import TERMS
from factory.pretrained.config_models import config_models, read_job_config
from factory.pretrained.lock import pinned_revision
from factory.report.markdown import markdown_table
from factory.storage import storage_path

CARD = "README.md"
SAMPLES = "samples.jpg"
IDENTITIES = "identities.csv"
CELL = (64, 128)  # width, height of one sample in the grid
SAMPLES_PER_METHOD = 8
TOP_PROMPTS = 5
LICENSE_LINE = re.compile(r"^licen[cs]e:\s*(.+?)\s*$", re.MULTILINE)


def model_licence(folder) -> str:
    """The `license:` of a model card's YAML header (`README.md` in the model folder)."""
    card = storage_path(folder) / CARD
    if not card.is_file():
        return "not stated (no model card in the folder)"
    text = card.read_text()
    header = text.split("---", 2)[1] if text.startswith("---") else ""
    found = LICENSE_LINE.search(header)
    return found.group(1).strip("'\"") if found else "not stated in its model card"


def model_rows(job_path: str) -> list[dict]:
    """Every model the job config at `job_path` names: field, name, revision, licence."""
    from factory.pretrained.hub import pinned_folder

    kind, config = read_job_config(job_path)
    rows = []
    for ref in config_models(kind, config):
        revision, licence = "(a folder: not pinned)", "n/a"
        if ref.source == "hub":
            revision = pinned_revision(ref.name) or "not pulled here"
            try:
                licence = model_licence(pinned_folder(ref.name, ref.field))
            except FileNotFoundError:
                licence = "unknown (not pulled here)"
        elif ref.source == "local":
            licence = model_licence(ref.name)
        elif ref.source == "imagenet":
            revision, licence = ("torchvision ImageNet weights",
                                 "torchvision's terms; trained on ImageNet (non-commercial terms)")
        rows.append({"job": Path(job_path).name, "field": ref.field, "model": ref.name,
                     "revision": revision, "licence": licence})
    for field in ("adapters", "scorer"):
        value = getattr(config, field, None)
        if value is not None:
            rows.append({"job": Path(job_path).name, "field": field, "model": str(value),
                         "revision": "(made by the factory)", "licence": "as its base model"})
    return rows


def filter_rows(job_path: str) -> list[dict]:
    kind, config = read_job_config(job_path)
    if kind != "generation_job":
        return []
    rules = config.filter
    return [{"job": Path(job_path).name, "method": config.method,
             "min_confidence": rules.min_confidence, "min_similarity": rules.min_similarity,
             "similarity_quantile": rules.similarity_quantile, "reference": rules.reference}]


def method_counts(rows: pl.DataFrame, generated: pl.DataFrame, kept: pl.DataFrame) -> pl.DataFrame:
    """Per method: written, kept, keep rate, exported, identities and images per identity."""
    exported = rows.filter(pl.col("origin") == "synthetic")
    per_identity = exported.group_by("method", "export_pid").len()
    spread = per_identity.group_by("method").agg(
        pl.len().alias("identities"), pl.col("len").min().alias("min/identity"),
        pl.col("len").median().alias("median/identity"), pl.col("len").max().alias("max/identity"))
    counts = (generated.group_by("method").len().rename({"len": "generated"})
              .join(kept.group_by("method").len().rename({"len": "kept"}), on="method",
                    how="left")
              .join(exported.group_by("method").len().rename({"len": "exported"}), on="method",
                    how="left")
              .fill_null(0)
              .with_columns((pl.col("kept") / pl.col("generated")).round(3).alias("keep rate")))
    return counts.join(spread, on="method", how="left").sort("method")


def identity_counts(rows: pl.DataFrame) -> pl.DataFrame:
    """Images per exported identity and role, split by origin and method."""
    return (rows.with_columns(pl.col("method").fill_null("real"))
            .group_by("export_pid", "role", "method").len().rename({"len": "images"})
            .sort("export_pid", "role", "method"))


def source_rows(rows: pl.DataFrame, images_table: str) -> list[dict]:
    toy = any((parent / "_toy" / "complete.json").is_file()
              for parent in storage_path(images_table).parents[:3])
    real = rows.filter(pl.col("origin") == "real")
    return [{"dataset": name, "images": n,
             "terms": ("the factory's procedural toy world in this dataset's layout: no real "
                       "person; Apache-2.0 as the factory") if toy else
             TERMS.get(name, "unknown to the factory: see the dataset's own agreement")}
            for name, n in sorted(real.group_by("dataset").len().iter_rows())]


def prompt_rows(generated: pl.DataFrame) -> list[dict]:
    rows = []
    for method in sorted(set(generated["method"])):
        prompts = generated.filter(pl.col("method") == method).group_by("prompt").len().sort(
            ["len", "prompt"], descending=[True, False])
        for prompt, n in prompts.head(TOP_PROMPTS).iter_rows():
            rows.append({"method": method, "distinct": prompts.height, "images": n,
                         "prompt": prompt.replace("|", "/")})
    return rows


def sample_grid(rows: pl.DataFrame) -> bytes | None:
    """One row per method: its first exported synthetic images, labelled."""
    synthetic = rows.filter(pl.col("origin") == "synthetic").sort("method", "image_id")
    methods = sorted(set(synthetic["method"]))
    if not methods:
        return None
    label = 90
    sheet = Image.new("RGB", (label + CELL[0] * SAMPLES_PER_METHOD, CELL[1] * len(methods)),
                      "white")
    draw = ImageDraw.Draw(sheet)
    for row, method in enumerate(methods):
        draw.text((4, row * CELL[1] + CELL[1] // 2), method, fill="black")
        shown = synthetic.filter(pl.col("method") == method).head(SAMPLES_PER_METHOD)
        for column, path in enumerate(shown["path"]):
            image = load_rgb(path).resize(CELL)
            sheet.paste(image, (label + column * CELL[0], row * CELL[1]))
    buffer = io.BytesIO()
    sheet.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _table(rows: list[dict] | pl.DataFrame, empty: str) -> str:
    frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows)
    return markdown_table(frame) if frame.height else empty


def write_data_card(folder, *, summary: dict, rows: pl.DataFrame, generated: pl.DataFrame,
                    kept: pl.DataFrame, scores: pl.DataFrame, images_table: str,
                    jobs: list[str], shards: dict | None) -> None:
    """`README.md`, `samples.jpg` and `identities.csv` in the export `folder`."""
    folder = storage_path(folder)
    write_text(folder / IDENTITIES, identity_counts(rows).write_csv())
    grid = sample_grid(rows)
    if grid is not None:
        write_bytes(folder / SAMPLES, grid)
    fingerprints = (generated.group_by("method", "model_fingerprint", "adapter_fingerprint")
                    .len().rename({"len": "images"}).sort("method"))
    scorers = scores.group_by("method", "scorer").len().rename({"len": "scored"}).sort("method")
    layout = ["- `bounding_box_train/`, `query/`, `bounding_box_test/`: Market-1501 layout "
              "(torchreid and fast-reid read it); `export.json`: the pid and camera maps."]
    if summary.get("parquet"):
        layout.append("- `images.parquet`: one row per image with its JPEG bytes.")
    if shards:
        layout.append(f"- `webdataset/`: {len(shards['shards'])} WebDataset tar shards of the "
                      f"{shards['samples']} training images over {shards['num_classes']} classes "
                      "(`.jpg`, `.cls`, `.json` per sample; `index.json` lists them); stream "
                      "them with `factory.export.shards.ShardStream` or `webdataset`.")
    counts = pl.DataFrame([{"images": key, "count": n} for key, n in summary["images"].items()])
    without_jobs = ("" if jobs else "\nNo generation job config was given (`factory export "
                    "--job`): the models are known only by the weight fingerprints below.\n")
    lines = [
        "# Data card", "",
        "Real person ReID images plus synthetic ones made by reid-factory and kept by its "
        "filter.", "", *layout, "",
        "## Counts", "", markdown_table(counts), "",
        "Per method (synthetic images: written by generation, kept by the filter, exported as "
        "training images; images per exported identity):", "",
        _table(method_counts(rows, generated, kept), "No synthetic images."), "",
        f"Images per identity and role: `{IDENTITIES}`.", "",
        "## Samples", "",
        f"![kept synthetic images per method]({SAMPLES})" if grid else "No synthetic images.", "",
        "## Sources and their terms", "",
        _table(source_rows(rows, images_table), "No real images."), "",
        "Terms as the factory records them; the dataset's own agreement governs.", "",
        "## Models", without_jobs,
        _table([row for job in jobs for row in model_rows(job)], "No job config given."), "",
        "Weights each image came from (fingerprints of the model and adapter files):", "",
        _table(fingerprints, "No generated images."), "",
        "## Prompts", "",
        _table(prompt_rows(generated), "No prompts."), "",
        "## Filter", "",
        _table([row for job in jobs for row in filter_rows(job)],
               "No job config given: thresholds unknown."), "",
        "Scorers (ReID checkpoint fingerprints) and images scored:", "",
        _table(scorers, "No scores."), "",
    ]
    write_text(folder / CARD, "\n".join(lines))
