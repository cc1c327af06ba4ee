"""Run every benchmark and collect their JSON into one markdown summary.

    python bench/run_all.py [--only NAME ...] [--summary-only]

Each benchmark is its own module (`bench/<name>.py`, or a package `bench/<name>/`) writing
`bench/results/<name>.json` (ratios against a baseline measured in the same run); this runs them
one after another as `python -m bench.<name>` (they time themselves, so they must not share the
machine) and writes `bench/results/summary.md`, which the README links.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from factory.atomic import write_text
from factory.report.markdown import markdown_table

RESULTS = Path("bench/results")
# name -> (what is compared, JSON key of the ratio, key of the target, higher is better)
BENCHMARKS = {
    "evaluate_rank": ("counting ranks vs the previous sort, fast-reid's Cython and a per-query "
                      "loop (Market-1501 size, plain and tied)", None, None),
    "evaluate_features": ("rank metrics from features, block by block (Market-1501, MSMT17 size)",
                          None, None),
    "generate_throughput": ("generate stage vs a bare diffusers loop", "ratio", "target_ratio"),
    "storage_throughput": ("generate with all I/O in a local S3 server's bucket vs on local "
                           "disk (same job, s3/disk)", "median_round_ratio", None),
    "train_throughput": ("Ray Train epoch vs a plain PyTorch loop", "ratio", "target_ratio"),
    "toy_render": ("toy world render + JPEG vs the JPEG-encode floor", None, None),
    "manifest_scale": ("plan + resume at 2.1M tasks (seconds, GiB)", None, None),
    "reid_toy": ("ReID after a few CPU minutes vs random init (mAP)", None, None),
    "toy_sd_quality": ("toy SD prompt following (top / bottom / inpaint colour)", None, None),
    "adapt_toy": ("identity tokens + modality LoRA on the toy world", None, None),
    "toy_headroom": ("toy world headroom: real only vs + the toy world's oracle, and identity "
                     "legible without learning (DLCR, DiVE headline)", None, None),
    "torture": ("crash-and-resume: generate, train and sweep killed at random, re-run", None,
                None),
    "memory": ("peak memory of one adapt / ReID training step by precision (tiny stand-ins on "
               "CPU; SD-1.5 shapes with --sd15 on a GPU)", None, None),
}


def headline(name: str, result: dict) -> str:
    """One line of the result's main number(s)."""
    _, ratio, target = BENCHMARKS[name]
    if name == "generate_throughput" and "median_round_ratio" in result:
        busy = min(result["factory_actor_busy_share"])
        return (f"{result['ratio']:.3f}x best of {result['repeats']} rounds, median round "
                f"{result['median_round_ratio']:.3f}x (target {result['target_ratio']}); "
                f"actor busy {busy:.1%} of its time")
    if name == "storage_throughput":
        return storage_headline(result)
    if ratio is not None:
        value = result[ratio]
        goal = f" (target {result[target]})" if target and target in result else ""
        return f"{value:.3g}x{goal}"
    if name == "manifest_scale":
        largest = result["results"][-1]
        return (f"{largest['tasks']:,} tasks: plan {largest['plan']['seconds']:.1f} s / "
                f"{largest['plan']['peak_gib']:.2f} GiB, resume {largest['resume']['seconds']:.1f}"
                f" s / {largest['resume']['peak_gib']:.2f} GiB (targets 10 s, 2 GiB)")
    if name == "evaluate_rank":
        return "; ".join(_ranking_headline(matrix, run) for matrix, run in
                         result["matrices"].items())
    if name == "evaluate_features":
        return "; ".join(f"{case}: {run['blocks']['seconds']:.1f} s, "
                         f"{run['blocks']['peak_beyond_features_gib']:.2f} GiB beyond the features"
                         for case, run in result["cases"].items()) + " (target 2 GiB at MSMT17)"
    if name == "toy_render":
        rates = result["images_per_s"]["render_jpeg"]
        return (f"{max(rates.values()):,.0f} images/s with {max(rates, key=int)} processes; "
                f"{max(result['ratio_render_jpeg_to_baseline'].values()):.2f}x the JPEG floor")
    if name == "toy_sd_quality":
        rates, targets = result["rates"], result["targets"]
        return ", ".join(f"{key} {rates[key]:.2f} (target {targets[key]})" for key in targets) + \
            f"; chance {result['chance']:.2f}"
    if name == "reid_toy":
        return "; ".join(f"{layout}: mAP {run['trained']['mAP']:.3f} vs "
                         f"{run['random_init']['mAP']:.3f}" for layout, run in
                         result["runs"].items())
    if name == "torture":
        return torture_headline(result)
    if name == "toy_headroom":
        return headroom_headline(result)
    if name == "memory":
        return memory_headline(result["results"])
    if name == "adapt_toy":
        spread, identity = result["channel_spread"], result["identity"]
        return (f"{result['steps']} steps: IR-code channel spread {spread['adapted_ir_code']:.0f}"
                f" vs {spread['adapted_rgb_code']:.0f} visible (real IR {spread['real_ir']:.0f});"
                f" identity top-1 {identity['with_token']['top1']:.2f} with the token vs "
                f"{identity['without_token']['top1']:.2f} without (chance "
                f"{identity['chance_top1']:.3f})")
    return json.dumps({key: value for key, value in result.items()
                       if isinstance(value, int | float)})[:200]


def headroom_headline(result: dict) -> str:
    """The newest measurement: per method, the arms' means, the headroom and its aim."""
    label, run = next(reversed(result["runs"].items()))
    parts = []
    for method, measured in run["methods"].items():
        s = measured["summary"]
        legible = (f", legible without learning {sum(s['legible']) / len(s['legible']):.3f}"
                   if s.get("legible") else "")
        parts.append(f"{method} {s['headline']}: real only {s['mean_real']:.3f}, + oracle "
                     f"{s['mean_oracle']:.3f}, headroom {s['headroom']:+.3f} (aim "
                     f"{s['aim']:+.2f}){legible}")
    return f"{label}: " + "; ".join(parts)


def storage_headline(result: dict) -> str:
    rates, ratios = result["median_images_per_second"], result["round_ratios"]
    written = result["written_per_run"]["s3"]
    return (f"{result['median_round_ratio']:.3f}x median of {result['repeats']} paired rounds "
            f"({min(ratios):.2f}-{max(ratios):.2f}): s3 {rates['s3']:.2f} vs disk "
            f"{rates['disk']:.2f} images/s steady; {written['objects']} objects, "
            f"{written['bytes'] / 2**20:.1f} MiB put per run of {result['images']} images")


def _ranking_headline(matrix: str, run: dict) -> str:
    """CPU seconds and their ratios (steadier than wall time on the shared machine)."""
    fastreid = (f", {run['speedup_vs_fastreid_cython']:.1f}x fast-reid's Cython (CPU "
                f"{run['cpu_speedup_vs_fastreid_cython']:.1f}x; target 10x)"
                if "cpu_speedup_vs_fastreid_cython" in run else "")
    return (f"{matrix}: {run['cpu_seconds']['counting']:.2f} CPU s, "
            f"{run['cpu_speedup_vs_sort']:.1f}x the sort{fastreid}, "
            f"{run['speedup_vs_loop']:.0f}x the loop")


def memory_headline(results: list[dict]) -> str:
    """Per stage, the peak GiB of each precision at its largest (resolution, batch) point."""
    parts = []
    for stage in ("adapt", "reid"):
        runs = [r for r in results if r["stage"] == stage and "peak_gib" in r
                and not r["gradient_checkpointing"]]
        if runs:
            largest = max(runs, key=lambda r: (r["size"][0] * r["size"][1] * r["batch"],
                                               r["model"]))
            same = [r for r in runs if (r["model"], r["size"], r["batch"]) ==
                    (largest["model"], largest["size"], largest["batch"])]
            parts.append(f"{stage} {largest['model']} {largest['size'][0]}x{largest['size'][1]} "
                         f"batch {largest['batch']}: " + ", ".join(
                             f"{r['precision']} {r['peak_gib']:.2f} GiB" for r in same))
    return "; ".join(parts)


def torture_headline(result: dict) -> str:
    parts = []
    for part, run in result["parts"].items():
        final, kills = run["final"], run["kills"]
        if part == "generate":
            audit = final.get("audit", {})
            done = (f"{kills['actor']} actor + {kills['driver_or_job']} driver kills, "
                    f"{audit.get('committed', 0)}/{audit.get('planned', 0)} committed, "
                    f"{len(audit.get('problems', []))} problems")
        elif part == "train":
            epochs = final.get("epochs") or [0]
            done = f"{kills['driver_or_job']} kills, " + (
                f"epochs 1..{epochs[-1]} once each" if run["ok"] else f"epochs {epochs}")
        else:
            done = (f"{kills['driver_or_job']} kills, {len(final.get('trials', {}))} trials, "
                    f"{len(final.get('problems', []))} problems")
        parts.append(f"{part}: {done} ({'ok' if run['ok'] else 'FAILED'})")
    return f"{result['rounds']} rounds each; " + "; ".join(parts)


def summary_table() -> list[dict]:
    rows = []
    for name, (what, _, _) in BENCHMARKS.items():
        path = RESULTS / f"{name}.json"
        result = headline(name, json.loads(path.read_text())) if path.is_file() else "not run"
        rows.append({"benchmark": f"`bench.{name}`", "compares": what, "result": result})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=None)
    parser.add_argument("--summary-only", action="store_true", help="only rewrite summary.md")
    args = parser.parse_args()
    failed = []
    for name in [] if args.summary_only else (args.only or list(BENCHMARKS)):
        command = [sys.executable, "-m", f"bench.{name}", "--out", str(RESULTS / f"{name}.json")]
        print("running", " ".join(command), flush=True)
        if subprocess.run(command).returncode != 0:
            failed.append(name)
    import polars as pl

    write_text(RESULTS / "summary.md", "\n".join([
        "# Benchmarks", "", "Written by `python bench/run_all.py`; each row's JSON is beside this "
        "file. Ratios compare against a baseline measured in the same run.", "",
        markdown_table(pl.DataFrame(summary_table())), ""]))
    print(f"wrote {RESULTS / 'summary.md'}" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
