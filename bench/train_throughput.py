"""Does Ray Train cost step throughput? The factory's training epoch under Ray Train against the
same epoch in a plain PyTorch loop, on the same model, data, sampler and batch size.

    python bench/train_throughput.py --out bench/results/train_throughput.json

Both sides call `factory.train.loop.train_epoch` with the pieces `train_loop_per_worker` builds;
the plain side runs it in this process, the Ray side through `factory.train.run.train` (one
worker holding every CPU, as the plain process has). Images/s of each epoch after the first
(warm-up) are compared: target ratio >= 0.9 (ARCHITECTURE.md). The plain loop runs before and
after Ray (A-B-A), so a machine that gets busier or quieter during the run biases neither side.
Start-up and data-loading time under Ray is reported apart.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from factory.atomic import write_text
from factory.ingest.stage import ingest
from factory.laptop.toyworld.layouts import render_layout
from factory.train.data import load_training_set
from factory.train.loop import build_loader, build_reid_model, train_epoch
from factory.train.objectives import Objective
from factory.train.run import train
from factory.train.trainer import resolved
from schemas.configs import ToyWorldConfig, TrainConfig

WORLD = {"train_identities": 32, "test_identities": 8, "images_per_camera": 3, "outfits": 1}
TRAIN = {"arch": "resnet18", "height": 128, "width": 64, "p": 8, "k": 4, "epochs": 3,
         "max_steps_per_epoch": 8, "warmup_epochs": 0, "loader_workers": 0}


def plain_loop(config: TrainConfig) -> list[dict]:
    """The epochs of `train_loop_per_worker`, without Ray: same model, sampler and objective."""
    torch.manual_seed(config.seed)
    data = load_training_set(config)
    model = build_reid_model(config, data)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    loader = build_loader(config, data, rank=0, world=1)
    objective = Objective(config, data)
    history = []
    for epoch in range(config.epochs):
        loader.batch_sampler.set_epoch(epoch)
        history.append(train_epoch(model, loader, objective, optimizer, epoch, config, "cpu"))
    return history


def ray_train(config: TrainConfig) -> list[dict]:
    checkpoint, _ = train(config)
    return json.loads((Path(checkpoint) / "history.json").read_text())


def steady_rate(history: list[dict]) -> float:
    return statistics.median(epoch["images_per_second"] for epoch in history[1:])


def timed(run, config: TrainConfig) -> tuple[list[dict], float]:
    start = time.perf_counter()
    history = run(config)
    return history, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/train_throughput.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        root = render_layout(ToyWorldConfig(layout="market1501", **WORLD), work / "market1501")
        ingest("market1501", root, work / "images.parquet", progress=False)
        cpus = torch.get_num_threads()
        config = resolved(TrainConfig(images=work / "images.parquet", storage_path=work / "runs",
                                      name="throughput", cpus_per_worker=cpus, **TRAIN))
        plain_before, plain_wall = timed(plain_loop, config)
        under_ray, ray_wall = timed(ray_train, config)
        plain_after, _ = timed(plain_loop, config)
    plain_rate = (steady_rate(plain_before) + steady_rate(plain_after)) / 2
    result = {
        "what": "ReID training images/s per epoch (median after the first), Ray Train / plain",
        "config": TRAIN, "world": WORLD, "torch_threads": cpus,
        "plain_images_per_second": plain_rate,
        "plain_before_after": [steady_rate(plain_before), steady_rate(plain_after)],
        "ray_images_per_second": steady_rate(under_ray),
        "ratio": steady_rate(under_ray) / plain_rate,
        "target_ratio": 0.9,
        "plain_wall_seconds": plain_wall, "ray_wall_seconds": ray_wall,
        "ray_overhead_seconds": ray_wall - sum(epoch["train_seconds"] for epoch in under_ray),
    }
    write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
