"""What the describe stage asks the LLM: one request per outfit (clothing) and per identity
(caption), built from the per-image descriptions.

DLCR's first step answers "What clothes is the person wearing?" for every training image (a VLM,
`images.py`, or the dataset's own `descriptions` table); its second asks an LLM to "Extract the
clothing items from the following text: {answers}" once per (identity, outfit). A caption
request (LPE) summarises the descriptions of a few images of one identity. Each request also
knows the dataset's own answer, which the `attributes` backend uses directly.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from factory.storage import filesystem_and_path, storage_path
from factory.table_io import read_table
from schemas import validate
from schemas.describe_config import DescribeConfig
from schemas.tables import DESCRIPTIONS, VERSION_KEY

EXTRACTION_PROMPT = "Extract the clothing items from the following text: {answers}"
CAPTION_PROMPT = ("Write one short caption of this person's appearance for a text-to-image model, "
                  "from these descriptions of their photos: {descriptions}")
CLOTHING_FORMAT = ('Reply with JSON only, as {"items": ["...", "..."]}: one short lowercase phrase '
                   "per clothing item, each ending with the garment's name.")
CAPTION_FORMAT = ('Reply with JSON only, as {"caption": "..."}: one lowercase sentence that starts '
                  'with "a" and names the person, e.g. "a tall man with short black hair, ...".')
LINEAGE = ("model", "revision", "prompt", "seed")


@dataclass(frozen=True)
class Request:
    """One prompt to write: its key in the prompts table, the chat messages, and the dataset's
    own answer (a JSON reply built from its descriptions); `unanswerable` says why there is no
    request to send (no image of the outfit or identity was described)."""

    key: str
    kind: str  # clothing | caption
    messages: tuple[dict, ...]
    dataset_reply: str
    unanswerable: str | None = None


def load_images(images_path: Path, config: DescribeConfig) -> pl.DataFrame:
    """The images of the configured splits."""
    images = pl.from_arrow(read_table(images_path, "images"))
    images = images.filter(pl.col("split").is_in(config.splits))
    if images.is_empty():
        raise ValueError(f"{images_path}: no images in splits {config.splits}")
    return images


def read_descriptions(path: str | os.PathLike) -> pl.DataFrame:
    """A `descriptions` table; one written before lineage columns existed (version 1, a
    dataset's own text) gets them as nulls."""
    path = storage_path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such table file")
    filesystem, within = filesystem_and_path(path)
    table = pq.read_table(within, filesystem=filesystem)
    if (table.schema.metadata or {}).get(VERSION_KEY) == b"1":
        for name in LINEAGE:
            table = table.append_column(name, pa.nulls(table.num_rows,
                                                       DESCRIPTIONS.field(name).type))
    return pl.from_arrow(validate(table, "descriptions", source=str(path)))


def dataset_descriptions(images: pl.DataFrame, images_path: Path,
                         config: DescribeConfig) -> tuple[pl.DataFrame, Path]:
    """The dataset's own descriptions of every image (`attributes` VLM backend), and their file;
    a job without them, or an image they miss, is named in the error."""
    if config.descriptions is None:
        raise FileNotFoundError(
            f"{images_path}: no per-image descriptions of dataset {images['dataset'][0]!r}; "
            "set `describe.vlm_backend` to a VLM (vllm, http, transformers) to describe the "
            "images, or `describe.descriptions` to the dataset's own `descriptions` table")
    source = storage_path(config.descriptions)
    texts = read_descriptions(source)
    missing = images.join(texts, on="image_id", how="anti")
    if not missing.is_empty():
        raise ValueError(f"{source}: no description of {missing.height} image(s) of {images_path},"
                         f" e.g. image_id {missing['image_id'][0]!r} ({missing['path'][0]})")
    return texts, source


def describe(images: pl.DataFrame, descriptions: pl.DataFrame) -> pl.DataFrame:
    """Each image with its descriptions (null where none was given), in a stable order."""
    texts = descriptions.select("image_id", "identity_text", "outfit_text", "items")
    return (images.join(texts, on="image_id", how="left")
            .sort("pid", "outfit", "image_id", nulls_last=True))


def _reply(field: str, value) -> str:
    return json.dumps({field: value})


def _unanswerable(key: str, kind: str, what: str) -> Request:
    return Request(key, kind, (), "", f"no image of {what} {key} was described (see the "
                                      "describe stage's log for the images left unanswered)")


def check_outfits(images: pl.DataFrame, config: DescribeConfig) -> None:
    if "clothing" in config.kinds and images["outfit"].drop_nulls().is_empty():
        raise ValueError(f"dataset {images['dataset'][0]!r} records no outfits: clothing "
                         "prompts need a clothes-changing dataset (set kinds: [caption])")


def clothing_requests(described: pl.DataFrame, config: DescribeConfig) -> list[Request]:
    """One request per outfit: its per-image answers joined into DLCR's extraction prompt."""
    check_outfits(described, config)
    outfits = (described.filter(pl.col("outfit").is_not_null())
               .group_by("outfit", maintain_order=True)
               .agg(pl.col("outfit_text").drop_nulls().unique(maintain_order=True),
                    pl.col("items").drop_nulls().first()))
    requests = []
    for outfit, answers, items in outfits.iter_rows():
        if not answers:
            requests.append(_unanswerable(outfit, "clothing", "outfit"))
            continue
        answers = " ".join(answers[:config.answers_per_outfit])
        messages = ({"role": "system", "content": CLOTHING_FORMAT},
                    {"role": "user", "content": EXTRACTION_PROMPT.format(answers=answers)})
        requests.append(Request(outfit, "clothing", messages, _reply("items", items or [])))
    return requests


def caption_requests(described: pl.DataFrame, config: DescribeConfig) -> list[Request]:
    """One request per identity: descriptions of its images summarised into one caption (LPE).

    The dataset's own caption is the identity's description wearing its most photographed outfit.
    """
    per_image = described.with_columns(
        (pl.col("identity_text") + ", wearing " + pl.col("outfit_text")).alias("description"))
    people = (per_image.group_by("pid", maintain_order=True)
              .agg(pl.col("description").drop_nulls().unique(maintain_order=True),
                   pl.col("description").drop_nulls().mode().sort().first().alias("usual")))
    requests = []
    for pid, descriptions, usual in people.iter_rows():
        if not descriptions:
            requests.append(_unanswerable(str(pid), "caption", "identity"))
            continue
        joined = " ".join(f"{text}." for text in descriptions[:config.images_per_identity])
        messages = ({"role": "system", "content": CAPTION_FORMAT},
                    {"role": "user", "content": CAPTION_PROMPT.format(descriptions=joined)})
        requests.append(Request(str(pid), "caption", messages, _reply("caption", usual)))
    return requests


def prompt_keys(images: pl.DataFrame, config: DescribeConfig) -> set[tuple[str, str]]:
    """The (key, kind) of every prompt the images call for, before anything is described."""
    check_outfits(images, config)
    keys = set()
    if "clothing" in config.kinds:
        keys |= {(outfit, "clothing") for outfit in images["outfit"].drop_nulls().unique()}
    if "caption" in config.kinds:
        keys |= {(str(pid), "caption") for pid in images["pid"].unique()}
    return keys


def requests_for(described: pl.DataFrame, config: DescribeConfig) -> list[Request]:
    builders = {"clothing": clothing_requests, "caption": caption_requests}
    return [request for kind in config.kinds for request in builders[kind](described, config)]
