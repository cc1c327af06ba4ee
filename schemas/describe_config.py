"""Configuration of the describe stage: clothing items (DLCR) and identity captions (LPE).

The stage turns an `images` table into a `prompts` table. Its LLM backends run in the describe
stage's own environment (ARCHITECTURE.md); the `attributes` backend needs no model at all.
"""

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from schemas.config_base import StrictModel

DLCR_LLM = "meta-llama/Llama-2-7b-chat-hf"


class DescribeConfig(StrictModel):
    """Describe outfits and identities: the `prompts` table the planner reads."""

    backend: Literal["attributes", "vllm", "http"] = "attributes"
    """Who writes the text: `attributes` copies the dataset's own descriptions (its
    `descriptions` table; offline), `vllm` runs an LLM on Ray Data workers through `ray.data.llm`,
    `http` asks any OpenAI-compatible chat-completions server."""
    kinds: list[Literal["clothing", "caption"]] = ["clothing", "caption"]
    """Prompts to make: per-outfit clothing items (DLCR) and per-identity captions (LPE)."""
    splits: list[Literal["train", "val", "test"]] = ["train"]
    """Splits of the `images` table whose outfits and identities are described."""
    descriptions: Path | None = None
    """Per-image descriptions of the dataset (a `descriptions` table: identity_text,
    outfit_text, items), standing for DLCR's per-image answers: every backend reads them (the
    `attributes` one copies them), so a job without them stops before any work."""
    redo_failed: bool = False
    """Ask again for keys whose row in the output table is a failed one (by default a re-run
    skips every key already in the table)."""
    model: str = DLCR_LLM
    """LLM that extracts clothing items and writes captions: a local folder or hub id (`vllm`),
    or the model name the server serves (`http`). DLCR uses Llama-2-7b-chat."""
    server_url: str = "http://127.0.0.1:8000/v1/chat/completions"
    """Chat-completions endpoint of the `http` backend."""
    api_key_env: str | None = None
    """Environment variable holding the `http` server's API key (the key never sits in a
    config); null: no Authorization header."""
    answers_per_outfit: int = Field(4, ge=1, le=64)
    """Per-image answers to "What clothes is the person wearing?" joined into one extraction
    request per (identity, outfit); DLCR joins all of them, we cap them to fit the context."""
    descriptions_per_identity: int = Field(4, ge=1, le=64)
    """Per-image descriptions summarised into one caption per identity (LPE)."""
    temperature: float = Field(0.6, ge=0.0, le=2.0)
    """Sampling temperature (DLCR: 0.6)."""
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    """Nucleus sampling mass (DLCR: 0.9)."""
    max_tokens: int = Field(128, ge=8)
    """Longest reply in tokens."""
    seed: int = 0
    """Sampling seed; each request adds a hash of its key, so re-runs ask the same questions
    with the same seeds."""
    retries: int = Field(2, ge=0, le=10)
    """Times a rejected reply (bad JSON, empty or absurd items) is asked again, with a new
    seed, before the row is recorded as failed."""
    max_items: int = Field(12, ge=1)
    """Most clothing items a reply may list; more is absurd and rejected."""
    max_item_chars: int = Field(64, ge=4)
    """Longest clothing item in characters; longer is absurd and rejected."""
    max_caption_chars: int = Field(300, ge=16)
    """Longest caption in characters."""
    batch_size: int = Field(16, ge=1)
    """Rows per batch sent to an engine or server."""
    concurrency: int = Field(1, ge=1)
    """vLLM engine replicas (`vllm`) or concurrent request workers (`http`)."""
    gpus_per_engine: float = Field(1.0, ge=0.0)
    """GPUs each vLLM engine asks Ray for; 0 runs vLLM's CPU build (tests, laptops)."""
    cpus_per_engine: float = Field(0.5, gt=0.0)
    """CPUs reserved for each vLLM engine's placement group when `gpus_per_engine` is 0."""
    cpus_per_stage: float = Field(0.25, gt=0.0)
    """CPUs each light stage (prompting, tokenising, parsing) asks for; fractions keep a
    two-core laptop from deadlocking."""
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    """vLLM's share of accelerator memory (on CPU: its share of RAM for the KV cache)."""
    max_model_len: int = Field(2048, ge=64)
    """Context length the vLLM engine is built for."""
    structured_output: bool = True
    """Ask for the reply's JSON schema (vLLM guided decoding, OpenAI `response_format`); off for
    servers without structured output. Replies are checked either way."""
    structured_output_backend: Literal["guidance", "xgrammar", "outlines", "auto"] = "guidance"
    """vLLM's guided-decoding backend for the JSON schema; `guidance` keeps control characters
    out of strings."""
    engine_kwargs: dict[str, Any] = {}
    """Extra vLLM engine arguments (e.g. `tensor_parallel_size`, `dtype`); they win over the
    fields above."""
    python: str | None = None
    """Python of the describe environment (e.g. `.venv-describe/bin/python`) that runs the LLM
    backends when the calling environment has no vLLM; null: the `DESCRIBE_PYTHON` environment
    variable, then `.venv-describe/bin/python`."""
