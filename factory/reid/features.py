"""Image features of a ReID model: the one extractor behind evaluation and the filter."""

from typing import NamedTuple

import numpy as np
import torch

from factory.image_files import load_rgb
from factory.reid.augment import reid_test_transform
from factory.reid.models import ReIDModel
from factory.reid.sampler import MODALITY_CODES

FEATURE_BATCH = 64


class ImageFeatures(NamedTuple):
    features: np.ndarray  # L2-normalised BN features, (N, D) float32
    logits: np.ndarray | None  # identity logits, (N, classes) float32, when asked


@torch.no_grad()
def extract_features(model: ReIDModel, paths: list[str], modalities: list[str], *,
                     size: tuple[int, int], device, batch_size: int = FEATURE_BATCH,
                     logits: bool = False) -> ImageFeatures:
    """Eval-mode features (and identity logits with `logits=True`) of the images at `paths`, one
    row each; `modalities` are "rgb" / "ir", `size` (height, width) the model's input size."""
    transform = reid_test_transform(size)
    model.eval()
    features, identity_logits = [], []
    for start in range(0, len(paths), batch_size):
        chunk = slice(start, start + batch_size)
        images = torch.stack([transform(load_rgb(path)) for path in paths[chunk]]).to(device)
        codes = torch.tensor([MODALITY_CODES[m] for m in modalities[chunk]], device=device)
        output = model(images, codes, logits=logits)
        features.append(torch.nn.functional.normalize(output.features, dim=1).float().cpu())
        if logits:
            identity_logits.append(output.logits.float().cpu())
    if not features:
        raise ValueError("no images to extract features from")
    return ImageFeatures(torch.cat(features).numpy(),
                         torch.cat(identity_logits).numpy() if logits else None)
