"""Benchmark: counting ranks (`evaluate_rank`) against the previous sort and a per-query loop,
at Market-1501 size, on a plain and a heavily tied distance matrix.

Market-1501's test split: 3,368 queries of 750 ids by 6 cameras against 15,913 gallery images
(13,115 of the same 750 ids plus 2,798 distractors of pid 0; the 3,819 junk images of pid -1 are
dropped by the reader). Features are random: a per-id centre plus noise, so ranks are realistic.
The `quantised` matrix keeps only each feature's sign (binary codes): its cosine distances take
257 values, so nearly every hit ties with other items. Counting must give the very same CMC, mAP
and mINP as the sort (`bench/sorted_rank.py`) and agree with the loop to 1e-9. Runs alternate
between the evaluators and the best of `--repeats` counts (the machine may be shared: the JSON
records its load). torchreid's compiled evaluator is timed when it can be imported; it cannot be
built offline here, and the PyPI wheel (0.2.5) ships none, so the JSON then says why it is absent.
The loop may be timed on the first `--loop-queries` queries and extrapolated linearly.

    python -m bench.evaluate_rank --out bench/results/evaluate_rank.json
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from bench import sorted_rank
from factory.evaluate.rank import evaluate_rank, per_query, standard_junk

TARGET_SPEEDUP = 20.0  # against the loop (ARCHITECTURE.md)
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
    parser.add_argument("--loop-queries", type=int, default=400,
                        help="time the loop on this many queries and extrapolate (0: all)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each; the best counts")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def market_like(args, quantised: bool = False) -> dict:
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
    if quantised:
        features = [np.sign(f) for f in features]
    query, gallery = (f / np.linalg.norm(f, axis=1, keepdims=True) for f in features)
    return {"distmat": 1.0 - query @ gallery.T, "q_pids": q_pids, "g_pids": g_pids,
            "q_camids": q_camids, "g_camids": g_camids}


def differences(a, b) -> dict:
    return {"cmc": float(np.abs(a.cmc - b.cmc).max()), "mAP": abs(a.mAP - b.mAP),
            "mINP": abs(a.mINP - b.mINP)}


def torchreid_cython():
    """torchreid's compiled `evaluate_cy`, or the reason it is not there."""
    try:
        from torchreid.metrics.rank_cylib.rank_cy import evaluate_cy
    except ImportError as error:
        return None, (f"torchreid's compiled evaluator is not importable ({error}); building it "
                      "needs torchreid's source and Cython, not reachable offline here, and the "
                      "PyPI wheel (0.2.5) ships none (it falls back to Python silently)")
    return evaluate_cy, None


def compare(data: dict, args, cython) -> dict:
    """Alternating timed runs of counting, sort (and Cython), then the loop on a prefix."""
    runs = {"counting": [], "sort": []} | ({"torchreid_cython": []} if cython else {})
    evaluators = {"counting": evaluate_rank, "sort": _sorted_evaluate,
                  "torchreid_cython": lambda **d: cython(d["distmat"], d["q_pids"], d["g_pids"],
                                                         d["q_camids"], d["g_camids"], 50, False)}
    results = {}
    for _ in range(args.repeats):
        for name in runs:
            start = time.perf_counter()
            results[name] = evaluators[name](**data)
            runs[name].append(time.perf_counter() - start)
    counted, ordered = results["counting"], results["sort"]
    n = min(args.loop_queries or args.queries, args.queries)
    rows = slice(0, n)
    junk = standard_junk(data["q_pids"][rows], data["g_pids"], data["q_camids"][rows],
                         data["g_camids"])
    start = time.perf_counter()
    looped = per_query(data["distmat"][rows], data["q_pids"][rows], data["g_pids"], junk)
    loop_seconds = (time.perf_counter() - start) * args.queries / n
    prefix = evaluate_rank(data["distmat"][rows], data["q_pids"][rows], data["g_pids"],
                           data["q_camids"][rows], data["g_camids"])
    best = {name: min(times) for name, times in runs.items()}
    identical_to_sort = bool(np.array_equal(counted.cmc, ordered.cmc)
                             and (counted.mAP, counted.mINP) == (ordered.mAP, ordered.mINP))
    diff = differences(prefix, looped)
    return {
        "seconds": best, "runs": runs, "loop_seconds": loop_seconds, "loop_queries_timed": n,
        "loop_extrapolated": n < args.queries,
        "speedup_vs_sort": best["sort"] / best["counting"],
        "speedup_vs_loop": loop_seconds / best["counting"],
        **({"speedup_vs_torchreid_cython": best["torchreid_cython"] / best["counting"]}
           if cython else {}),
        "identical_to_sort": identical_to_sort, "max_abs_difference_vs_loop": diff,
        "identical": identical_to_sort and max(diff.values()) <= TOLERANCE,
        "distinct_distances": int(len(np.unique(data["distmat"][:50]))),
        "metrics": {"rank1": float(counted.cmc[0]), "rank5": float(counted.cmc[4]),
                    "rank10": float(counted.cmc[9]), "mAP": counted.mAP, "mINP": counted.mINP,
                    "valid_queries": counted.num_valid},
    }


def _sorted_evaluate(distmat, q_pids, g_pids, q_camids, g_camids):
    junk = standard_junk(q_pids, g_pids, q_camids, g_camids)
    return sorted_rank.rank_metrics(distmat, q_pids, g_pids, junk)


def main(argv=None) -> int:
    args = parse_args(argv)
    cython, cython_note = torchreid_cython()
    matrices = {name: compare(market_like(args, quantised=name == "quantised"), args, cython)
                for name in ("plain", "quantised")}
    plain = matrices["plain"]
    result = {
        "benchmark": "evaluate_rank: counting vs the previous sort vs a per-query Python loop",
        "shape": {"queries": args.queries, "gallery": args.gallery, "ids": args.ids,
                  "distractors": args.distractors, "cameras": args.cameras, "dim": args.dim,
                  "distmat_dtype": "float32"},
        "matrices": matrices,
        "speedup": plain["speedup_vs_loop"], "target_speedup": TARGET_SPEEDUP,
        "meets_target": plain["speedup_vs_loop"] >= TARGET_SPEEDUP,
        "speedup_vs_sort": {name: run["speedup_vs_sort"] for name, run in matrices.items()},
        "identical": all(run["identical"] for run in matrices.values()),
        "torchreid_cython": "timed" if cython else f"skipped: {cython_note}",
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "machine": platform.machine(), "cpus": os.cpu_count(),
                        "load_average_1min": os.getloadavg()[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, run in matrices.items():
        print(f"{name}: counting {run['seconds']['counting']:.3f} s, sort "
              f"{run['seconds']['sort']:.3f} s ({run['speedup_vs_sort']:.2f}x), loop "
              f"{run['loop_seconds']:.1f} s ({run['speedup_vs_loop']:.0f}x); identical: "
              f"{run['identical']}")
    print(f"wrote {args.out}")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
