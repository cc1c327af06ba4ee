"""Benchmark: the generate stage against a bare diffusers loop, same model, tasks and batch size.

The factory side is `run_generate` on a planned DiVE job (text-to-image with the toy SD): a Ray
Data actor pool of one actor running the pipeline with seeded generators per image, then write
tasks that JPEG-encode the images, write them (temp name, then rename) into sharded folders and
commit per-block manifests. The bare side is what a user would write: load the pipeline, loop
over the same prompts and seeds in batches of the same size, save each image as a JPEG. Both use
the same number of CPU threads (the actor's `cpus_per_actor`).

The ratio compares steady-state throughput, as a 2-million-image run sees it: the slope of images
done against time after the first batch (bare: when each batch's images are saved; factory: when
each manifest part is committed), so one-off costs (a worker process, imports, pipeline load)
are not counted; the JSON also gives the end-to-end times and the actor's busy share (from the
manifest's timings). The factory encodes and writes on another core while its actor generates
(as on a GPU node); the bare loop saves in between batches. Ray's workers run at this process's
niceness, as the bare loop does (with Ray's default, 15, a machine shared with other work would
slow the actor alone). Sides alternate over `--repeats` rounds and the best of each counts (the
machine may be shared); the median of each round's ratio (its two sides back to back) must meet
the target too. Issue 18 asks for a ratio of at
least 1.0 (DESIGN.md's first target was 0.95).

    python bench/generate_throughput.py --out bench/results/generate_throughput.json
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.0
WORKER_NICENESS = "RAY_worker_niceness"  # the raylet's setting (default 15)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/generate_throughput.json"))
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the toy world, model and images (default: a temp dir)")
    parser.add_argument("--identities", type=int, default=4)
    parser.add_argument("--images-per-target", type=int, default=8,
                        help="images per identity and modality (tasks = ids x 2 x this)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each side")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--worker-niceness", type=int, default=None,
                        help="niceness of Ray's workers (default: this process's, as the bare "
                             "loop runs; Ray's own default is 15)")
    return parser.parse_args(argv)


def make_job(args, work: Path):
    """A planned DiVE job on a toy SYSU-MM01 world with the smoke toy SD."""
    from factory.describe import run_describe
    from factory.ingest.stage import ingest
    from factory.laptop.toy_sd.build import build_toy_sd, toy_sd_path
    from factory.laptop.toyworld.layouts import render_layout
    from factory.laptop.toyworld.writer import world_tables
    from factory.plan.stage import run_plan
    from schemas.configs import ToyWorldConfig
    from schemas.describe_config import DescribeConfig
    from schemas.generation_configs import GenerationJobConfig

    root = render_layout(ToyWorldConfig(layout="sysu_mm01", train_identities=args.identities,
                                        test_identities=2, workers=1), work / "sysu_mm01")
    images = work / "images.parquet"
    ingest("sysu_mm01", root, images, progress=False)
    describe = DescribeConfig(kinds=["caption"], descriptions=world_tables(root)["descriptions"])
    run_describe(describe, images, work / "prompts.parquet")
    toy_sd = build_toy_sd(work / "toy-sd", size="smoke", progress=False)
    config = GenerationJobConfig(
        method="dive", images=images, prompts=work / "prompts.parquet", out=work / "job",
        model=str(toy_sd_path(toy_sd, "text2img")), describe=describe,
        plan={"recipe": {"height": args.height, "width": args.width, "steps": args.steps},
              "dive": {"images_per_target": args.images_per_target}},
        generate={"batch_size": args.batch_size, "cpus_per_actor": args.threads,
                  "manifest_rows": args.batch_size})
    run_plan(config)
    return config


def bare_loop(config, tasks, out: Path) -> dict:
    """The plain diffusers loop: load, generate in batches, save JPEGs; end-to-end seconds and
    steady images per second (after the first batch)."""
    import torch

    from factory.diffusion.loader import load_pipeline

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    recipe, size = config.plan.recipe, config.generate.batch_size
    start = time.perf_counter()
    pipeline = load_pipeline("text2img", config.model, scheduler=recipe.scheduler)
    rows, done = tasks.to_dicts(), []
    for first in range(0, len(rows), size):
        batch = rows[first:first + size]
        images = pipeline(
            prompt=[row["prompt"] for row in batch],
            negative_prompt=[row["negative_prompt"] for row in batch],
            height=recipe.height, width=recipe.width, num_inference_steps=recipe.steps,
            guidance_scale=recipe.guidance,
            generator=[torch.Generator().manual_seed(row["seed"]) for row in batch]).images
        for row, image in zip(batch, images, strict=True):
            image.save(out / f"{row['task_id']}.jpg", quality=config.generate.jpeg_quality)
        done.append((time.perf_counter(), len(batch)))
    return {"seconds": time.perf_counter() - start, "steady": steady_rate(done)}


def factory_run(config) -> dict:
    """`run_generate` from an empty output folder (the plan kept): end-to-end seconds, steady
    images per second (between the first and the last committed part) and the actor's busy
    share."""
    import pyarrow.parquet as pq

    from factory.generate.manifest import (
        FAILED_DIR,
        GENERATED_DIR,
        IMAGES_DIR,
        actor_busy_share,
        part_files,
    )
    from factory.generate.stage import run_generate

    for folder in (IMAGES_DIR, GENERATED_DIR, FAILED_DIR):
        shutil.rmtree(Path(config.out) / folder, ignore_errors=True)
    start = time.perf_counter()
    summary = run_generate(config)
    seconds = time.perf_counter() - start
    if summary["committed"] != summary["planned"]:
        raise RuntimeError(f"factory run committed {summary['committed']} of "
                           f"{summary['planned']} tasks")
    parts = [(os.stat(path).st_mtime, pq.read_metadata(path).num_rows)
             for path in part_files(Path(config.out) / GENERATED_DIR)]
    return {"seconds": seconds, "steady": steady_rate(parts),
            "actor_busy_share": actor_busy_share(Path(config.out))}


def steady_rate(done: list[tuple[float, int]]) -> float:
    """Images per second: the least-squares slope of images done against time, (time, images)
    of each batch or part, the first left out (it carries the warm-up)."""
    import numpy as np

    done = sorted(done)[1:]
    if len(done) < 3:
        raise RuntimeError("too few batches to time a steady state; plan more tasks")
    times = np.array([t for t, _ in done])
    return float(np.polyfit(times - times[0], np.cumsum([n for _, n in done]), 1)[0])


def start_ray(threads: int, worker_niceness: int | None) -> None:
    """A local Ray for one actor of `threads` CPUs, plus room for the light write tasks and the
    driver, its workers at `worker_niceness` (None: this process's)."""
    import ray

    # Ray starts its workers at niceness 15 so that its own daemons win the CPU; on a machine
    # shared with other work that alone would slow the actor against a loop at 0.
    os.environ[WORKER_NICENESS] = str(os.getpriority(os.PRIO_PROCESS, 0)
                                      if worker_niceness is None else worker_niceness)
    ray.init(num_cpus=threads + 1, log_to_driver=False, include_dashboard=False)


def main(argv=None) -> int:
    args = parse_args(argv)
    import ray
    import torch

    from factory.plan.stage import read_tasks

    work = args.work or Path(tempfile.mkdtemp(prefix="generate-bench-"))
    config = make_job(args, work)
    tasks = read_tasks(config)
    torch.set_num_threads(args.threads)
    start_ray(args.threads, args.worker_niceness)
    bare, factory = [], []
    for round_ in range(args.repeats):
        bare.append(bare_loop(config, tasks, work / "bare"))
        factory.append(factory_run(config))
        print(f"round {round_ + 1}: bare {bare[-1]}, factory {factory[-1]}", flush=True)
    ray.shutdown()
    best_bare = max(run["steady"] for run in bare)
    best_factory = max(run["steady"] for run in factory)
    result = {
        "benchmark": "generate stage vs bare diffusers loop (same model, tasks, batch size), "
                     "steady-state images per second after the first batch",
        "images": tasks.height, "batch_size": args.batch_size,
        "size": [args.height, args.width], "steps": args.steps, "threads": args.threads,
        "model": "toy SD (smoke) text2img, CPU", "repeats": args.repeats,
        "ray_worker_niceness": int(os.environ[WORKER_NICENESS]),
        "bare_images_per_second": round(best_bare, 3),
        "factory_images_per_second": round(best_factory, 3),
        "ratio": round(best_factory / best_bare, 4), "target_ratio": TARGET_RATIO,
        # each round's sides ran back to back, under much the same load from other work
        "round_ratios": [round(f["steady"] / b["steady"], 4)
                         for b, f in zip(bare, factory, strict=True)],
        "end_to_end_seconds": {"bare": [round(run["seconds"], 2) for run in bare],
                               "factory": [round(run["seconds"], 2) for run in factory]},
        "steady_images_per_second": {"bare": [round(run["steady"], 3) for run in bare],
                                     "factory": [round(run["steady"], 3) for run in factory]},
        "factory_actor_busy_share": [round(run["actor_busy_share"], 4) for run in factory],
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_average": os.getloadavg()},
    }
    result["median_round_ratio"] = round(statistics.median(result["round_ratios"]), 4)
    result["meets_target"] = min(result["ratio"], result["median_round_ratio"]) >= TARGET_RATIO
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
