"""The describe stage (ARCHITECTURE.md): clothing items per outfit (DLCR) and a caption per
identity (Diffusion-ReID's LPE), written to the `prompts` table.

Entry point: `run_describe(config, images_table, out_prompts_table)`. Backends: `attributes` (the
dataset's own descriptions; offline), `vllm` (`ray.data.llm` with vLLM engines) and `http` (any
OpenAI-compatible server). Modules: `requests` (what is asked), `llm` (asking), `replies` (the
JSON schemas and the check every reply passes), `stage` (retries, failed rows, resume),
`environment` (the stage's own Python for vLLM), `tiny_llm` (the smoke model).
"""

from factory.describe.stage import run_describe

__all__ = ["run_describe"]
