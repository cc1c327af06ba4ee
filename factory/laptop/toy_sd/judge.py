"""Does a (toy) Stable Diffusion draw the colours its prompt names? A judge and two measurements.

The judge names each pixel of a garment region by the nearest toy-world `PALETTE` colour under a
brightness gain (cameras, frames and shading light a garment at 0.65..1.3 of its colour) and takes
the most frequent name: a vote, so long hair or a bag over part of the region does not shift the
answer as it would shift a mean or median. Generated people stand roughly where the toy world puts
them, so for text-to-image the regions are canonical: pixels that are top (bottom) garment in at
least `REGION_SHARE` of real renders. For inpainting the source image's own masks say where.

    text2img  prompts "a person in a {top colour} {top} and {bottom colour} {bottom}"
    inpaint   a real render's clothes mask repainted with another outfit's DLCR prompt (its items)
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from factory.laptop.toy_sd.training_set import items_caption, short_caption
from factory.laptop.toyworld.palette import PALETTE
from factory.laptop.toyworld.render import render
from factory.laptop.toyworld.world import (
    Outfit,
    RenderRequest,
    make_camera,
    make_identity,
    make_outfit,
    stable_rng,
)
from factory.parsing.labels import CLOTHES_LABELS, LIP_LABELS

COLOUR_NAMES = tuple(PALETTE)
COLOURS = np.array([PALETTE[name] for name in COLOUR_NAMES], np.float32)
GAIN_RANGE = (0.65, 1.3)
TOP_LABELS = (LIP_LABELS["upper-clothes"], LIP_LABELS["coat"])
BOTTOM_LABELS = (LIP_LABELS["pants"], LIP_LABELS["skirt"])
REGION_SHARE = 0.7
# A world none of the toy SD's training renders come from (those use the build's seed).
JUDGE_WORLD = 7_919


def name_colours(rgb: np.ndarray) -> list[str]:
    """Nearest palette name of each (N, 3) colour, each palette colour scaled by its best gain."""
    rgb = np.asarray(rgb, np.float32).reshape(-1, 1, 3)
    gains = np.clip((rgb * COLOURS).sum(-1) / (COLOURS * COLOURS).sum(-1), *GAIN_RANGE)
    distances = np.linalg.norm(rgb - gains[..., None] * COLOURS, axis=-1)
    return [COLOUR_NAMES[i] for i in distances.argmin(axis=1)]


def region_colours(images: np.ndarray, regions: np.ndarray) -> list[str]:
    """The most frequent pixel colour name of each (H, W, 3) image in its (H, W) bool region (or
    one region for all); "none" where a region is empty."""
    regions = np.broadcast_to(regions, images.shape[:3])
    names = []
    for image, region in zip(images, regions, strict=True):
        votes = np.unique(name_colours(image[region]), return_counts=True) if region.any() else None
        names.append(str(votes[0][votes[1].argmax()]) if votes else "none")
    return names


def plain_outfits(rng: np.random.Generator, count: int, *, seed: int = JUDGE_WORLD) -> list[Outfit]:
    """`count` outfits with plain tops and no bag (what the measured prompts describe), their
    top and bottom colours cycling through every ordered pair of distinct palette colours."""
    pairs = [(top, bottom) for top in COLOUR_NAMES for bottom in COLOUR_NAMES if top != bottom]
    order = rng.permutation(len(pairs))
    outfits = []
    for n in range(count):
        top, bottom = pairs[order[n % len(pairs)]]
        base = make_outfit(seed, 1_000_000 + n, 0)
        outfits.append(replace(base, top_colour=top, bottom_colour=bottom, top_pattern="plain",
                               bag="none"))
    return outfits


def real_renders(outfits: Sequence[Outfit], *, height: int, width: int, seed: int = JUDGE_WORLD):
    """(images, LIP masks) of random persons and RGB cameras of world `seed` in `outfits`."""
    rng = stable_rng("judge-renders", seed, len(outfits))
    requests = [RenderRequest(make_identity(seed, int(rng.integers(1, 10**6))), outfit,
                              make_camera(seed, int(rng.integers(1, 100)), "rgb"),
                              frame=int(rng.integers(0, 10_000)))
                for outfit in outfits]
    return render(requests, height=height, width=width)


@lru_cache(maxsize=8)
def garment_regions(height: int, width: int, samples: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """(top, bottom) canonical regions: (H, W) bool, where the garment lies in >= REGION_SHARE of
    real renders (all kinds of outfits) of the judge's world."""
    rng = stable_rng("judge-regions", samples)
    outfits = [make_outfit(JUDGE_WORLD, int(rng.integers(1, 10**6)), 0) for _ in range(samples)]
    _, masks = real_renders(outfits, height=height, width=width)
    return (np.isin(masks, TOP_LABELS).mean(0) >= REGION_SHARE,
            np.isin(masks, BOTTOM_LABELS).mean(0) >= REGION_SHARE)


@dataclass(frozen=True)
class ColourRates:
    """Shares of images whose garments show the prompted colours."""

    top: float
    bottom: float
    count: int


def rates(named_top, named_bottom, outfits: Sequence[Outfit]) -> ColourRates:
    top = np.mean([name == o.top_colour for name, o in zip(named_top, outfits, strict=True)])
    bottom = np.mean([name == o.bottom_colour
                      for name, o in zip(named_bottom, outfits, strict=True)])
    return ColourRates(top=float(top), bottom=float(bottom), count=len(outfits))


def judge_canonical(images: np.ndarray, outfits: Sequence[Outfit]) -> ColourRates:
    """Rates of (N, H, W, 3) images against `outfits`, read in the canonical regions."""
    top, bottom = garment_regions(*images.shape[1:3])
    return rates(region_colours(images, top), region_colours(images, bottom), outfits)


def judge_masked(images: np.ndarray, label_masks: np.ndarray,
                 outfits: Sequence[Outfit]) -> ColourRates:
    """Rates of images against `outfits`, read where the (N, H, W) LIP masks show each garment."""
    return rates(region_colours(images, np.isin(label_masks, TOP_LABELS)),
                 region_colours(images, np.isin(label_masks, BOTTOM_LABELS)), outfits)


def _as_array(images) -> np.ndarray:
    return np.stack([np.asarray(image.convert("RGB")) for image in images])


def text2img_samples(pipeline, outfits: Sequence[Outfit], *, height: int, width: int,
                     guidance: float = 7.5, steps: int = 20, batch: int = 25, seed: int = 0):
    """(images (N, H, W, 3) uint8, prompts): one image per outfit's short caption."""
    import torch

    prompts = [short_caption(outfit) for outfit in outfits]
    images = []
    for start in range(0, len(prompts), batch):
        generator = torch.Generator().manual_seed(seed + start)
        images += pipeline(prompts[start:start + batch], height=height, width=width,
                           guidance_scale=guidance, num_inference_steps=steps,
                           generator=generator).images
    return _as_array(images), prompts


def inpaint_samples(pipeline, sources: np.ndarray, label_masks: np.ndarray,
                    targets: Sequence[Outfit], *, guidance: float = 7.5, steps: int = 20,
                    batch: int = 25, seed: int = 0):
    """(images, prompts): each source's clothes mask repainted with its target's DLCR prompt,
    composited as DLCR does (generated pixels inside the mask, source pixels outside)."""
    import torch
    from PIL import Image

    prompts = [items_caption(outfit) for outfit in targets]
    clothes = np.isin(label_masks, CLOTHES_LABELS)
    images = []
    for start in range(0, len(prompts), batch):
        chunk = slice(start, start + batch)
        generator = torch.Generator().manual_seed(seed + start)
        result = pipeline(prompts[chunk], image=[Image.fromarray(i) for i in sources[chunk]],
                          mask_image=[Image.fromarray(m.astype(np.uint8) * 255)
                                      for m in clothes[chunk]],
                          height=sources.shape[1], width=sources.shape[2], strength=1.0,
                          guidance_scale=guidance, num_inference_steps=steps,
                          generator=generator).images
        images.append(_as_array(result))
    generated = np.concatenate(images)
    return np.where(clothes[..., None], generated, sources), prompts
