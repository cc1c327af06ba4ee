"""Does ReID training work? A few CPU minutes of Ray Train on toy worlds against random init.

    python bench/reid_toy.py --out bench/results/reid_toy.json [--minutes-per-run 3]

Renders toy Market-1501 (BoT) and LTCC (CAL) worlds, trains each through `factory.train.run.train`
(the same Ray Train path as `factory train`), and scores the trained model and a random-init model
of the same architecture with the dataset's protocol. Writes JSON with both and their ratio.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from factory.atomic import write_text
from factory.ingest.stage import ingest
from factory.laptop.toyworld.layouts import render_layout
from factory.reid.checkpoint import load_checkpoint
from factory.reid.models import build_model, model_class
from factory.train.evaluation import evaluate_model
from factory.train.run import train
from schemas.configs import ToyWorldConfig, TrainConfig

RUNS = {
    "market1501": {"model": "bot"},
    "ltcc": {"model": "cal", "cal_start_epoch": 4},
}
TRAIN = {"arch": "resnet18", "height": 128, "width": 64, "p": 8, "k": 4, "epochs": 12,
         "warmup_epochs": 1, "milestones": [9], "eval_every": 3, "lr": 3.5e-4}
WORLD = {"train_identities": 32, "test_identities": 32, "images_per_camera": 3, "outfits": 2}


def _headline(metrics: dict) -> dict:
    return {"rank1": metrics["rank1"], "mAP": metrics["mAP"]}


def run_one(layout: str, folder: Path, settings: dict) -> dict:
    root = render_layout(ToyWorldConfig(layout=layout, **WORLD), folder / "data" / layout)
    images = folder / f"{layout}.images.parquet"
    ingest(layout, root, images, progress=False)
    config = TrainConfig(images=images, protocol=layout, storage_path=folder / "runs",
                         name=f"{layout}-{settings['model']}", **TRAIN, **settings)
    start = time.perf_counter()
    checkpoint, report = train(config)
    minutes = (time.perf_counter() - start) / 60
    size = (config.height, config.width)
    trained = evaluate_model(load_checkpoint(checkpoint), images, layout, size=size, device="cpu")
    torch.manual_seed(0)
    options = {"num_clothes": 2} if model_class(settings["model"]).learns_clothes else {}
    random_init = build_model(settings["model"], 2, arch=config.arch, **options)
    untrained = evaluate_model(random_init, images, layout, size=size, device="cpu")
    return {"model": settings["model"], "arch": config.arch, "train_minutes": round(minutes, 2),
            "report": str(report), "trained": trained, "random_init": untrained,
            "ratio_mAP": trained["mAP"] / untrained["mAP"],
            "headline": {"trained": _headline(trained), "random_init": _headline(untrained)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/reid_toy.json"))
    parser.add_argument("--work", type=Path, default=Path("out/bench_reid_toy"))
    parser.add_argument("--epochs", type=int, default=TRAIN["epochs"])
    args = parser.parse_args()
    TRAIN.update(epochs=args.epochs)
    results = {layout: run_one(layout, args.work, settings) for layout, settings in RUNS.items()}
    summary = {"benchmark": "ReID on toy worlds: trained (Ray Train, CPU) vs random init",
               "world": WORLD, "train": TRAIN, "runs": results}
    write_text(args.out, json.dumps(summary, indent=2))
    for layout, result in results.items():
        print(f"{layout}: {result['headline']}  ({result['train_minutes']} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
