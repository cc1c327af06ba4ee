"""Configuration of the describe stage: clothing items (DLCR) and identity captions (LPE).

The stage turns an `images` table into a `prompts` table in two steps: a vision-language model
answers questions about each image (the per-image `descriptions` table), then an LLM extracts
clothing items per outfit and writes a caption per identity. Its vLLM backends run in the
describe stage's own environment (ARCHITECTURE.md); `attributes` needs no model at all.
"""

from typing import Any, Literal

from pydantic import Field, model_validator

from schemas.config_base import StoragePath, StrictModel

DLCR_LLM = "meta-llama/Llama-2-7b-chat-hf"
DLCR_VLM = "llava-hf/llava-1.5-7b-hf"


class DescribeConfig(StrictModel):
    """Describe outfits and identities: the `prompts` table the planner reads."""

    backend: Literal["attributes", "vllm", "http"] = "attributes"
    """Who writes the prompts from the per-image descriptions: `attributes` copies them (the
    dataset's own clothing items; offline), `vllm` runs an LLM on Ray Data workers through
    `ray.data.llm`, `http` asks any OpenAI-compatible chat-completions server."""
    vlm_backend: Literal["attributes", "vllm", "http", "transformers"] = "attributes"
    """Who describes each image: `attributes` reads the dataset's own `descriptions` table
    (offline; the toy world writes one), `vllm` runs the VLM on Ray Data workers through
    `ray.data.llm`, `http` asks an OpenAI-compatible server (images as data URLs),
    `transformers` runs the VLM folder under transformers' `generate()` (no vLLM needed)."""
    vlm: str = DLCR_VLM
    """Vision-language model that answers "What clothes is the person wearing?" per image (and
    describes a few images of each identity for its caption): a local folder or hub id (`vllm`,
    `transformers`), or the model name the server serves (`http`). DLCR uses LLaVA; any VLM
    the backend runs will do (e.g. Qwen/Qwen2.5-VL-3B-Instruct)."""
    vlm_revision: str | None = None
    """Hub revision (commit or tag) of `vlm`, passed to the loader and recorded in each answer's
    lineage; null: whatever the folder, cache or server holds (recorded as null)."""
    vlm_server_url: str = "http://127.0.0.1:8000/v1/chat/completions"
    """Chat-completions endpoint of the `http` VLM backend."""
    vlm_temperature: float = Field(0.2, ge=0.0, le=2.0)
    """The VLM's sampling temperature (DLCR: 0.2)."""
    vlm_max_tokens: int = Field(96, ge=8)
    """Longest VLM answer in tokens."""
    max_answer_chars: int = Field(300, ge=16)
    """Longest VLM answer in characters: a longer JSON answer is rejected and asked again, a
    longer plain-text one (`transformers`) is cut at a word."""
    answers: StoragePath | None = None
    """Per-image `descriptions` table the VLM writes (committed every 256 answers and after
    each round); a re-run asks only the images not in it. Null: beside the prompts table, as
    `<prompts stem>.descriptions.parquet`."""
    kinds: list[Literal["clothing", "caption"]] = ["clothing", "caption"]
    """Prompts to make: per-outfit clothing items (DLCR) and per-identity captions (LPE)."""
    splits: list[Literal["train", "val", "test"]] = ["train"]
    """Splits of the `images` table whose outfits and identities are described."""
    descriptions: StoragePath | None = None
    """The dataset's own per-image descriptions (a `descriptions` table: identity_text,
    outfit_text, items), read when `vlm_backend` is `attributes` instead of asking a VLM."""
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
    images_per_identity: int = Field(4, ge=1, le=64)
    """Images of each identity described for its caption (LPE): a VLM describes this many of
    its images (a seeded choice), and the caption request summarises as many descriptions."""
    temperature: float = Field(0.6, ge=0.0, le=2.0)
    """The LLM's sampling temperature (DLCR: 0.6)."""
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    """The LLM's nucleus sampling mass (DLCR: 0.9)."""
    max_tokens: int = Field(128, ge=8)
    """Longest reply in tokens."""
    seed: int = 0
    """Sampling seed; each request adds a hash of its key (the image and question for the VLM),
    so re-runs ask the same questions with the same seeds."""
    retries: int = Field(2, ge=0, le=10)
    """Times a rejected reply (bad JSON, empty or absurd items, an empty VLM answer) is asked
    again, with a new seed, before the row is recorded as failed."""
    max_items: int = Field(12, ge=1)
    """Most clothing items a reply may list; more is absurd and rejected."""
    max_item_chars: int = Field(64, ge=4)
    """Longest clothing item in characters; longer is absurd and rejected."""
    max_caption_chars: int = Field(300, ge=16)
    """Longest caption in characters."""
    batch_size: int = Field(16, ge=1)
    """Rows per batch sent to an engine, server or transformers VLM."""
    concurrency: int = Field(1, ge=1)
    """vLLM engine replicas (`vllm`), concurrent request workers (`http`) or transformers
    VLM actors."""
    gpus_per_engine: float = Field(1.0, ge=0.0)
    """GPUs each vLLM engine (or transformers VLM actor) asks Ray for; 0 runs on CPU (vLLM's
    CPU build; tests, laptops)."""
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

    @model_validator(mode="after")
    def _copied_items_need_the_datasets_own(self):
        if self.backend == "attributes" and self.vlm_backend != "attributes" \
                and "clothing" in self.kinds:
            raise ValueError(
                f"backend 'attributes' copies the dataset's own clothing items, and a VLM's "
                f"answers (vlm_backend {self.vlm_backend!r}) have none: set `backend` to an LLM "
                "(vllm, http) to extract them, or `vlm_backend: attributes`")
        return self
