"""What the adapt stage trains on: the images of the identities to adapt, their text codes, and
the batches and prompts of each step.

Batches are a pure function of (seed, step): every worker draws the same global batch and takes
its own slice, so a resumed run sees exactly the batches it would have seen without the break.
"""

from dataclasses import dataclass

import numpy as np
import polars as pl

from factory.diffusion.adapters import PROMPT, code_name, identity_token
from factory.source_identities import check_below_sources, source_rows
from factory.table_io import read_table
from schemas.diffusion_configs import AdaptConfig


@dataclass(frozen=True)
class AdaptImages:
    """The training images of the adapted identities (rows sorted by image id)."""

    paths: list[str]
    pids: np.ndarray
    code_names: list[str]  # per row: the name of its code ("ir" or "ir3")
    codes: dict[str, str]  # code name -> text code
    tokens: dict[int, str]  # pid -> identity token
    source: str | None = None  # the source identities' images table (DiVE's expansion)

    def __len__(self) -> int:
        return len(self.paths)


def _code_names(rows: pl.DataFrame, code_by: str) -> list[str]:
    cameras = rows["camera"].to_list() if code_by == "camera" else [None] * len(rows)
    return [code_name(modality, camera)
            for modality, camera in zip(rows["modality"].to_list(), cameras, strict=True)]


def select_images(config: AdaptConfig) -> AdaptImages:
    """The rows of `config.images` to adapt to; unknown identities or code names fail, named."""
    table = pl.from_arrow(read_table(config.images, "images"))
    rows = table.filter(pl.col("split").is_in(config.splits), pl.col("role") == "train")
    if rows.is_empty():
        raise ValueError(f"{config.images}: no training images in splits {config.splits}")
    if config.identities is not None:
        missing = sorted(set(config.identities) - set(rows["pid"].to_list()))
        if missing:
            raise ValueError(f"field 'identities': pids {missing[:10]} have no training images "
                             f"in {config.images} (splits {config.splits})")
        rows = rows.filter(pl.col("pid").is_in(config.identities))
    if config.source_images is not None:  # DiVE: new people, as one extra RGB camera
        check_below_sources(rows["pid"], str(config.images))
        source = source_rows(config.source_images, min_images=config.source_min_images,
                             identities=config.source_identities)
        rows = pl.concat([rows, source.select(rows.columns)])
    rows = rows.sort("image_id")
    names = _code_names(rows, config.code_by)
    unused = sorted(set(config.codes) - set(names))
    if unused:
        raise ValueError(f"field 'codes': {unused} name no {config.code_by} of the adapted "
                         f"images (they have {sorted(set(names))})")
    pids = rows["pid"].to_numpy()
    return AdaptImages(paths=rows["path"].to_list(), pids=pids, code_names=names,
                       codes={name: config.codes.get(name, name) for name in sorted(set(names))},
                       tokens={int(pid): identity_token(int(pid)) for pid in np.unique(pids)},
                       source=config.source_images and str(config.source_images))


def step_batch(images: AdaptImages, config: AdaptConfig, step: int, *, rank: int = 0,
               world: int = 1) -> tuple[np.ndarray, list[str]]:
    """(row indices, prompts) of this worker's share of step `step`'s batch.

    A prompt names the identity ("a {code} photo of a <id_k> person") with probability
    `identity_prompt_probability`, else it is the bare code (DiVE)."""
    rng = np.random.default_rng([config.seed, step])
    rows = rng.choice(len(images), size=config.batch_size,
                      replace=len(images) < config.batch_size)
    with_identity = rng.random(config.batch_size) < config.identity_prompt_probability
    prompts = []
    for row, named in zip(rows, with_identity, strict=True):
        code = images.codes[images.code_names[row]]
        prompts.append(PROMPT.format(code=code, token=images.tokens[int(images.pids[row])])
                       if named else code)
    return rows[rank::world], prompts[rank::world]


def load_pixels(paths: list[str], height: int, width: int):
    """Images as a float tensor [N, 3, height, width] in [-1, 1] (the VAE's input range)."""
    import torch
    from PIL import Image

    arrays = []
    for path in paths:
        with Image.open(path) as image:
            resized = image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(resized, dtype=np.float32))
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    return pixels / 127.5 - 1.0
