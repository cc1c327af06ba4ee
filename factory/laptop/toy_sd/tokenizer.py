"""The CLIP tokenizer of Stable Diffusion 1.5, built locally from the shipped BPE merges.

`vocab/bpe_simple_vocab_16e6.txt.gz` is OpenAI CLIP's merges file (MIT licence), byte-identical to
the copy in the `open-clip-torch` wheel. The vocabulary is derived from it exactly as CLIP's
`SimpleTokenizer` does, so ids match SD-1.5's tokenizer (49,408 tokens; "a" -> 320, bos 49406,
eos 49407). Nothing is downloaded and the output is a pure function of the shipped file.
"""

import gzip
import json
import os
from functools import lru_cache
from pathlib import Path

BPE_PATH = Path(__file__).parent / "vocab" / "bpe_simple_vocab_16e6.txt.gz"
# CLIP keeps merges 1..48894 of the file (line 0 is a version header): 49152 - 256 - 2 of them.
MERGE_COUNT = 49152 - 256 - 2
VOCAB_SIZE = 49408
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
MODEL_MAX_LENGTH = 77


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible map from the 256 byte values to printable unicode characters."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    codes = printable[:]
    shifted = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + shifted)
            shifted += 1
    return dict(zip(printable, (chr(code) for code in codes), strict=True))


@lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(token -> id, merges in rank order) of CLIP's BPE, as in CLIP's `SimpleTokenizer`."""
    lines = gzip.decompress(BPE_PATH.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:MERGE_COUNT + 1]]
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [char + "</w>" for char in byte_chars]
    tokens += ["".join(merge) for merge in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    if len(tokens) != VOCAB_SIZE:
        raise ValueError(f"{BPE_PATH}: built {len(tokens)} tokens, expected {VOCAB_SIZE}")
    return {token: index for index, token in enumerate(tokens)}, merges


def write_clip_tokenizer_files(folder: str | os.PathLike) -> Path:
    """Write `vocab.json` and `merges.txt` (the slow-tokenizer files) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = clip_vocab_and_merges()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merge_lines = ["#version: 0.2"] + [" ".join(merge) for merge in merges]
    (folder / "merges.txt").write_text("\n".join(merge_lines) + "\n", encoding="utf-8")
    return folder


def clip_tokenizer():
    """SD-1.5's CLIP tokenizer, in memory.

    Built from a vocab dict and merges list: transformers 5 ignores `vocab_file=` kwargs.
    """
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    return CLIPTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=MODEL_MAX_LENGTH)


def build_clip_tokenizer(folder: str | os.PathLike):
    """Save SD-1.5's CLIP tokenizer into `folder` and return it reloaded from there, so the
    returned tokenizer is the one on disk (also writes the slow-tokenizer files)."""
    from transformers import CLIPTokenizer

    folder = Path(folder)
    clip_tokenizer().save_pretrained(folder)
    write_clip_tokenizer_files(folder)
    return CLIPTokenizer.from_pretrained(folder)
