from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from factory.reid.sampler import PKSampler, VisibleInfraredPKSampler

# 10 identities with 2 to 20 images each.
PIDS = np.repeat(np.arange(10), [2, 5, 8, 20, 4, 4, 9, 13, 3, 6])


def check_pk(batch, pids, p, k):
    counts = Counter(pids[batch].tolist())
    assert len(batch) == p * k and len(counts) == p and set(counts.values()) == {k}


def test_batches_are_p_identities_times_k_images():
    sampler = PKSampler(PIDS, p=3, k=4, seed=0)
    batches = list(sampler)
    num_chunks = sum(max(1, n // 4) for n in Counter(PIDS.tolist()).values())
    assert len(batches) == len(sampler) == num_chunks // 3
    for batch in batches:
        check_pk(batch, PIDS, 3, 4)
    small = np.flatnonzero(PIDS == 0)  # two images, drawn with replacement to fill K = 4
    for batch in batches:
        drawn = [index for index in batch if index in small]
        assert not drawn or (len(drawn) == 4 and set(drawn) <= set(small.tolist()))


def test_an_epoch_visits_most_images_once():
    sampler = PKSampler(PIDS, p=3, k=4, seed=0)
    seen = Counter(index for batch in sampler for index in batch)
    large = np.flatnonzero(PIDS == 3)  # 20 images = 5 chunks
    assert sum(seen[index] for index in large.tolist()) >= 12
    assert max(seen[index] for index in large.tolist()) <= 2


def test_same_seed_and_epoch_give_the_same_batches():
    first, second = PKSampler(PIDS, p=3, k=4, seed=7), PKSampler(PIDS, p=3, k=4, seed=7)
    assert list(first) == list(second) == list(first)
    second.set_epoch(1)
    assert list(second) != list(first)
    assert list(PKSampler(PIDS, p=3, k=4, seed=8)) != list(first)


def test_workers_get_disjoint_shards_of_the_same_plan():
    pids = np.repeat(np.arange(16), 4)  # one chunk per identity: every image exactly once
    whole = list(PKSampler(pids, p=2, k=4, seed=3))
    shards = [list(PKSampler(pids, p=2, k=4, seed=3, rank=rank, world_size=4))
              for rank in range(4)]
    assert [len(shard) for shard in shards] == [2, 2, 2, 2]
    assert [shard[0] for shard in shards] == whole[:4]
    indices = [index for shard in shards for batch in shard for index in batch]
    assert sorted(indices) == list(range(64))


def test_uneven_shards_are_cut_to_the_same_length():
    sampler = PKSampler(PIDS, p=3, k=4, seed=0)
    shards = [PKSampler(PIDS, p=3, k=4, seed=0, rank=rank, world_size=3) for rank in range(3)]
    assert all(len(shard) == len(sampler) // 3 == len(list(shard)) for shard in shards)


def test_works_as_a_dataloader_batch_sampler():
    dataset = TensorDataset(torch.arange(len(PIDS)), torch.as_tensor(PIDS))
    sampler = PKSampler(PIDS, p=2, k=4, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler)
    assert len(loader) == len(sampler)
    for (indices, pids), batch in zip(loader, sampler, strict=True):
        assert indices.tolist() == batch
        assert len(set(pids.tolist())) == 2


def test_invalid_arguments_are_named():
    with pytest.raises(ValueError, match="only 10 identities"):
        PKSampler(PIDS, p=11, k=4)
    with pytest.raises(ValueError, match="rank"):
        PKSampler(PIDS, p=2, k=4, rank=2, world_size=2)
    with pytest.raises(ValueError, match="world_size=100"):
        PKSampler(PIDS, p=2, k=4, world_size=100)


# 6 identities; identity 5 has no infrared image.
VI_PIDS = np.repeat(np.arange(6), 6)
VI_MODALITIES = np.tile(["rgb", "rgb", "rgb", "rgb", "ir", "ir"], 6)
VI_MODALITIES[VI_PIDS == 5] = "rgb"


def test_visible_infrared_batches_have_k_of_each_modality_per_identity():
    sampler = VisibleInfraredPKSampler(VI_PIDS, VI_MODALITIES, p=2, k=3, seed=0)
    visible = sum(1 for pid, modality in zip(VI_PIDS, VI_MODALITIES, strict=True)
                  if modality == "rgb" and pid != 5)
    batches = list(sampler)
    assert len(batches) == len(sampler) == -(-visible // (2 * 3))
    for batch in batches:
        assert len(batch) == 12
        for group in (batch[:6], batch[6:]):
            assert len(set(VI_PIDS[group].tolist())) == 1 and VI_PIDS[group[0]] != 5
            assert VI_MODALITIES[group].tolist() == ["rgb"] * 3 + ["ir"] * 3
            assert len(set(group[:3])) == 3  # four visible images: drawn without replacement
        assert VI_PIDS[batch[0]] != VI_PIDS[batch[6]]


def test_visible_infrared_sampler_is_deterministic_and_shardable():
    codes = (VI_MODALITIES == "ir").astype(int)
    whole = list(VisibleInfraredPKSampler(VI_PIDS, codes, p=2, k=2, seed=1))
    assert whole == list(VisibleInfraredPKSampler(VI_PIDS, VI_MODALITIES, p=2, k=2, seed=1))
    shards = [list(VisibleInfraredPKSampler(VI_PIDS, codes, p=2, k=2, seed=1, rank=rank,
                                            world_size=2)) for rank in range(2)]
    assert shards[0] == whole[0::2][:len(shards[0])] and shards[1] == whole[1::2][:len(shards[1])]
    assert len(shards[0]) == len(shards[1]) == len(whole) // 2


def test_visible_infrared_sampler_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown modalities"):
        VisibleInfraredPKSampler(VI_PIDS, np.full(36, "nir"), p=2, k=2)
    with pytest.raises(ValueError, match="both visible and infrared"):
        VisibleInfraredPKSampler(VI_PIDS, VI_MODALITIES, p=6, k=2)
