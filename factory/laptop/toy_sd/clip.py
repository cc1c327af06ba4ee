"""Contrastive pre-training of the toy SD's text encoder, as SD-1.5's text encoder is CLIP's text
tower, pre-trained on image-caption pairs and then frozen while the UNet learns.

A random text encoder gives every prompt distinct features, but "red t-shirt" and "blue t-shirt"
differ by one token among 77 and their features barely differ: the UNet then has to learn colour
words from a faint signal, and did not in a CPU budget (top colour right in 17% of samples after
700 steps, chance 8%). Here the text encoder learns, against a small image encoder that is
discarded afterwards, to tell the toy world's renders apart by their captions (CLIP's symmetric
InfoNCE loss with a learned temperature): exactly the words that change the picture, the colours
and garments, come to dominate its features. Captions that are equal in a batch (two people in
the same outfit) count as positives of each other.
"""

import math

import numpy as np

INITIAL_TEMPERATURE = 0.07  # CLIP's


def image_tower(width: int):
    """A small CNN from (N, 3, H, W) pixels in [-1, 1] to (N, `width`) features. It sees the image
    at half resolution: colours and garments, not fine detail, tell toy captions apart."""
    import torch.nn as nn

    def block(inputs: int, outputs: int):
        return [nn.Conv2d(inputs, outputs, 3, stride=2, padding=1), nn.GroupNorm(8, outputs),
                nn.GELU()]

    return nn.Sequential(nn.AvgPool2d(2), *block(3, 32), *block(32, 64), *block(64, 64),
                         nn.AdaptiveAvgPool2d((2, 1)), nn.Flatten(), nn.Linear(128, width))


def _targets(captions: list[str]):
    """Row-normalised matrix of which captions in the batch are equal (the positives)."""
    import torch

    _, codes = np.unique(np.asarray(captions), return_inverse=True)
    codes = torch.from_numpy(codes)
    equal = (codes[:, None] == codes[None, :]).float()
    return equal / equal.sum(1, keepdim=True)


def contrastive_loss(image_features, text_features, log_scale, captions: list[str]):
    """CLIP's symmetric cross-entropy between image->text and text->image similarities."""
    import torch.nn.functional as F

    logits = log_scale.exp().clamp(max=100) * (F.normalize(image_features, dim=-1)
                                               @ F.normalize(text_features, dim=-1).T)
    targets = _targets(captions)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def pooled_text(text_encoder, tokenizer, captions: list[str]):
    """The text encoder's pooled output (the end-of-text token's state), as CLIP's text tower."""
    ids = tokenizer(captions, padding="longest", truncation=True, return_tensors="pt").input_ids
    return text_encoder(ids).pooler_output


def contrastive_heads(width: int):
    """What trains beside the text encoder and is then discarded: the image tower, the text
    projection and the log of the logit scale."""
    import torch

    return torch.nn.ModuleDict({
        "images": image_tower(width),
        "projection": torch.nn.Linear(width, width, bias=False),
        "scale": torch.nn.ParameterDict(
            {"log": torch.nn.Parameter(torch.tensor(math.log(1 / INITIAL_TEMPERATURE)))}),
    })
