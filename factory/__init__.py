"""reid-factory: synthetic person re-identification data with diffusion models, on Ray.

One package per pipeline stage, in the order data flows (ARCHITECTURE.md has the graph):
`ingest` (dataset readers -> `images`), `describe` (-> `prompts`), `adapt` (identity tokens +
LoRA), `plan` (-> `tasks`), `generate` (-> images + `generated`), `filter` (-> `scores`), `train`
(Ray Train / Ray Tune), `evaluate` (protocols, ranking), `export`, `report`; `job` runs describe
to filter in a row. Model roles: `reid`, `diffusion` (loader, adapters), `parsing`. The method
table is `methods`. Everything that exists only so a laptop can run the factory is in `laptop`;
`demo` is the whole factory on it. Importing `factory` loads no heavy library.
"""
