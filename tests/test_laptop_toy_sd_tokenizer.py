"""The locally built CLIP tokenizer matches SD-1.5's ids and is byte-for-byte reproducible."""

import pytest

from factory.laptop.toy_sd.tokenizer import (
    VOCAB_SIZE,
    build_clip_tokenizer,
    bytes_to_unicode,
    clip_vocab_and_merges,
)

FILES = ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json")


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip-tokenizer")
    return folder, build_clip_tokenizer(folder)


def test_bytes_to_unicode_is_a_bijection_over_bytes():
    mapping = bytes_to_unicode()
    assert sorted(mapping) == list(range(256))
    assert len(set(mapping.values())) == 256
    assert mapping[ord("a")] == "a"


def test_vocab_has_clip_size_and_special_tokens():
    vocab, merges = clip_vocab_and_merges()
    assert len(vocab) == VOCAB_SIZE
    assert len(merges) == 48894
    assert vocab["<|startoftext|>"] == 49406
    assert vocab["<|endoftext|>"] == 49407


def test_known_sd15_ids(tokenizer_folder):
    _, tokenizer = tokenizer_folder
    assert tokenizer("a red shirt").input_ids == [49406, 320, 736, 2523, 49407]
    assert tokenizer.bos_token_id == 49406
    assert tokenizer.eos_token_id == 49407
    assert tokenizer.pad_token_id == 49407
    assert tokenizer.model_max_length == 77
    assert len(tokenizer) == VOCAB_SIZE


def test_lowercases_pads_and_decodes(tokenizer_folder):
    _, tokenizer = tokenizer_folder
    ids = tokenizer("A Red SHIRT", padding="max_length", max_length=77, truncation=True).input_ids
    assert len(ids) == 77
    assert ids[:5] == [49406, 320, 736, 2523, 49407]
    assert set(ids[5:]) == {49407}
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a red shirt"


def test_two_builds_write_identical_files(tokenizer_folder, tmp_path):
    first, _ = tokenizer_folder
    build_clip_tokenizer(tmp_path)
    for name in FILES:
        assert (first / name).read_bytes() == (tmp_path / name).read_bytes(), name
