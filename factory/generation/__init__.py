"""Generation (DESIGN sections 2-4 and 8): plan -> generate -> filter, for DLCR, DiVE and
Diffusion-ReID, on Ray Data.

- `plan`: the deterministic `tasks` table (polars, vectorised; `hashing` makes the ids);
- `generate`: pending tasks through a method's actor pool (`dlcr`, `dive`, `diffusion_reid`: one
  class each, sharing `task_batch`; DLCR's parser role in `masks`), written by `manifest`;
- `filter`: ReID confidence and identity similarity of every generated image;
- `job`: the four stages in a row (describe comes from `factory.describe`), and the smoke job.
Importing this package loads no heavy library.
"""
