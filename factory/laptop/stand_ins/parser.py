"""Tiny random SegFormer human parsers, the stand-ins of DLCR's parser role: one with ATR's 18
labels (the vocabulary of `mattmdjaga/segformer_b2_clothes`, the shipped DLCR configs' parser)
and one with LIP's 20, both from `factory.parsing.labels`.

SegFormer-B2's shape (four encoder stages with overlapping patch embeddings, efficient attention
with spatial reduction 8/4/2/1, an all-MLP decode head) at tiny widths, saved with
`save_pretrained` beside a `SegformerImageProcessor`, so `factory.parsing.parser.
SegmentationParser` loads it through the same `Auto*.from_pretrained` calls as the hub model.
Its masks are noise over the label set; the label names are what matter (they decide which
pixels are clothes). The same seed gives the same files.
"""

import os
from pathlib import Path

from factory.parsing.labels import LABEL_SETS

# SegFormer-B2: hidden sizes (64, 128, 320, 512), depths (3, 4, 6, 3), decoder 768.
ENCODER = {"num_encoder_blocks": 4, "depths": [1, 1, 1, 1], "hidden_sizes": [8, 16, 24, 32],
           "num_attention_heads": [1, 2, 3, 4], "sr_ratios": [8, 4, 2, 1],
           "patch_sizes": [7, 3, 3, 3], "strides": [4, 2, 2, 2], "mlp_ratios": [4, 4, 4, 4],
           "decoder_hidden_size": 32}
INPUT_SIZE = {"height": 64, "width": 32}  # segformer_b2_clothes: 512 x 512


def build_tiny_parser(out: str | os.PathLike, *, labels: str = "atr", seed: int = 0) -> Path:
    """Write a tiny SegFormer with the `labels` vocabulary (atr or lip) and its image processor
    into `out`; returns `out`."""
    if labels not in LABEL_SETS:
        raise ValueError(f"unknown label set {labels!r}; valid: {sorted(LABEL_SETS)}")
    id2label = {label: name for name, label in LABEL_SETS[labels].labels.items()}
    import torch
    from transformers import (
        SegformerConfig,
        SegformerForSemanticSegmentation,
        SegformerImageProcessor,
    )

    config = SegformerConfig(**ENCODER, num_labels=len(id2label), id2label=id2label,
                             label2id={name: label for label, name in id2label.items()})
    torch.manual_seed(seed)
    out = Path(out)
    SegformerForSemanticSegmentation(config).eval().save_pretrained(out)
    SegformerImageProcessor(size=INPUT_SIZE, do_reduce_labels=False).save_pretrained(out)
    return out
