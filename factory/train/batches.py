"""Batches for ReID training: decoded image rows and DLCR's progressive real:synthetic pairing."""

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from factory.image_files import load_rgb
from factory.train.data import TrainingSet

# DLCR progressive learning: share of each image's variants that may be drawn, by epoch.
PROGRESSIVE_STEPS = ((5, 0.25), (10, 0.5), (15, 0.75))


def progressive_share(epoch: int) -> float:
    """p of DLCR's schedule: 0.25, 0.5, 0.75 until epochs 5, 10, 15, then 1.0."""
    for until, share in PROGRESSIVE_STEPS:
        if epoch < until:
            return share
    return 1.0


class ProgressiveBatchSampler(Sampler[list[int]]):
    """Wraps an identity batch sampler of real rows: each real row in a batch gets (with
    probability `ratio`) one synthetic variant drawn from the first max(1, int(n * p)) of its n
    variants (DLCR draws from its 10 per image), giving 1:1 real:synthetic batches."""

    def __init__(self, real_batches, variants: list[np.ndarray], *, ratio: float = 1.0,
                 seed: int = 0):
        super().__init__()
        self.real_batches, self.variants = real_batches, variants
        self.ratio, self.seed, self.epoch = ratio, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.real_batches.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.real_batches)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, self.real_batches.rank, 17])
        share = progressive_share(self.epoch)
        for batch in self.real_batches:
            partners = []
            for row in batch:
                variants = self.variants[row]
                if len(variants) and rng.random() < self.ratio:
                    allowed = max(1, int(len(variants) * share))
                    partners.append(int(variants[rng.integers(allowed)]))
            yield [int(row) for row in batch] + partners


class ImageRows(Dataset):
    """Decodes the rows of a TrainingSet; `transforms[modality]` turns a PIL image into a tensor.

    Items are dicts: image, label, clothes (-1 for synthetic), modality, synthetic (bool).
    """

    def __init__(self, rows: TrainingSet, transforms: dict):
        self.rows, self.transforms = rows, transforms

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        rows = self.rows
        image = load_rgb(rows.paths[index])
        modality = int(rows.modalities[index])
        return {
            "image": self.transforms[modality](image),
            "label": torch.tensor(rows.labels[index]),
            "clothes": torch.tensor(rows.clothes[index]),
            "modality": torch.tensor(modality),
            "synthetic": torch.tensor(index >= rows.num_real),
        }
