"""Benchmark: vectorised `evaluate_rank` against the per-query Python loop, at Market-1501 size.

Market-1501's test split: 3,368 queries of 750 ids by 6 cameras against 15,913 gallery images
(13,115 of the same 750 ids plus 2,798 distractors of pid 0; the 3,819 junk images of pid -1 are
dropped by the reader). Features are random: a per-id centre plus noise, so ranks are realistic.
Both paths must give the same CMC, mAP and mINP (to 1e-9); the JSON reports the speed-up
(ARCHITECTURE.md asks for >= 20x). The loop may be timed on the first `--loop-queries` queries
and extrapolated linearly (queries are independent); the JSON says so.

    python bench/evaluate_rank.py --out bench/results/evaluate_rank.json
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from factory.evaluate.rank import evaluate_rank, per_query, standard_junk

TARGET_SPEEDUP = 20.0
TOLERANCE = 1e-9


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/evaluate_rank.json"))
    parser.add_argument("--queries", type=int, default=3368)
    parser.add_argument("--gallery", type=int, default=15913)
    parser.add_argument("--distractors", type=int, default=2798)
    parser.add_argument("--ids", type=int, default=750)
    parser.add_argument("--cameras", type=int, default=6)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--loop-queries", type=int, default=None,
                        help="time the loop on this many queries and extrapolate (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="vectorised runs; the best counts")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def market_like(args) -> dict:
    """Pids, cameras and a float32 cosine distance matrix shaped like Market-1501's test split."""
    rng = np.random.default_rng(args.seed)
    q_pids = rng.integers(1, args.ids + 1, args.queries)
    g_pids = np.concatenate([rng.integers(1, args.ids + 1, args.gallery - args.distractors),
                             np.zeros(args.distractors, dtype=np.int64)])
    q_camids = rng.integers(1, args.cameras + 1, args.queries)
    g_camids = rng.integers(1, args.cameras + 1, args.gallery)
    centres = rng.standard_normal((args.ids + 1, args.dim)).astype(np.float32)
    features = [centres[pids] + 2.0 * rng.standard_normal((len(pids), args.dim), np.float32)
                for pids in (q_pids, g_pids)]
    query, gallery = (f / np.linalg.norm(f, axis=1, keepdims=True) for f in features)
    return {"distmat": 1.0 - query @ gallery.T, "q_pids": q_pids, "g_pids": g_pids,
            "q_camids": q_camids, "g_camids": g_camids}


def differences(a, b) -> dict:
    return {"cmc": float(np.abs(a.cmc - b.cmc).max()), "mAP": abs(a.mAP - b.mAP),
            "mINP": abs(a.mINP - b.mINP)}


def main(argv=None) -> int:
    args = parse_args(argv)
    data = market_like(args)
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        vectorised = evaluate_rank(**data)
        runs.append(time.perf_counter() - start)

    n = min(args.loop_queries or args.queries, args.queries)
    subset = {"distmat": data["distmat"][:n], "q_pids": data["q_pids"][:n],
              "q_camids": data["q_camids"][:n], "g_pids": data["g_pids"],
              "g_camids": data["g_camids"]}
    junk = standard_junk(subset["q_pids"], subset["g_pids"], subset["q_camids"],
                         subset["g_camids"])
    start = time.perf_counter()
    looped = per_query(subset["distmat"], subset["q_pids"], subset["g_pids"], junk)
    loop_seconds = (time.perf_counter() - start) * args.queries / n
    diff = differences(evaluate_rank(**subset) if n < args.queries else vectorised, looped)
    identical = max(diff.values()) <= TOLERANCE

    result = {
        "benchmark": "evaluate_rank: vectorised vs per-query Python loop",
        "shape": {"queries": args.queries, "gallery": args.gallery, "ids": args.ids,
                  "distractors": args.distractors, "cameras": args.cameras,
                  "distmat_dtype": str(data["distmat"].dtype)},
        "vectorised_seconds": min(runs),
        "vectorised_runs": runs,
        "loop_seconds": loop_seconds,
        "loop_queries_timed": n,
        "loop_extrapolated": n < args.queries,
        "speedup": loop_seconds / min(runs),
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": loop_seconds / min(runs) >= TARGET_SPEEDUP,
        "compared_on_queries": n,
        "max_abs_difference": diff,
        "identical_within": TOLERANCE,
        "identical": identical,
        "metrics": {"rank1": float(vectorised.cmc[0]), "rank5": float(vectorised.cmc[4]),
                    "rank10": float(vectorised.cmc[9]), "mAP": vectorised.mAP,
                    "mINP": vectorised.mINP, "valid_queries": vectorised.num_valid},
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "machine": platform.machine(), "cpus": os.cpu_count(),
                        "processor": platform.processor()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    timed = f" (extrapolated from {n} queries)" if n < args.queries else ""
    print(f"vectorised {min(runs):.3f} s, loop {loop_seconds:.2f} s{timed}: "
          f"{result['speedup']:.1f}x; identical: {identical}; wrote {args.out}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
