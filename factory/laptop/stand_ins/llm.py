"""The describe LLM's stand-in (Llama-2-7b-chat in DLCR): the tiny random Llama of
`factory.laptop.tiny_llm`, built into the stand-ins folder. Its smoke engine settings stay there
beside it (`smoke_settings`), where the describe command and tests take them from."""

import os
from pathlib import Path

from factory.laptop.tiny_llm import build_tiny_llm


def build_llm_stand_in(out: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write the tiny chat model into `out` (a fresh folder); returns it."""
    return build_tiny_llm(out, seed=seed)
