"""`python -m bench.torture`: run the parts asked for and write their JSON (see the package)."""

import argparse
import json
import sys
import time
from pathlib import Path

import bench.torture
from bench.torture import PARTS
from bench.torture.kills import ROOT


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.torture",
                                     description=bench.torture.__doc__.splitlines()[0])
    parser.add_argument("--what", choices=["generate", "train", "sweep", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=10, help="killed runs before the last one")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments and choices")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/torture.json")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for worlds, models and runs (default: a temp dir)")
    parser.add_argument("--identities", type=int, default=8, help="generate: identities planned")
    parser.add_argument("--images-per-target", type=int, default=6,
                        help="generate: images per identity and modality (tasks = ids x 2 x this)")
    parser.add_argument("--steps", type=int, default=64,
                        help="generate: denoising steps (enough that blocks commit over time)")
    parser.add_argument("--epochs", type=int, default=20, help="train: epochs of the run")
    parser.add_argument("--trials", type=int, default=4, help="sweep: trials")
    parser.add_argument("--sweep-epochs", type=int, default=6, help="sweep: epochs of a trial")
    return parser.parse_args(argv)


def run_parts(what: str, work: Path, args: argparse.Namespace) -> dict:
    sizes = {"generate": {"identities": args.identities,
                          "images_per_target": args.images_per_target, "steps": args.steps},
             "train": {"epochs": args.epochs},
             "sweep": {"trials": args.trials, "epochs": args.sweep_epochs}}
    results = {}
    for part in PARTS if what == "all" else [what]:
        start = time.perf_counter()
        results[part] = PARTS[part](work / part, rounds=args.rounds, seed=args.seed,
                                    **sizes[part])
        results[part]["seconds"] = round(time.perf_counter() - start, 1)
    return results


def main(argv=None) -> int:
    import tempfile

    from factory.atomic import write_text

    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="torture-") as temporary:
        work = args.work or Path(temporary)
        results = run_parts(args.what, work, args)
    for result in results.values():
        result |= {"seed": args.seed, "rounds_asked": args.rounds}
    # One part run alone replaces that part in an earlier file; the others stay.
    earlier = json.loads(args.out.read_text()) if args.what != "all" and args.out.is_file() \
        else {}
    parts = earlier.get("parts", {}) | results
    summary = {"rounds": args.rounds, "seed": args.seed,
               "ok": all(part["ok"] for part in parts.values()),
               "parts": parts}
    write_text(args.out, json.dumps(summary, indent=1, default=str))
    print(f"wrote {args.out}: " + ", ".join(f"{part} {'ok' if result['ok'] else 'FAILED'}"
                                            for part, result in parts.items()))
    return 0 if all(result["ok"] for result in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
