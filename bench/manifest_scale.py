"""Do planning and resuming scale to DLCR's 2.1M images? Wall time and peak memory of the real
planner and of the committed-manifest reader, from 10K to 2.1M tasks, without generating images.

    python bench/manifest_scale.py --out bench/results/manifest_scale.json

Per size: an `images` table (5,000 ids at 2.1M; fewer at smaller sizes, 42 images and 3 outfits
per id), one clothing prompt per outfit, DLCR with 10 targets per image. `plan` is
`factory.plan.stage.run_plan` (read inputs, plan, validate, write tasks.parquet); then ~71%
of the tasks (1.5M of 2.1M) are committed as `generated` part files of 1,024 rows, as the generate
stage writes them, and `resume` is `pending_tasks` (re-read the plan minus the committed ids).
Each step runs in its own process, so its peak RSS is its own. Targets (ARCHITECTURE.md,
issue 7): under 10 s and 2 GB at 2.1M on 2 cores. Writes JSON and a PNG of both against size.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from factory.atomic import write_text
from factory.generate.manifest import GENERATED_DIR, write_part
from factory.table_io import write_table
from schemas.generation_configs import GenerationJobConfig

SIZES = [10_000, 100_000, 500_000, 2_100_000]
IMAGES_PER_ID, OUTFITS_PER_ID, TARGETS = 42, 3, 10
COMMITTED_SHARE = 1.5 / 2.1
PART_ROWS = 1024


def write_inputs(folder: Path, tasks: int) -> GenerationJobConfig:
    """Tables on disk whose DLCR plan has `tasks` tasks; returns the job config."""
    ids = max(tasks // (IMAGES_PER_ID * TARGETS), 2)
    rows = ids * IMAGES_PER_ID
    pid = np.repeat(np.arange(1, ids + 1), IMAGES_PER_ID)
    outfit = [f"{p}_{k % OUTFITS_PER_ID}" for p, k in zip(pid, np.arange(rows), strict=True)]
    image_ids = [f"{k:016x}" for k in range(rows)]
    write_table(pa.table({
        "image_id": image_ids, "dataset": ["bench"] * rows, "split": ["train"] * rows,
        "role": ["train"] * rows, "pid": pid, "camera": (np.arange(rows) % 6 + 1).astype(np.int32),
        "modality": ["rgb"] * rows, "outfit": outfit,
        "path": [f"/data/bench/{i}.jpg" for i in image_ids],
        "width": np.full(rows, 128, np.int32), "height": np.full(rows, 256, np.int32),
        "origin": ["real"] * rows}), folder / "images.parquet", "images")
    keys = sorted(set(outfit))
    write_table(pa.table({
        "key": keys, "kind": ["clothing"] * len(keys),
        "text": [f"a shirt number {k}" for k in keys],
        "items": [[f"shirt {k}", "jeans"] for k in keys], "backend": ["bench"] * len(keys),
        "model": ["bench"] * len(keys), "error": pa.nulls(len(keys), pa.string())}),
        folder / "prompts.parquet", "prompts")
    (folder / "model").mkdir()
    (folder / "model" / "model_index.json").write_text('{"_class_name": "bench"}')
    (folder / "parsing_masks.parquet").write_bytes(b"masks")
    return GenerationJobConfig(
        method="dlcr", images=folder / "images.parquet", prompts=folder / "prompts.parquet",
        out=folder / "job", model=str(folder / "model"), masks=folder / "parsing_masks.parquet",
        plan={"dlcr": {"targets_per_image": TARGETS}})


def commit_share(config: GenerationJobConfig, share: float) -> int:
    """Commit the first `share` of the planned tasks as `generated` part files (setup, untimed)."""
    import polars as pl

    tasks = pl.read_parquet(Path(config.out) / "tasks.parquet")
    done = tasks.head(int(tasks.height * share))
    for start in range(0, done.height, PART_ROWS):
        rows = [{"task_id": task["task_id"], "image_id": task["task_id"],
                 "path": f"/out/images/{task['task_id']}.jpg", "method": "dlcr",
                 "pid": task["pid"], "modality": task["target_modality"],
                 "outfit": task["target_outfit"], "seed": task["seed"],
                 "prompt": task["prompt"], "model_fingerprint": task["model_fingerprint"],
                 "adapter_fingerprint": None, "timings": [("inpaint", 1.0)],
                 "parents": [task["source_image_id"]], "error": None}
                for task in done.slice(start, PART_ROWS).iter_rows(named=True)]
        write_part(Path(config.out) / GENERATED_DIR, rows, "generated", "task_id")
    return done.height


def measured(step: str, config_path: Path) -> dict:
    """Run one step in a child process; returns its wall seconds and peak RSS."""
    output = subprocess.run([sys.executable, __file__, "--step", step, str(config_path)],
                            check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def run_step(step: str, config_path: Path) -> None:
    from factory.generate.stage import pending_tasks
    from factory.plan.stage import run_plan

    config = GenerationJobConfig.model_validate_json(config_path.read_text())
    start = time.perf_counter()
    if step == "plan":
        count = run_plan(config)["tasks"]
    else:
        pending, count = pending_tasks(config)
        count = {"planned": count, "pending": pending.height}
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(json.dumps({"seconds": seconds, "peak_gib": peak, "count": count}))


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from factory.report.training import save_figure

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    tasks = [r["tasks"] for r in results]
    for step in ("plan", "resume"):
        axes[0].plot(tasks, [r[step]["seconds"] for r in results], marker="o", label=step)
        axes[1].plot(tasks, [r[step]["peak_gib"] for r in results], marker="o", label=step)
    for axis, label, target in ((axes[0], "wall seconds", 10), (axes[1], "peak RSS (GiB)", 2)):
        axis.axhline(target, color="grey", linestyle="--", label="target")
        axis.set_xscale("log")
        axis.set_xlabel("tasks")
        axis.set_ylabel(label)
        axis.legend()
    save_figure(figure, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/manifest_scale.json"))
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    parser.add_argument("--step", choices=["plan", "resume"], help=argparse.SUPPRESS)
    parser.add_argument("config", type=Path, nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        run_step(args.step, args.config)
        return 0
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as work:
            config = write_inputs(Path(work), size)
            config_path = Path(work) / "job.json"
            config_path.write_text(config.model_dump_json())
            planned = measured("plan", config_path)
            committed = commit_share(config, COMMITTED_SHARE)
            resumed = measured("resume", config_path)
            results.append({"tasks": planned["count"], "committed": committed,
                            "plan": planned, "resume": resumed})
            print(json.dumps(results[-1]))
    plot(results, args.out.with_suffix(".png"))
    summary = {"what": "DLCR plan and resume (plan minus committed ids), one process each",
               "targets": {"seconds": 10, "peak_gib": 2}, "results": results}
    write_text(args.out, json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
