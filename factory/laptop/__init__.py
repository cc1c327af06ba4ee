"""Everything that exists only so a laptop (or a test) can run the factory without a GPU or a hub:

- `toyworld`: the procedural pedestrian world, written in the real datasets' layouts;
- `toy_sd`: the toy Stable Diffusion (tiny CLIP text encoder, tokenizer, VAE, UNets) trained on
  the toy world, and `judge`, its prompt-following check;
- `tiny_llm`: the tiny random Llama the describe stage's LLM backends smoke-test with;
- `stand_ins`: tiny random stand-ins of every real model (SD-1.5 text-to-image and inpainting,
  SegFormer parsers with ATR and LIP labels, the VLM, the LLM) and the `--set` lines that swap
  them into a job (`factory models tiny`);
- `toy_jobs` and `smoke`: generation jobs on the toy world (in a folder or a bucket), and the
  smoke presets;
- `s3_server`: a local S3 server standing in for a bucket (tests and the storage bench).

No module outside this package imports it, except the demo, the command-line wiring and tests
(`tests/test_layout.py` checks it on the import graph).
"""
