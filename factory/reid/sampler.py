"""Identity-balanced batch samplers: P identities x K images per batch.

Use one as a DataLoader `batch_sampler` (it yields lists of dataset indices). Under Ray Train, build
it with `rank=ray.train.get_context().get_world_rank()` and `world_size=...get_world_size()`, call
`set_epoch(epoch)` before each epoch, and pass `add_dist_sampler=False` to `prepare_data_loader`.
Every worker computes the same epoch plan from (seed, epoch) and takes batches rank, rank +
world_size, ...; all workers get the same number of batches, so DDP steps stay in lockstep.

- `PKSampler` (BoT's `RandomIdentitySampler`, reid-strong-baseline
  `data/samplers/triplet_sampler.py`): an epoch splits each identity's shuffled images into
  chunks of K (an identity with fewer than K images gives one chunk drawn with replacement; a
  remainder smaller than K is dropped) and packs the chunks into batches of P distinct
  identities. Epoch length is fixed: (number of chunks // P) // world_size batches per worker.
  Identities are picked with probability proportional to their remaining chunks, so the chunks
  drain evenly; if fewer than P identities still have chunks, the batch is topped up with fresh
  chunks of other identities (BoT stops there instead, which makes its epoch length random).
- `VisibleInfraredPKSampler` (CAJ's `IdentitySampler`, mangye16/Cross-Modal-Re-ID-baseline
  `utils.py`): each batch has P distinct identities, each with K visible then K infrared images
  (drawn without replacement when the identity has at least K of that modality). An epoch is
  ceil(max(#visible, #infrared) / (P * K)) batches before sharding (CAJ: int(N / (P * K)) + 1).
  Identities lacking either modality are left out.
"""

import math

import numpy as np
from torch.utils.data import Sampler

RGB, IR = 0, 1
MODALITY_CODES = {"rgb": RGB, "ir": IR}


def _group_by_identity(pids: np.ndarray) -> list[np.ndarray]:
    """Dataset indices of each identity, identities in sorted order."""
    _, inverse, counts = np.unique(pids, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    return np.split(order, np.cumsum(counts)[:-1])


def _draw(indices: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k of `indices`, without replacement when there are enough."""
    return rng.choice(indices, size=k, replace=len(indices) < k)


class _IdentityBatchSampler(Sampler[list[int]]):
    """Shared plumbing: argument checks, epochs and sharding of a deterministic epoch plan."""

    def __init__(self, p: int, k: int, seed: int, rank: int, world_size: int):
        if p < 1 or k < 1:
            raise ValueError(f"p and k must be >= 1, got p={p}, k={k}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank={rank}, "
                             f"world_size={world_size}")
        super().__init__()
        self.p, self.k, self.seed = p, k, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def _check_batches(self, total_batches: int) -> int:
        per_worker = total_batches // self.world_size
        if per_worker == 0:
            raise ValueError(f"an epoch has {total_batches} batches of P={self.p} x K={self.k}, "
                             f"fewer than world_size={self.world_size}")
        return per_worker

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose plan the next iteration yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        plan = self._plan(rng, self.num_batches * self.world_size)
        for batch in plan[self.rank::self.world_size]:
            yield batch.tolist()

    def _plan(self, rng: np.random.Generator, total: int) -> list[np.ndarray]:
        raise NotImplementedError


class PKSampler(_IdentityBatchSampler):
    """P x K batches over `pids` (one identity label per dataset index). See the module doc."""

    def __init__(self, pids, p: int, k: int, *, seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        super().__init__(p, k, seed, rank, world_size)
        self.groups = _group_by_identity(np.asarray(pids).reshape(-1))
        if len(self.groups) < p:
            raise ValueError(f"P={p} identities per batch but only {len(self.groups)} identities")
        num_chunks = sum(max(1, len(group) // k) for group in self.groups)
        self.num_batches = self._check_batches(num_chunks // p)

    def _chunks(self, group: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        if len(group) < self.k:
            return [_draw(group, self.k, rng)]
        shuffled = rng.permutation(group)
        return list(shuffled[: len(group) // self.k * self.k].reshape(-1, self.k))

    def _plan(self, rng: np.random.Generator, total: int) -> list[np.ndarray]:
        chunks = [self._chunks(group, rng) for group in self.groups]
        remaining = np.array([len(c) for c in chunks])
        everyone = np.arange(len(self.groups))
        batches = []
        for _ in range(total):
            available = np.flatnonzero(remaining)
            if len(available) >= self.p:
                weights = remaining[available] / remaining[available].sum()
                chosen = rng.choice(available, size=self.p, replace=False, p=weights)
            else:
                others = rng.choice(np.setdiff1d(everyone, available),
                                    size=self.p - len(available), replace=False)
                chosen = np.concatenate([available, others])
            batch = []
            for identity in chosen:
                if remaining[identity]:
                    remaining[identity] -= 1
                    batch.append(chunks[identity][remaining[identity]])
                else:
                    batch.append(_draw(self.groups[identity], self.k, rng))
            batches.append(np.concatenate(batch))
        return batches


def _modality_codes(modalities) -> np.ndarray:
    values = np.asarray(modalities).reshape(-1)
    if values.dtype.kind in "USO":
        unknown = set(values.tolist()) - set(MODALITY_CODES)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; valid: {list(MODALITY_CODES)}")
        return np.array([MODALITY_CODES[value] for value in values.tolist()], dtype=np.int64)
    if not np.isin(values, (RGB, IR)).all():
        raise ValueError(f"modalities must be {RGB} (rgb) / {IR} (ir) or 'rgb' / 'ir'")
    return values.astype(np.int64)


class VisibleInfraredPKSampler(_IdentityBatchSampler):
    """P identities x (K visible + K infrared) batches. `modalities` per dataset index: 0 / 'rgb'
    or 1 / 'ir'. Batch layout: identity by identity, K visible then K infrared indices."""

    def __init__(self, pids, modalities, p: int, k: int, *, seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        super().__init__(p, k, seed, rank, world_size)
        pids, codes = np.asarray(pids).reshape(-1), _modality_codes(modalities)
        if len(pids) != len(codes):
            raise ValueError(f"{len(pids)} pids but {len(codes)} modalities")
        self.groups = []  # (visible indices, infrared indices) per eligible identity
        for group in _group_by_identity(pids):
            visible, infrared = group[codes[group] == RGB], group[codes[group] == IR]
            if len(visible) and len(infrared):
                self.groups.append((visible, infrared))
        if len(self.groups) < p:
            raise ValueError(f"P={p} identities per batch but only {len(self.groups)} identities "
                             "have both visible and infrared images")
        num_visible = sum(len(visible) for visible, _ in self.groups)
        num_infrared = sum(len(infrared) for _, infrared in self.groups)
        self.num_batches = self._check_batches(
            math.ceil(max(num_visible, num_infrared) / (p * k)))

    def _plan(self, rng: np.random.Generator, total: int) -> list[np.ndarray]:
        batches = []
        for _ in range(total):
            chosen = rng.choice(len(self.groups), size=self.p, replace=False)
            batches.append(np.concatenate([
                np.concatenate([_draw(visible, self.k, rng), _draw(infrared, self.k, rng)])
                for visible, infrared in (self.groups[i] for i in chosen)]))
        return batches
