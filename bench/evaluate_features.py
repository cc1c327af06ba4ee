"""Benchmark: rank metrics from features (`evaluate_features`, distances a block of queries at a
time) at Market-1501 and MSMT17 size: seconds and peak memory beyond the features.

Market-1501: 3,368 queries x 15,913 gallery images, 2048-dim features (ResNet-50's). MSMT17:
11,659 x 82,161 (3,060 test ids, 15 cameras), 512-dim by default (`--msmt-dim 2048` for
ResNet-50's: its matrix products then take about 4x longer on 2 cores). Features are random: a
per-id centre plus noise. Each case runs in its own process; memory is that process's peak
resident set (`ru_maxrss`) minus its resident set once the features exist, so it counts the
normalised gallery copy, the blocks and the evaluator's temporaries. The baseline, where it fits
(Market; MSMT17 with `--full-msmt`), builds the full matrix at once with torch and ranks it
(`evaluate_rank`), in its own process too. Seconds are the best of `--repeats` runs, wall and
CPU (all threads; steadier when the machine is shared, whose load the JSON records).
Target (issue 18): MSMT17 under 2 GB beyond the features, on 2 cores.

    python -m bench.evaluate_features --out bench/results/evaluate_features.json
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from factory.evaluate import evaluate_features, evaluate_rank

# name -> queries, gallery, ids, cameras, distractors (pid 0)
CASES = {"market1501": (3368, 15913, 750, 6, 2798), "msmt17": (11659, 82161, 3060, 15, 0)}
TARGET_PEAK_GIB = 2.0
GIB = 1 << 30


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/evaluate_features.json"))
    parser.add_argument("--market-dim", type=int, default=2048)
    parser.add_argument("--msmt-dim", type=int, default=512)
    parser.add_argument("--scale", type=float, default=1.0, help="shrink every case (tests)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per process; the best")
    parser.add_argument("--full-msmt", action="store_true",
                        help="also time the full-matrix baseline at MSMT17 size (3.8 GB)")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--path", choices=("blocks", "full"), help=argparse.SUPPRESS)
    parser.add_argument("--dim", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_case(name: str, dim: int, scale: float, seed: int = 0) -> dict:
    """Features (float32, generated in chunks so the peak stays at their size), pids, cameras."""
    queries, gallery, ids, cameras, distractors = (max(2, int(n * scale)) if i < 3 else n
                                                   for i, n in enumerate(CASES[name]))
    distractors = int(distractors * scale)
    rng = np.random.default_rng(seed)
    pids = [rng.integers(1, ids + 1, queries),
            np.concatenate([rng.integers(1, ids + 1, gallery - distractors),
                            np.zeros(distractors, dtype=np.int64)])]
    centres = rng.standard_normal((ids + 1, dim), dtype=np.float32)
    noise = 2.0 * (dim / 256) ** (1 / 3)  # keeps mAP mid-range (~0.5), like a real model's
    features = []
    for side in pids:
        side_features = np.empty((len(side), dim), dtype=np.float32)
        for start in range(0, len(side), 4096):
            chunk = side[start:start + 4096]
            side_features[start:start + 4096] = centres[chunk] + noise * rng.standard_normal(
                (len(chunk), dim), dtype=np.float32)
        features.append(side_features)
    return {"query_features": features[0], "gallery_features": features[1], "q_pids": pids[0],
            "g_pids": pids[1], "q_camids": rng.integers(1, cameras + 1, queries),
            "g_camids": rng.integers(1, cameras + 1, gallery)}


def full_matrix(query_features, gallery_features, q_pids, g_pids, q_camids, g_camids):
    """The baseline: the whole cosine distance matrix at once, then ranked."""
    with torch.no_grad():
        query = torch.nn.functional.normalize(torch.from_numpy(query_features), dim=1)
        gallery = torch.nn.functional.normalize(torch.from_numpy(gallery_features), dim=1)
        distmat = (1.0 - query @ gallery.T).numpy()
    return evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids)


def run_one(args) -> dict:
    """One case and path in this process: seconds, peak memory beyond the features, metrics."""
    data = make_case(args.case, args.dim, args.scale)
    resident = os.sysconf("SC_PAGE_SIZE") * int(Path("/proc/self/statm").read_text().split()[1])
    evaluate = evaluate_features if args.path == "blocks" else full_matrix
    wall, cpu = [], []
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = evaluate(**data)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    features = data["query_features"].nbytes + data["gallery_features"].nbytes
    return {"seconds": min(wall), "cpu_seconds": min(cpu), "runs": wall,
            "peak_beyond_features_gib": (peak - resident) / GIB,
            "features_gib": features / GIB, "peak_gib": peak / GIB,
            "queries": len(data["q_pids"]), "gallery": len(data["g_pids"]), "dim": args.dim,
            "metrics": {"rank1": float(result.cmc[0]), "mAP": result.mAP, "mINP": result.mINP}}


def in_process(case: str, path: str, dim: int, args) -> dict:
    command = [sys.executable, "-m", "bench.evaluate_features", "--case", case, "--path", path,
               "--dim", str(dim), "--scale", str(args.scale), "--repeats", str(args.repeats)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.case:
        print(json.dumps(run_one(args)))
        return 0
    results = {}
    for case, dim in (("market1501", args.market_dim), ("msmt17", args.msmt_dim)):
        blocks = in_process(case, "blocks", dim, args)
        run = {"blocks": blocks}
        if case == "market1501" or args.full_msmt:
            full = in_process(case, "full", dim, args)
            run["full_matrix"] = full
            run["ratio_seconds_full_to_blocks"] = full["seconds"] / blocks["seconds"]
            run["ratio_cpu_seconds_full_to_blocks"] = full["cpu_seconds"] / blocks["cpu_seconds"]
            run["ratio_peak_full_to_blocks"] = (full["peak_beyond_features_gib"]
                                                / blocks["peak_beyond_features_gib"])
            run["identical_metrics"] = blocks["metrics"] == full["metrics"]
        else:
            run["full_matrix"] = (f"not run (--full-msmt): its float32 matrix alone is "
                                  f"{blocks['queries'] * blocks['gallery'] * 4 / GIB:.2f} GiB")
        results[case] = run
        print(f"{case}: blocks {blocks['seconds']:.1f} s, "
              f"{blocks['peak_beyond_features_gib']:.2f} GiB beyond the features", flush=True)
    msmt = results["msmt17"]["blocks"]["peak_beyond_features_gib"]
    result = {
        "benchmark": "evaluate_features: block-by-block distances vs the full matrix",
        "cases": results, "msmt17_peak_beyond_features_gib": msmt,
        "target_peak_gib": TARGET_PEAK_GIB, "meets_target": msmt < TARGET_PEAK_GIB,
        "scale": args.scale,
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                        "load_average_1min": os.getloadavg()[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
