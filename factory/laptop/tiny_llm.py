"""A tiny randomly initialised Llama chat model, built locally: the describe stage's smoke LLM.

It stands in for Llama-2-7b-chat on laptops and in tests (ARCHITECTURE.md): the same
architecture, a Llama-2 chat template and a byte-level BPE tokenizer trained on a fixed corpus, so
vLLM's CPU build and any OpenAI-compatible server load it like the real model. Its replies are
noise; under structured output they still fit the JSON schema. Nothing is downloaded, and the
same seed gives the same files.
"""

import os
from pathlib import Path

from factory.describe.replies import GARMENTS, PERSON_WORDS
from factory.laptop.bpe import train_byte_level_bpe

HIDDEN = 128
HEADS = 4  # head size 32: one vLLM's CPU attention supports
LAYERS = 2
VOCAB_SIZE = 600
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
# Llama-2's chat format: system prompt folded into the first user turn.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}[INST] <<SYS>>\n{{ message['content'] }}\n<</SYS>>\n\n"
    "{% elif message['role'] == 'user' %}{% if loop.index0 == 0 or messages[loop.index0 - 1]"
    "['role'] != 'system' %}[INST] {% endif %}{{ message['content'] }} [/INST]"
    "{% else %} {{ message['content'] }} {{ eos_token }}{% endif %}{% endfor %}"
)
# vLLM's CPU build: no torch.compile warm-up (minutes on two cores), float32 as built, and no
# chunked prefill: a seeded request whose prefill is split crashes its CPU sampler ("CPU
# Generator does not use offset"), so every prefill runs whole.
SMOKE_ENGINE_KWARGS = {"enforce_eager": True, "dtype": "float32",
                       "enable_chunked_prefill": False, "max_num_batched_tokens": 8192}
CORPUS_WORDS = ("the person is wearing a with and of in on extract clothing items from following "
                "text what clothes reply json caption describe short long sleeved black white red "
                "blue green yellow grey brown orange purple pink cotton denim wool leather "
                "synthetic striped checked plain tall hair skin dark light average height build")


def _corpus() -> list[str]:
    """Fixed training text: the words of the stage's prompts and replies, and JSON punctuation."""
    words = sorted(GARMENTS | PERSON_WORDS) + CORPUS_WORDS.split()
    lines = [" ".join(words[start:start + 8]) for start in range(0, len(words), 8)]
    return lines + ['{"items": ["red shirt", "blue trousers"]}', '{"caption": "a tall person"}']


def build_tokenizer():
    """A byte-level BPE with Llama's special tokens and chat template (deterministic)."""
    from transformers import PreTrainedTokenizerFast

    backend = train_byte_level_bpe(_corpus(), vocab_size=VOCAB_SIZE,
                                   special_tokens=SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>", pad_token="</s>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_llm(folder: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write the tiny chat model (weights, config, tokenizer) into `folder`; returns it.

    An existing complete folder is kept as it is, so callers can build it once and reuse it.
    """
    folder = Path(folder)
    if (folder / "config.json").exists() and (folder / "tokenizer.json").exists():
        return folder
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=HIDDEN,
                         intermediate_size=2 * HIDDEN, num_hidden_layers=LAYERS,
                         num_attention_heads=HEADS, num_key_value_heads=HEADS,
                         max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=False, dtype="float32")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    staging = folder.with_name(f".{folder.name}.partial")
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.replace(folder)  # complete or absent: a crash leaves only the staging folder
    return folder


# `DescribeConfig` fields of an LLM run on vLLM's CPU build, small enough for a laptop or a test.
CPU_ENGINE_SETTINGS = {"gpus_per_engine": 0.0, "gpu_memory_utilization": 0.1,
                       "max_model_len": 1024, "max_tokens": 384,
                       "engine_kwargs": SMOKE_ENGINE_KWARGS}


def smoke_settings(folder: str | os.PathLike) -> dict:
    """`DescribeConfig` fields of a smoke run: the tiny LLM (built into `folder` once) on vLLM's
    CPU build."""
    return {"model": str(build_tiny_llm(folder)), **CPU_ENGINE_SETTINGS}
