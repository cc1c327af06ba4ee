"""Benchmark: counting ranks (`evaluate_rank`) against the previous sort and a per-query loop,
at Market-1501 size, on a plain and a heavily tied distance matrix.

Market-1501's test split: 3,368 queries of 750 ids by 6 cameras against 15,913 gallery images
(13,115 of the same 750 ids plus 2,798 distractors of pid 0; the 3,819 junk images of pid -1 are
dropped by the reader). Features are random: a per-id centre plus noise, so ranks are realistic.
The `quantised` matrix keeps only each feature's sign (binary codes): its cosine distances take
257 values, so nearly every hit ties with other items. Counting must give the very same CMC, mAP
and mINP as the sort (`bench/sorted_rank.py`) and agree with the loop to 1e-9. Runs alternate
between the evaluators and the best of `--repeats` counts (the machine may be shared: the JSON
records its load; CPU seconds are steadier than wall seconds then). fast-reid 1.4.0's compiled
evaluator is built in a throwaway folder and timed on the same matrices (`compiled_evaluators`;
the JSON says why when it cannot be built); torchreid 0.2.5 on PyPI ships none to build. fast-reid
spends most of its time in numpy's `argsort` of the whole matrix, whose speed differs from host to
host far more than counting's (counting never sorts): compare ratios within one run only. The
target is 10x fast-reid's time on every matrix (`meets_fastreid_target`, wall and CPU seconds).
The loop may be timed on the first `--loop-queries` queries and extrapolated linearly.

    python -m bench.evaluate_rank --out bench/results/evaluate_rank.json
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import sorted_rank
from bench.compiled_evaluators import build_fastreid
from factory.evaluate.rank import evaluate_rank, per_query, standard_junk

TARGET_SPEEDUP = 20.0  # against the loop
TARGET_VS_FASTREID = 10.0  # against fast-reid's compiled evaluator, on every matrix (issue 18)
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
    parser.add_argument("--no-compiled", action="store_true",
                        help="skip building fast-reid's compiled evaluator (needs PyPI and cc)")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where fast-reid's evaluator is built (default: a temporary folder)")
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


def compare(data: dict, args, fastreid) -> dict:
    """Alternating timed runs of counting, sort (and fast-reid's), then the loop on a prefix."""
    evaluators = {"counting": evaluate_rank, "sort": _sorted_evaluate}
    if fastreid is not None:
        evaluators["fastreid_cython"] = fastreid
    wall, cpu, results = {name: [] for name in evaluators}, {name: [] for name in evaluators}, {}
    for _ in range(args.repeats):
        for name, evaluate in evaluators.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            results[name] = evaluate(**data)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
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
    best = {name: min(times) for name, times in wall.items()}
    best_cpu = {name: min(times) for name, times in cpu.items()}
    identical_to_sort = bool(np.array_equal(counted.cmc, ordered.cmc)
                             and (counted.mAP, counted.mINP) == (ordered.mAP, ordered.mINP))
    diff = differences(prefix, looped)
    run = {
        "seconds": best, "cpu_seconds": best_cpu, "runs": wall, "loop_seconds": loop_seconds,
        "loop_queries_timed": n, "loop_extrapolated": n < args.queries,
        "speedup_vs_sort": best["sort"] / best["counting"],
        "cpu_speedup_vs_sort": best_cpu["sort"] / best_cpu["counting"],
        "speedup_vs_loop": loop_seconds / best["counting"],
        "identical_to_sort": identical_to_sort, "max_abs_difference_vs_loop": diff,
        "identical": identical_to_sort and max(diff.values()) <= TOLERANCE,
        "distinct_distances": int(len(np.unique(data["distmat"][:50]))),
        "metrics": {"rank1": float(counted.cmc[0]), "rank5": float(counted.cmc[4]),
                    "rank10": float(counted.cmc[9]), "mAP": counted.mAP, "mINP": counted.mINP,
                    "valid_queries": counted.num_valid},
    }
    if fastreid is not None:
        cmc, mAP, mINP = results["fastreid_cython"]
        run["speedup_vs_fastreid_cython"] = best["fastreid_cython"] / best["counting"]
        run["cpu_speedup_vs_fastreid_cython"] = best_cpu["fastreid_cython"] / best_cpu["counting"]
        # fast-reid orders ties with an unstable argsort: its numbers may differ on ties
        run["max_abs_difference_vs_fastreid"] = {
            "cmc": float(np.abs(cmc - counted.cmc).max()), "mAP": abs(mAP - counted.mAP),
            "mINP": abs(mINP - counted.mINP)}
    return run


def _sorted_evaluate(distmat, q_pids, g_pids, q_camids, g_camids):
    junk = standard_junk(q_pids, g_pids, q_camids, g_camids)
    return sorted_rank.rank_metrics(distmat, q_pids, g_pids, junk)


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        fastreid, fastreid_note = (None, "skipped (--no-compiled)") if args.no_compiled else \
            build_fastreid(args.build_dir or Path(scratch))
        matrices = {name: compare(market_like(args, quantised=name == "quantised"), args,
                                  fastreid) for name in ("plain", "quantised")}
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
        "target_vs_fastreid": TARGET_VS_FASTREID,
        "fastreid_cython": "timed (fastreid 1.4.0's rank_cy.pyx, built here)" if fastreid
        else f"not timed: {fastreid_note}",
        "torchreid_cython": ("not timed: torchreid 0.2.5 on PyPI ships neither its Cython source "
                             "nor a binary (it falls back to Python); fast-reid's evaluator is "
                             "derived from it"),
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "machine": platform.machine(), "cpus": os.cpu_count(),
                        "load_average_1min": os.getloadavg()[0]},
    }
    if fastreid is not None:  # the least of the matrices' ratios, wall and CPU seconds
        result["meets_fastreid_target"] = {
            clock: min(run[f"{prefix}speedup_vs_fastreid_cython"] for run in matrices.values())
            >= TARGET_VS_FASTREID for clock, prefix in (("wall", ""), ("cpu", "cpu_"))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, run in matrices.items():
        fast = (f", fast-reid {run['seconds']['fastreid_cython']:.3f} s "
                f"({run['speedup_vs_fastreid_cython']:.1f}x)" if fastreid else "")
        print(f"{name}: counting {run['seconds']['counting']:.3f} s, sort "
              f"{run['seconds']['sort']:.3f} s ({run['speedup_vs_sort']:.2f}x){fast}, loop "
              f"{run['loop_seconds']:.1f} s ({run['speedup_vs_loop']:.0f}x); identical: "
              f"{run['identical']}")
    print(f"wrote {args.out}")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
