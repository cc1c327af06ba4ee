"""What the describe stage asks: one request per outfit (clothing) and per identity (caption).

DLCR's first step answers "What clothes is the person wearing?" for every training image; its
second asks an LLM to "Extract the clothing items from the following text: {answers}" once per
(identity, outfit). Here the per-image answers come from the dataset's own `descriptions` table
(the toy world writes one), so each request also knows the dataset's own answer, which the
`attributes` backend uses directly.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from factory.table_io import read_table
from schemas.describe_config import DescribeConfig

EXTRACTION_PROMPT = "Extract the clothing items from the following text: {answers}"
CAPTION_PROMPT = ("Write one short caption of this person's appearance for a text-to-image model, "
                  "from these descriptions of their photos: {descriptions}")
CLOTHING_FORMAT = ('Reply with JSON only, as {"items": ["...", "..."]}: one short lowercase phrase '
                   "per clothing item, each ending with the garment's name.")
CAPTION_FORMAT = ('Reply with JSON only, as {"caption": "..."}: one lowercase sentence that starts '
                  'with "a" and names the person, e.g. "a tall man with short black hair, ...".')


@dataclass(frozen=True)
class Request:
    """One prompt to write: its key in the prompts table, the chat messages, and the dataset's
    own answer (a JSON reply built from its descriptions)."""

    key: str
    kind: str  # clothing | caption
    messages: tuple[dict, ...]
    dataset_reply: str


def check_descriptions(images: pl.DataFrame, images_path: Path,
                       descriptions: str | os.PathLike | None) -> Path:
    """The configured per-image descriptions table; a job without one is named in the error."""
    if descriptions is not None:
        return Path(descriptions)
    dataset = images["dataset"][0]
    raise FileNotFoundError(
        f"{images_path}: no per-image descriptions of dataset {dataset!r}; the describe stage "
        "needs a `descriptions` table of them (image_id, identity_text, outfit_text, items): "
        "set `describe.descriptions`")


def load_described_images(images_path: Path, config: DescribeConfig) -> tuple[pl.DataFrame, Path]:
    """Images of the configured splits, each with its identity and outfit descriptions, and the
    descriptions table they came from."""
    images = pl.from_arrow(read_table(images_path, "images"))
    images = images.filter(pl.col("split").is_in(config.splits))
    if images.is_empty():
        raise ValueError(f"{images_path}: no images in splits {config.splits}")
    source = check_descriptions(images, images_path, config.descriptions)
    texts = pl.from_arrow(read_table(source, "descriptions")).select(
        "image_id", "identity_text", "outfit_text", "items")
    described = images.join(texts, on="image_id", how="left")
    missing = described.filter(pl.col("identity_text").is_null())
    if not missing.is_empty():
        raise ValueError(f"{source}: no description of {missing.height} image(s) of {images_path},"
                         f" e.g. image_id {missing['image_id'][0]!r} ({missing['path'][0]})")
    return described.sort("pid", "outfit", "image_id", nulls_last=True), source


def _reply(field: str, value) -> str:
    return json.dumps({field: value})


def clothing_requests(described: pl.DataFrame, config: DescribeConfig) -> list[Request]:
    """One request per outfit: its per-image answers joined into DLCR's extraction prompt."""
    outfits = (described.filter(pl.col("outfit").is_not_null())
               .group_by("outfit", maintain_order=True)
               .agg(pl.col("outfit_text").unique(maintain_order=True), pl.col("items").first()))
    if outfits.is_empty():
        raise ValueError(f"dataset {described['dataset'][0]!r} records no outfits: clothing "
                         "prompts need a clothes-changing dataset (set kinds: [caption])")
    requests = []
    for outfit, answers, items in outfits.iter_rows():
        answers = " ".join(answers[:config.answers_per_outfit])
        messages = ({"role": "system", "content": CLOTHING_FORMAT},
                    {"role": "user", "content": EXTRACTION_PROMPT.format(answers=answers)})
        requests.append(Request(outfit, "clothing", messages, _reply("items", items)))
    return requests


def caption_requests(described: pl.DataFrame, config: DescribeConfig) -> list[Request]:
    """One request per identity: descriptions of its images summarised into one caption (LPE).

    The dataset's own caption is the identity's description wearing its most photographed outfit.
    """
    per_image = described.with_columns(
        (pl.col("identity_text") + ", wearing " + pl.col("outfit_text")).alias("description"))
    people = (per_image.group_by("pid", maintain_order=True)
              .agg(pl.col("description").unique(maintain_order=True),
                   pl.col("description").mode().sort().first().alias("usual")))
    requests = []
    for pid, descriptions, usual in people.iter_rows():
        joined = " ".join(f"{text}." for text in descriptions[:config.descriptions_per_identity])
        messages = ({"role": "system", "content": CAPTION_FORMAT},
                    {"role": "user", "content": CAPTION_PROMPT.format(descriptions=joined)})
        requests.append(Request(str(pid), "caption", messages, _reply("caption", usual)))
    return requests


def requests_for(described: pl.DataFrame, config: DescribeConfig) -> list[Request]:
    builders = {"clothing": clothing_requests, "caption": caption_requests}
    return [request for kind in config.kinds for request in builders[kind](described, config)]
