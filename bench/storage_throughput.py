"""Benchmark: the generate stage with all its I/O in a bucket on a local S3 server vs on local disk.

One smoke Diffusion-ReID job (img2img from the toy world's images with the smoke toy SD, so the
workers read source images too) is planned twice with the same tasks and seeds: once with every
path local (the toy world, its `images` table, prompts, tasks, output images, manifests), once
with every one of them in a bucket of moto's S3 server on 127.0.0.1
(`factory/laptop/s3_server.py`, reached over HTTP by the driver and the Ray workers through
`AWS_ENDPOINT_URL`, as a real bucket would be). Only the model stays local on both sides (a
bucket's model is copied to local disk once per machine, `storage.local_copy`, and not timed
here). Each round generates the job on both sides from empty output folders, back to back, their
order alternating between rounds.

Throughput is steady images per second, as in `bench/generate_throughput.py`: the slope of images
committed against time after the first part. A bucket's object times are whole seconds, so on
both sides a thread lists the manifest folder every `--poll` seconds and times each part file by
the first listing that shows it (in the bucket those listings are a few requests a second beside
the job's; the JSON counts them). The JSON gives each round's images/s, the ratio s3/disk per
round and their median, the objects and bytes each run wrote (and the inputs, written once) and
the requests the S3 server served per run, by method.

    python bench/storage_throughput.py --out bench/results/storage_throughput.json
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.generate_throughput import start_ray, steady_rate

METHOD = "diffusion_reid"
STORAGES = ("disk", "s3")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/storage_throughput.json"))
    parser.add_argument("--work", type=Path, default=None,
                        help="local folder for the toy world, model and disk job (default: a "
                             "temp dir)")
    parser.add_argument("--identities", type=int, default=4)
    parser.add_argument("--images-per-identity", type=int, default=16,
                        help="tasks = identities x this")
    parser.add_argument("--batch-size", type=int, default=8, help="also the rows per part file")
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20,
                        help="before img2img's strength (0.6-0.9 of them run)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the actor")
    parser.add_argument("--repeats", type=int, default=8, help="rounds of disk + s3")
    parser.add_argument("--poll", type=float, default=0.25,
                        help="seconds between listings of the manifest folder")
    parser.add_argument("--worker-niceness", type=int, default=None,
                        help="niceness of Ray's workers (default: this process's)")
    return parser.parse_args(argv)


def make_jobs(args, work: Path, bucket) -> dict:
    """The same planned job on local disk and in `bucket`: storage -> config."""
    from factory.laptop.toy_jobs import images_in_bucket, toy_job, toy_world_images
    from factory.laptop.toy_sd.build import build_toy_sd
    from factory.plan.stage import read_tasks, run_plan

    images = toy_world_images("sysu_mm01", work / "world", identities=args.identities)
    toy_sd = build_toy_sd(work / "toy-sd", size="smoke", progress=False)
    sections = {
        "plan": {"max_identities": args.identities,
                 "recipe": {"height": args.height, "width": args.width, "steps": args.steps},
                 "diffusion_reid": {"images_per_identity": args.images_per_identity}},
        "generate": {"batch_size": args.batch_size, "manifest_rows": args.batch_size,
                     "cpus_per_actor": args.threads}}
    jobs = {"disk": toy_job(METHOD, images, toy_sd, work / "job", **sections),
            "s3": toy_job(METHOD, images_in_bucket(images, bucket), toy_sd, bucket / "job",
                          **sections)}
    planned = {}
    for storage, config in jobs.items():
        run_plan(config)
        planned[storage] = read_tasks(config).select("task_id", "seed", "prompt").sort("task_id")
    if not planned["disk"].equals(planned["s3"]):
        raise RuntimeError("the disk and s3 plans differ in their tasks, seeds or prompts")
    return jobs


def tree_size(*paths) -> dict:
    """Files (objects) and bytes of local files and folders or of objects and bucket prefixes."""
    import pyarrow.fs as pafs

    from factory.storage import filesystem_and_path, storage_path

    files = []
    for where in paths:
        filesystem, path = filesystem_and_path(storage_path(where))
        filesystem = filesystem or pafs.LocalFileSystem()
        info = filesystem.get_file_info(path)
        files += [info] if info.type == pafs.FileType.File else filesystem.get_file_info(
            pafs.FileSelector(path, recursive=True, allow_not_found=True))
    files = [info for info in files if info.type == pafs.FileType.File]
    return {"objects": len(files), "bytes": sum(info.size for info in files)}


class CommitWatcher:
    """Times the part files of a manifest folder by the first listing that shows each, every
    `interval` seconds on a thread: one clock for a local folder and a bucket."""

    def __init__(self, folder, interval: float):
        self.folder, self.interval = folder, interval
        self.seen: dict[str, float] = {}
        self.listings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "CommitWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        from factory.generate.manifest import part_files

        while not self._stop.wait(self.interval):
            now = time.perf_counter()
            for path in part_files(self.folder):
                self.seen.setdefault(path, now)
            self.listings += 1

    def commits(self) -> list[tuple[float, int]]:
        """(time first seen, rows) of every part file seen."""
        import pyarrow.parquet as pq

        from factory.storage import storage_path

        done = []
        for path, seen in self.seen.items():
            with storage_path(path).open("rb") as file:
                done.append((seen, pq.ParquetFile(file).metadata.num_rows))
        return done


def generate_once(config, poll: float, server) -> dict:
    """`run_generate` from empty output folders (the plan kept): steady and end-to-end images per
    second, what it wrote and the requests `server` served meanwhile."""
    from factory.generate.manifest import FAILED_DIR, GENERATED_DIR, IMAGES_DIR
    from factory.generate.stage import run_generate
    from factory.storage import rmtree, storage_path

    out = storage_path(config.out)
    for folder in (IMAGES_DIR, GENERATED_DIR, FAILED_DIR):
        rmtree(out / folder)
    served, start = server.requests(), time.perf_counter()
    with CommitWatcher(out / GENERATED_DIR, poll) as watcher:
        summary = run_generate(config)
    seconds = time.perf_counter() - start
    if summary["committed"] != summary["planned"] or tree_size(out / FAILED_DIR)["objects"]:
        raise RuntimeError(f"{out}: committed {summary['committed']} of {summary['planned']} "
                           "tasks, or some failed")
    written = [tree_size(out / folder) for folder in (IMAGES_DIR, GENERATED_DIR)]
    return {"steady": steady_rate(watcher.commits()), "seconds": seconds,
            "images": summary["planned"], "actor_busy_share": summary["actor_busy_share"],
            "written": {"objects": sum(size["objects"] for size in written),
                        "bytes": sum(size["bytes"] for size in written)},
            "requests": dict(sorted((server.requests() - served).items())),
            "watcher_listings": watcher.listings}


def run_rounds(jobs: dict, repeats: int, poll: float, server) -> list[dict]:
    """Each round: both storages back to back, disk first in even rounds, s3 first in odd."""
    rounds = []
    for round_ in range(repeats):
        order = STORAGES if round_ % 2 == 0 else STORAGES[::-1]
        runs = {storage: generate_once(jobs[storage], poll, server) for storage in order}
        runs["ratio"] = runs["s3"]["steady"] / runs["disk"]["steady"]
        rounds.append(runs)
        print(f"round {round_ + 1}: disk {runs['disk']['steady']:.3f}, s3 "
              f"{runs['s3']['steady']:.3f} images/s steady, s3/disk {runs['ratio']:.3f}",
              flush=True)
    return rounds


def report(args, jobs: dict, rounds: list[dict], inputs: dict) -> dict:
    rates = {storage: [run[storage]["steady"] for run in rounds] for storage in STORAGES}
    ratios = [run["ratio"] for run in rounds]
    first = rounds[0]
    return {
        "benchmark": "generate stage with all I/O in a bucket on a local S3 server (moto, "
                     "127.0.0.1) vs on local disk, same job, tasks and seeds; steady-state "
                     "images per second after the first part",
        "method": METHOD, "model": "toy SD (smoke) img2img, CPU, local on both sides",
        "images": first["disk"]["images"], "batch_size": args.batch_size,
        "size": [args.height, args.width], "steps": args.steps, "threads": args.threads,
        "repeats": args.repeats, "poll_seconds": args.poll,
        "median_images_per_second": {s: round(statistics.median(rates[s]), 3) for s in STORAGES},
        "median_round_ratio": round(statistics.median(ratios), 4),
        # each round's sides ran back to back, under much the same load from other work
        "round_ratios": [round(ratio, 4) for ratio in ratios],
        "steady_images_per_second": {s: [round(rate, 3) for rate in rates[s]] for s in STORAGES},
        "end_to_end_seconds": {s: [round(run[s]["seconds"], 2) for run in rounds]
                               for s in STORAGES},
        "actor_busy_share": {s: [round(run[s]["actor_busy_share"], 4) for run in rounds]
                             for s in STORAGES},
        "written_per_run": {s: first[s]["written"] for s in STORAGES},
        # the S3 server's requests during each run (the s3 side's; the disk side's should be 0)
        "requests_per_run": {s: first[s]["requests"] for s in STORAGES},
        "watcher_listings_per_run": {s: first[s]["watcher_listings"] for s in STORAGES},
        "inputs": inputs,
        "where": {s: str(jobs[s].out) for s in STORAGES},
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_average": os.getloadavg()},
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    import ray
    import torch

    from factory.laptop.s3_server import S3Server, free_port, point_clients_at
    from factory.plan.stage import TASKS_FILE
    from factory.storage import storage_path

    work = args.work or Path(tempfile.mkdtemp(prefix="storage-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    point_clients_at(port)  # before Ray starts, so its workers reach the same server
    server = S3Server(port, work / "moto.log")
    server.start()
    try:
        bucket = storage_path(server.bucket())
        jobs = make_jobs(args, work, bucket)
        # the toy world with its images table, the prompts and the tasks
        inputs = {storage: tree_size(world, jobs[storage].prompts,
                                     storage_path(jobs[storage].out) / TASKS_FILE)
                  for storage, world in (("disk", work / "world"), ("s3", bucket / "data"))}
        torch.set_num_threads(args.threads)
        start_ray(args.threads, args.worker_niceness)
        try:
            rounds = run_rounds(jobs, args.repeats, args.poll, server)
        finally:
            ray.shutdown()
    finally:
        server.stop()
    result = report(args, jobs, rounds, inputs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
