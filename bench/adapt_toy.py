"""Does the adapt stage learn the modality code and the identities? DiVE's adapt on toy SYSU-MM01.

    python bench/adapt_toy.py --toy-sd out/demo/models/toy-sd --out bench/results/adapt_toy.json

Renders a toy SYSU-MM01 world, adapts the trained toy SD (`factory toy-model --out DIR`; at the
size it was trained at) to the world's training identities through
`factory.adapt.stage.run_adapt` (the Ray Train path of `factory adapt`), then generates with
`load_pipeline(adapters=...)` and measures, against baselines from the same run:
- infrared look: channel spread, the mean over pixels of max(R,G,B) - min(R,G,B) (0-255; toy IR
  images are grey, so near 0), of "a {ir code} photo of a <id_k> person" versus the rgb code,
  versus the base model asked for "a infrared photo of a person", and of real IR / RGB images;
- identity: an appearance feature (RGB colour histograms, 4 bins a channel, of the upper- and
  lower-clothes bands of the figure: rows 30-50% and 60-75%, columns 35-65%, where 75-80% of
  pixels are clothes in the toy world) of images generated with each identity's token, matched
  by cosine similarity to every identity's mean real RGB feature: top-1 and own-minus-other
  similarity, versus the same prompts without the token and versus real images (leave one out);
  the IR-code images are matched to the identities' real IR images the same way.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import ray
from PIL import Image

from factory.adapt.stage import run_adapt
from factory.atomic import write_text
from factory.diffusion.loader import load_pipeline, model_fingerprint
from factory.ingest.stage import ingest
from factory.laptop.toy_sd.build import MANIFEST, toy_sd_path, toy_sd_resolution
from factory.laptop.toyworld.layouts import render_layout
from schemas.configs import AdaptConfig, ToyWorldConfig

WORLD = {"layout": "sysu_mm01", "train_identities": 8, "test_identities": 4,
         "images_per_camera": 4, "workers": 1}
CODES = {"rgb": "visible", "ir": "infrared"}
ADAPT = {"rank": 8, "lr": 1e-3, "token_lr": 5e-3, "batch_size": 16, "checkpoint_every": 100,
         "report_identities": 4, "report_steps": 20, "codes": CODES}
BANDS = ((0.30, 0.50), (0.60, 0.75))  # upper and lower clothes, as rows of the image
COLUMNS = (0.35, 0.65)
STEPS = 20


def channel_spread(image: np.ndarray) -> float:
    """Mean over pixels of max(R,G,B) - min(R,G,B), 0-255: 0 for a grey image."""
    image = image.astype(np.float32)
    return float((image.max(axis=2) - image.min(axis=2)).mean())


def appearance(image: np.ndarray) -> np.ndarray:
    """Colour histograms of the figure's clothes bands, L2-normalised."""
    height, width = image.shape[:2]
    parts = []
    for top, bottom in BANDS:
        band = image[int(top * height):int(bottom * height),
                     int(COLUMNS[0] * width):int(COLUMNS[1] * width)].reshape(-1, 3)
        bins = (band // 64).astype(np.int64)
        parts.append(np.bincount(bins[:, 0] * 16 + bins[:, 1] * 4 + bins[:, 2], minlength=64))
    feature = np.concatenate(parts).astype(np.float64)
    return feature / np.linalg.norm(feature)


def identity_scores(features: np.ndarray, labels: np.ndarray, prototypes: dict) -> dict:
    """Top-1 of matching each feature to the identities' prototypes, and own - other cosine."""
    pids = sorted(prototypes)
    similarity = features @ np.stack([prototypes[pid] for pid in pids]).T
    own = similarity[np.arange(len(labels)), [pids.index(label) for label in labels]]
    others = (similarity.sum(1) - own) / (len(pids) - 1)
    top1 = np.array(pids)[similarity.argmax(1)] == labels
    return {"top1": float(top1.mean()), "own_minus_other_cosine": float((own - others).mean())}


def render_world(folder: Path) -> Path:
    table = folder / "images.parquet"
    if not table.exists():
        root = render_layout(ToyWorldConfig(**WORLD), folder / "sysu_mm01")
        ingest("sysu_mm01", root, table, progress=False)
    return table


def generate(pipeline, prompts: list[str], seeds: list[int], size: tuple[int, int]) -> np.ndarray:
    import torch

    images = []
    for prompt, seed in zip(prompts, seeds, strict=True):
        output = pipeline(prompt, height=size[0], width=size[1], num_inference_steps=STEPS,
                          generator=torch.Generator().manual_seed(seed), output_type="np")
        images.append(np.round(output.images[0] * 255).astype(np.uint8))
    return np.stack(images)


def real_images(table: Path, size: tuple[int, int]) -> pl.DataFrame:
    rows = pl.read_parquet(table).filter(pl.col("split") == "train", pl.col("role") == "train")
    pixels = [np.asarray(Image.open(path).convert("RGB").resize(size[::-1]))
              for path in rows["path"].to_list()]
    return rows.with_columns(pl.Series("pixels", pixels, dtype=pl.Object))


def measure(config: AdaptConfig, adapters, table: Path, samples: int) -> dict:
    size = (config.height, config.width)
    real = real_images(table, size)
    rgb = real.filter(pl.col("modality") == "rgb")
    ir = real.filter(pl.col("modality") == "ir")
    prototypes = {pid: np.mean([appearance(p) for p in group["pixels"].to_list()], 0)
                  for (pid,), group in rgb.group_by("pid")}
    ir_prototypes = {pid: np.mean([appearance(p) for p in group["pixels"].to_list()], 0)
                     for (pid,), group in ir.group_by("pid")}
    pids = sorted(adapters.tokens)
    labels = np.repeat(pids, samples)
    seeds = [int(pid) * 100 + n for pid in pids for n in range(samples)]
    adapted = load_pipeline("text2img", config.model, adapters=adapters.path)
    made = {code: generate(adapted, [adapters.prompt(int(pid), code) for pid in labels], seeds,
                           size) for code in ("ir", "rgb")}
    untokened = generate(adapted, [f"a {CODES['rgb']} photo of a person"] * len(seeds), seeds,
                         size)
    base = generate(load_pipeline("text2img", config.model),
                    ["a infrared photo of a person"] * len(seeds), seeds, size)
    spread = {"adapted_ir_code": np.mean([channel_spread(i) for i in made["ir"]]),
              "adapted_rgb_code": np.mean([channel_spread(i) for i in made["rgb"]]),
              "base_infrared_words": np.mean([channel_spread(i) for i in base]),
              "real_ir": np.mean([channel_spread(p) for p in ir["pixels"].to_list()]),
              "real_rgb": np.mean([channel_spread(p) for p in rgb["pixels"].to_list()])}
    spread = {name: round(float(value), 2) for name, value in spread.items()}
    spread["ratio_ir_code_to_rgb_code"] = round(spread["adapted_ir_code"]
                                                / spread["adapted_rgb_code"], 3)
    real_features = np.stack([appearance(p) for p in rgb["pixels"].to_list()])
    real_labels = rgb["pid"].to_numpy()
    leave_one_out = []
    for index, label in enumerate(real_labels):
        own = real_labels == label
        own[index] = False
        held = {pid: real_features[(real_labels == pid) & (np.arange(len(real_labels)) != index)]
                .mean(0) for pid in prototypes}
        leave_one_out.append(identity_scores(real_features[index:index + 1],
                                             np.array([label]), held)["top1"])
    identity = {
        "feature": "RGB colour histograms of the upper/lower clothes bands (see docstring)",
        "identities": len(pids), "chance_top1": round(1 / len(pids), 3),
        "with_token": identity_scores(np.stack([appearance(i) for i in made["rgb"]]), labels,
                                      prototypes),
        "without_token": identity_scores(np.stack([appearance(i) for i in untokened]), labels,
                                         prototypes),
        "ir_code_with_token_vs_real_ir": identity_scores(
            np.stack([appearance(i) for i in made["ir"]]), labels, ir_prototypes),
        "real_leave_one_out_top1": float(np.mean(leave_one_out))}
    return {"channel_spread": spread, "identity": identity}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--toy-sd", default="out/demo/models/toy-sd",
                        help="a toy SD build (factory toy-model --out DIR)")
    parser.add_argument("--out", default="bench/results/adapt_toy.json")
    parser.add_argument("--work", default="out/bench_adapt_toy", help="world, runs, adapters")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--samples", type=int, default=8, help="generated images per identity")
    args = parser.parse_args()
    if not (Path(args.toy_sd) / MANIFEST).is_file():
        print(f"{args.toy_sd}: no toy SD build; make one with `factory toy-model --out DIR`",
              file=sys.stderr)
        return 2
    model = toy_sd_path(Path(args.toy_sd).resolve(), "text2img")
    height, width = toy_sd_resolution(args.toy_sd)
    work = Path(args.work).resolve()
    table = render_world(work / "world")
    config = AdaptConfig(model=str(model), images=table, out=work / "adapters",
                         storage_path=work / "runs", name=f"adapt-{model_fingerprint(model)}",
                         steps=args.steps, height=height, width=width, **ADAPT)
    ray.init(num_cpus=2, log_to_driver=False)
    start = time.perf_counter()
    adapters, report = run_adapt(config)
    minutes = (time.perf_counter() - start) / 60
    ray.shutdown()
    results = {"model": str(model), "model_fingerprint": adapters.base_fingerprint,
               "adapters_fingerprint": adapters.fingerprint, "steps": args.steps,
               "adapt_minutes_this_run": round(minutes, 2), "report": str(report),
               "settings": {**ADAPT, "world": WORLD, "samples_per_identity": args.samples,
                            "inference_steps": STEPS},
               **measure(config, adapters, table, args.samples)}
    write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
