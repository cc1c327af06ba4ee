"""Prompt-following of the toy Stable Diffusion: does it draw the colours its prompt names?

On `--images` prompts with known top and bottom colours (plain tops, no bag, every ordered pair of
distinct palette colours), the share of generated images whose canonical top (bottom) region
shows the prompted colour; and on as many real toy renders whose clothes mask is inpainted with
another outfit's DLCR prompt, the share showing the new top (bottom) colour. The baseline, measured
in the same run, is the same judge on real renders of the same outfits (it should be ~1.0); chance
is 1/12. Also writes a sample grid (text-to-image rows, then source / inpainted pairs).

    python bench/toy_sd_quality.py [--model DIR] --out bench/results/toy_sd_quality.json
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from factory.atomic import write_bytes, write_text
from factory.diffusion.loader import load_pipeline
from factory.laptop.toy_sd import judge as pf
from factory.laptop.toy_sd.build import MANIFEST, build_toy_sd, toy_sd_path, toy_sd_resolution
from factory.laptop.toyworld.render import encode_png

TARGETS = {"text2img_top": 0.8, "text2img_bottom": 0.7, "inpaint_top": 0.8}
GRID_COLUMNS = 16
LABEL_ROW = 22


def inpaint_targets(sources, rng: np.random.Generator):
    """For each source outfit another plain outfit whose top colour differs (DLCR's rule)."""
    pool = pf.plain_outfits(rng, 2 * len(sources))
    return [next(o for o in pool[i:] + pool if o.top_colour != source.top_colour)
            for i, source in enumerate(sources)]


def grid(rows: list[tuple[np.ndarray, list[str]]]) -> bytes:
    """PNG of image rows, each cell captioned (at most GRID_COLUMNS cells a row)."""
    height, width = rows[0][0].shape[1:3]
    scale = 2
    sheet = Image.new("RGB", (GRID_COLUMNS * width * scale,
                              len(rows) * (height * scale + LABEL_ROW)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, (images, labels) in enumerate(rows):
        top = r * (height * scale + LABEL_ROW)
        for c, (image, label) in enumerate(zip(images[:GRID_COLUMNS], labels, strict=False)):
            cell = Image.fromarray(image).resize((width * scale, height * scale), Image.NEAREST)
            sheet.paste(cell, (c * width * scale, top + LABEL_ROW))
            draw.text((c * width * scale + 1, top), label.replace(" ", "\n", 1), fill=(0, 0, 0))
    return encode_png(np.asarray(sheet))


def measure(model: Path, count: int, guidance: float, steps: int) -> tuple[dict, bytes]:
    height, width = toy_sd_resolution(model)
    rng = np.random.default_rng(0)
    # 1. the judge on real renders: the baseline (its own error rate)
    outfits = pf.plain_outfits(rng, count)
    real, real_masks = pf.real_renders(outfits, height=height, width=width)
    judge = {"canonical": vars(pf.judge_canonical(real, outfits)),
             "masked": vars(pf.judge_masked(real, real_masks, outfits))}
    # 2. text-to-image
    pipeline = load_pipeline("text2img", toy_sd_path(model, "text2img"))
    start = time.perf_counter()
    generated, _ = pf.text2img_samples(pipeline, outfits, height=height, width=width,
                                       guidance=guidance, steps=steps)
    text2img_ms = 1000 * (time.perf_counter() - start) / count
    text2img = pf.judge_canonical(generated, outfits)
    # 3. inpainting the real renders' clothes with other outfits
    targets = inpaint_targets(outfits, rng)
    pipeline = load_pipeline("inpaint", toy_sd_path(model, "inpaint"))
    start = time.perf_counter()
    inpainted, _ = pf.inpaint_samples(pipeline, real, real_masks, targets, guidance=guidance,
                                      steps=steps)
    inpaint_ms = 1000 * (time.perf_counter() - start) / count
    inpaint = pf.judge_masked(inpainted, real_masks, targets)
    rates = {"text2img_top": text2img.top, "text2img_bottom": text2img.bottom,
             "inpaint_top": inpaint.top, "inpaint_bottom": inpaint.bottom}
    manifest = json.loads((model / MANIFEST).read_text())
    result = {
        "model": str(model), "build": manifest["hash"], "spec": manifest["spec"],
        "training_log": manifest.get("training_log"),
        "images": count, "height": height, "width": width, "guidance": guidance, "steps": steps,
        "rates": rates, "targets": TARGETS,
        "meets_targets": all(rates[key] >= value for key, value in TARGETS.items()),
        "judge_on_real_renders": judge, "chance": 1 / len(pf.COLOUR_NAMES),
        "ratio_to_real": {key: rates[key] / judge["canonical" if key.startswith("text")
                                                  else "masked"][key.split("_")[1]]
                          for key in rates},
        "ms_per_image": {"text2img": round(text2img_ms, 1), "inpaint": round(inpaint_ms, 1)},
        "machine": {"cpu": platform.processor() or platform.machine()},
    }
    label = [f"{o.top_colour} {o.bottom_colour}" for o in outfits]
    new = [f"{o.top_colour} {o.bottom_colour}" for o in targets]
    rows = [(generated[n:n + GRID_COLUMNS], label[n:n + GRID_COLUMNS])
            for n in range(0, 4 * GRID_COLUMNS, GRID_COLUMNS)]
    half = GRID_COLUMNS // 2
    for n in range(0, 2 * half, half):
        pairs = np.stack([image for k in range(n, n + half) for image in (real[k], inpainted[k])])
        names = [text for k in range(n, n + half) for text in ("source", f"-> {new[k]}")]
        rows.append((pairs, names))
    return result, grid(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="toy SD build (default: build the small size into "
                                        "--cache, or reuse it there)")
    parser.add_argument("--cache", default="out/toy-sd-small")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--steps", type=int, default=20, help="DDIM steps")
    parser.add_argument("--out", default="bench/results/toy_sd_quality.json")
    parser.add_argument("--grid", default="bench/results/toy_sd_samples.png")
    args = parser.parse_args()
    model = Path(args.model) if args.model else build_toy_sd(args.cache, size="small")
    result, png = measure(model, args.images, args.guidance, args.steps)
    result["grid"] = args.grid
    write_bytes(args.grid, png)
    write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({key: result[key] for key in ("rates", "meets_targets", "ms_per_image")}))


if __name__ == "__main__":
    main()
