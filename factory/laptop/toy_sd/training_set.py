"""Training data of the toy Stable Diffusion: toy-world renders, and captions from their outfits.

Captions come in three templates, all naming the top garment first and the bottom second:

    short    "a person in a red t-shirt and blue trousers with a black backpack"
    items    "red short-sleeved cotton t-shirt, blue denim trousers, white shoes, black backpack"
             (DLCR's prompt: the clothing items joined)
    full     the identity's and outfit's descriptions ("a tall slim person with ... wearing ...")

Only RGB cameras are drawn: the base model learns people and clothes; infrared is the adapt stage's
job (a modality LoRA), as on SD-1.5.
"""

from dataclasses import dataclass

import numpy as np

from factory.laptop.toyworld.render import render
from factory.laptop.toyworld.world import (
    Identity,
    Outfit,
    RenderRequest,
    make_camera,
    make_identity,
    make_outfit,
    stable_rng,
)
from factory.parsing.labels import CLOTHES_LABELS

CAPTION_TEMPLATES = ("short", "items", "full")
# Persons, outfits per person and cameras the training renders are drawn from.
PERSONS, OUTFITS, CAMERAS = 4000, 12, 40


@dataclass(frozen=True)
class ToyTrainingSet:
    """Renders of the toy world with what they show."""

    images: np.ndarray
    """(N, H, W, 3) uint8 RGB images."""
    clothes_masks: np.ndarray
    """(N, H, W) bool: DLCR's clothes mask (every LIP clothes label) of each image."""
    identities: list[Identity]
    outfits: list[Outfit]


def render_training_set(count: int, *, height: int, width: int, seed: int) -> ToyTrainingSet:
    """`count` RGB renders of random persons, outfits, cameras and frames of the world `seed`."""
    rng = stable_rng("toy-sd-training-set", seed, count)
    requests = [
        RenderRequest(make_identity(seed, int(pid)), make_outfit(seed, int(pid), int(outfit_id)),
                      make_camera(seed, int(camera_id), "rgb"), frame=int(frame))
        for pid, outfit_id, camera_id, frame in zip(
            rng.integers(1, PERSONS + 1, count), rng.integers(0, OUTFITS, count),
            rng.integers(1, CAMERAS + 1, count), rng.integers(0, 10_000, count), strict=True)
    ]
    images, label_masks = render(requests, height=height, width=width)
    return ToyTrainingSet(images=images, clothes_masks=np.isin(label_masks, CLOTHES_LABELS),
                          identities=[request.identity for request in requests],
                          outfits=[request.outfit for request in requests])


def top_phrase(outfit: Outfit) -> str:
    """E.g. "red t-shirt" or "red and white striped shirt"."""
    if outfit.top_pattern == "plain":
        return f"{outfit.top_colour} {outfit.top_type}"
    return f"{outfit.top_colour} and {outfit.top_accent} {outfit.top_pattern} {outfit.top_type}"


def short_caption(outfit: Outfit) -> str:
    """"a person in a {top} and {bottom colour} {bottom type}", plus the bag if there is one."""
    caption = f"a person in a {top_phrase(outfit)} and {outfit.bottom_colour} {outfit.bottom_type}"
    if outfit.bag != "none":
        caption += f" with a {outfit.bag_colour} {outfit.bag}"
    return caption


def items_caption(outfit: Outfit) -> str:
    """DLCR's prompt: the clothing items joined."""
    return ", ".join(outfit.items())


def caption(template: str, identity: Identity, outfit: Outfit) -> str:
    if template == "short":
        return short_caption(outfit)
    if template == "items":
        return items_caption(outfit)
    if template == "full":
        return f"{identity.describe()} wearing {outfit.describe()}"
    raise ValueError(f"unknown caption template {template!r}; valid: {list(CAPTION_TEMPLATES)}")


def draw_captions(data: ToyTrainingSet, indices: np.ndarray, rng: np.random.Generator, *,
                  template_weights: tuple[float, float, float], dropout: float) -> list[str]:
    """One caption per index, its template drawn with `template_weights` (short, items, full); a
    `dropout` share are empty, so classifier-free guidance has an unconditional model to use."""
    weights = np.asarray(template_weights, np.float64)
    templates = rng.choice(len(CAPTION_TEMPLATES), size=len(indices), p=weights / weights.sum())
    dropped = rng.random(len(indices)) < dropout
    return ["" if drop else caption(CAPTION_TEMPLATES[t], data.identities[i], data.outfits[i])
            for i, t, drop in zip(indices, templates, dropped, strict=True)]
