"""The describe stage (ARCHITECTURE.md): a vision-language model's answers about each image (the
per-image `descriptions` table), then clothing items per outfit (DLCR) and a caption per identity
(Diffusion-ReID's LPE) from an LLM, written to the `prompts` table.

Entry point: `run_describe(config, images_table, out_prompts_table)`. VLM backends: `vllm`,
`http`, `transformers`, and `attributes` (the dataset's own descriptions; offline); LLM backends:
`attributes`, `vllm` (`ray.data.llm` with vLLM engines) and `http` (any OpenAI-compatible
server). Modules: `images` (the per-image step: questions, answers table, resume), `vlm` (asking
the VLM), `requests` (what the LLM is asked), `llm` (asking it), `replies` (the JSON schemas and
the check every reply and answer passes), `stage` (retries, failed rows, resume),
`environment` (the stage's own Python for vLLM). The smoke models are in `factory/laptop/`.
"""

from factory.describe.stage import run_describe

__all__ = ["run_describe"]
