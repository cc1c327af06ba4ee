"""Throughput of the toy world's renderer: images per second at 128x64, render only and render +
JPEG encode, in 1 and 2 processes, against the I/O floor measured in the same run (JPEG-encoding
ready-made random arrays of the same size).

    python bench/toy_render.py --out bench/results/toy_render.json
"""

import argparse
import json
import multiprocessing
import os
import platform
import time
from pathlib import Path

import numpy as np

from factory.laptop.toyworld.render import encode_jpeg, render
from factory.laptop.toyworld.world import RenderRequest, make_camera, make_identity, make_outfit

TARGET = 2000  # images per second on 2 CPU cores, render + JPEG encode (ARCHITECTURE.md)
CAMERAS = [(camera_id, "rgb") for camera_id in (1, 2, 4, 5)] + [(3, "ir"), (6, "ir")]
OUTFITS, FRAMES = 2, 4
_random_arrays: np.ndarray | None = None


def requests(seed: int, start: int, count: int) -> list[RenderRequest]:
    """A SYSU-like world: every identity in every outfit, camera and frame, numbered in order."""
    chosen = []
    for n in range(start, start + count):
        n, frame = divmod(n, FRAMES)
        n, camera = divmod(n, len(CAMERAS))
        pid, outfit_id = divmod(n, OUTFITS)
        chosen.append(RenderRequest(make_identity(seed, pid), make_outfit(seed, pid, outfit_id),
                                    make_camera(seed, *CAMERAS[camera]), frame))
    return chosen


def factory_task(task: tuple[int, int, int, int, int, bool]) -> int:
    """Render (and encode) images start..start+count in batches; returns the bytes written."""
    seed, start, count, height, width, encode = task
    written = 0
    for first in range(start, start + count, 256):
        batch = requests(seed, first, min(256, start + count - first))
        images, masks = render(batch, height=height, width=width)
        if encode:
            written += sum(len(encode_jpeg(image)) for image in images)
        else:
            written += images.nbytes + masks.nbytes
    return written


def _make_random_arrays(count: int, height: int, width: int):
    global _random_arrays
    _random_arrays = np.random.default_rng(0).integers(0, 256, (count, height, width, 3), np.uint8)


def baseline_task(task: tuple[int, int]) -> int:
    """JPEG-encode `count` of this worker's ready-made random arrays."""
    start, count = task
    return sum(len(encode_jpeg(_random_arrays[(start + i) % len(_random_arrays)]))
               for i in range(count))


def rate(pool, function, tasks: list, images: int) -> float:
    begin = time.perf_counter()
    pool.map(function, tasks, chunksize=1)
    return images / (time.perf_counter() - begin)


def measure(images: int, processes: int, height: int, width: int, seed: int) -> dict[str, float]:
    chunk = images // (processes * 4)
    context = multiprocessing.get_context("spawn")
    rates = {}
    with context.Pool(processes, _make_random_arrays, (512, height, width)) as pool:
        pool.map(factory_task, [(seed, 0, 64, height, width, True)] * processes)  # warm up
        pool.map(baseline_task, [(0, 8)] * processes)
        for name, encode in (("render", False), ("render_jpeg", True)):
            tasks = [(seed, start, chunk, height, width, encode)
                     for start in range(0, chunk * processes * 4, chunk)]
            rates[name] = rate(pool, factory_task, tasks, chunk * len(tasks))
        tasks = [(start, chunk) for start in range(0, chunk * processes * 4, chunk)]
        rates["baseline_jpeg_random"] = rate(pool, baseline_task, tasks, chunk * len(tasks))
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/toy_render.json"))
    parser.add_argument("--images", type=int, default=8192, help="images per measurement")
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rates = {str(n): measure(args.images, n, args.height, args.width, args.seed) for n in (1, 2)}
    result = {
        "benchmark": "toy_render",
        "height": args.height, "width": args.width, "images": args.images,
        "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
        "images_per_s": {kind: {n: round(r[kind], 1) for n, r in rates.items()}
                         for kind in ("render", "render_jpeg", "baseline_jpeg_random")},
        "ratio_render_jpeg_to_baseline": {
            n: round(r["render_jpeg"] / r["baseline_jpeg_random"], 3) for n, r in rates.items()},
        "target_images_per_s_2_processes": TARGET,
        "meets_target": rates["2"]["render_jpeg"] >= TARGET,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.out.with_name(args.out.name + ".tmp")
    temporary.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(temporary, args.out)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
