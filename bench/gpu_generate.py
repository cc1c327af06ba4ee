"""Benchmark: text-to-image throughput of an SD-1.5-shaped pipeline, bare diffusers loop against
the factory's generate actor on the same batch, over precision, batch size, attention,
channels_last and `torch.compile`; images/s and the share of the device's peak FLOP rate.

The model is SD-1.5's UNet layout with random weights (`--shape sd15`: 320/640/1280/1280
channels, 768-wide cross-attention, a random 768-wide CLIP text encoder of 2 layers) on the tiny
stand-ins' VAE and tokenizer, or the tiny stand-ins themselves (`--shape tiny`, what `--smoke`
uses so it runs on a CPU in seconds). FLOPs are counted on one UNet forward with torch's
`FlopCounterMode` (matmuls and convolutions; classifier-free guidance doubles the batch) times the
steps; the VAE decode and text encoder are left out, so the share is the UNet's. Peak rates are
dense bf16/fp16 tensor-core figures (`PEAK_TFLOPS`); on a CPU there is none and the share is null.

Sweep: one baseline (first dtype, SDPA, no channels_last, no compile, first batch size), then one
setting changed at a time, every batch size, at every image size; each row times `--calls`
pipeline calls after one warm-up call (compile happens there). The last rows run the factory's
DiVE actor (`factory.generate.dive.DiveGenerator`: per-image seeded generators, checks, raw
pixels out, as the generate stage encodes them in its CPU write tasks) and the bare loop (numpy
out, no encoding either) on the same batch with the best setting found.

    python -m bench.gpu_generate --out bench/results/gpu_generate.json          # on a GPU
    python -m bench.gpu_generate --smoke --out /tmp/gpu_generate.json           # CPU check
"""

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from factory.diffusion.loader import load_pipeline
from factory.generate.dive import DiveGenerator
from factory.generate.task_batch import generators
from factory.laptop.stand_ins.diffusion import build_tiny_sd
from schemas.generation_configs import GenerationJobConfig

# Dense bf16/fp16 tensor-core peaks, TFLOP/s (vendor data sheets, without sparsity).
PEAK_TFLOPS = {"H200": 989.5, "H100": 989.5, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
               "A10": 125.0}
SD15_UNET = {"block_out_channels": (320, 640, 1280, 1280), "cross_attention_dim": 768,
             "attention_head_dim": 8, "layers_per_block": 2, "norm_num_groups": 32,
             "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
             "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3}
PROMPT = "a visible photo of a person in a red jacket and blue jeans"
NEGATIVE = "blurry, low quality"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/gpu_generate.json"))
    parser.add_argument("--shape", choices=("sd15", "tiny"), default="sd15")
    parser.add_argument("--sizes", nargs="+", default=["512x256", "768x256"], help="HxW")
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float16"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[4, 8, 16, 32])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--calls", type=int, default=2, help="timed calls per row")
    parser.add_argument("--no-compile", dest="compile", action="store_false",
                        help="leave the torch.compile row out (it compiles for minutes)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny stand-ins, 64x32, float32, batches 1 and 2, 2 steps, no "
                        "compile: a CPU check in seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.shape, args.sizes, args.dtypes = "tiny", ["64x32"], ["float32"]
        args.batch_sizes, args.steps, args.calls, args.compile = [1, 2], 2, 1, False
    return args


def build_model(shape: str, folder: Path) -> Path:
    """A text-to-image pipeline folder: the tiny stand-ins, with SD-1.5's UNet and a 768-wide
    text encoder (random weights) swapped in for `sd15`."""
    build_tiny_sd(folder)
    if shape == "tiny":
        return folder
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    pipeline = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None,
                                                       requires_safety_checker=False)
    text = pipeline.text_encoder.config
    torch.manual_seed(0)
    pipeline.text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=text.vocab_size, hidden_size=768, intermediate_size=3072, num_hidden_layers=2,
        num_attention_heads=12, max_position_embeddings=text.max_position_embeddings,
        bos_token_id=text.bos_token_id, eos_token_id=text.eos_token_id,
        pad_token_id=text.pad_token_id))
    pipeline.unet = UNet2DConditionModel(sample_size=64, in_channels=4, out_channels=4,
                                         **SD15_UNET)
    pipeline.save_pretrained(folder)
    return folder


def configure(pipeline, *, attention: str, channels_last: bool, compiled: bool) -> None:
    """Apply the bench settings to a loaded pipeline's UNet (either side, the same way)."""
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    pipeline.unet.set_attn_processor(AttnProcessor2_0() if attention == "sdpa" else AttnProcessor())
    if channels_last:
        pipeline.unet.to(memory_format=torch.channels_last)
    if compiled:
        pipeline.unet = torch.compile(pipeline.unet)


def unet_flops_per_image(pipeline, height: int, width: int, steps: int) -> float:
    """UNet FLOPs of one image: one forward on its classifier-free-guidance pair (conditioned and
    unconditioned latents), times the steps."""
    from torch.utils.flop_counter import FlopCounterMode

    unet = getattr(pipeline.unet, "_orig_mod", pipeline.unet)
    parameter = next(unet.parameters())
    latents = torch.zeros(2, 4, height // 8, width // 8, dtype=parameter.dtype,
                          device=parameter.device)
    context = torch.zeros(2, 77, unet.config.cross_attention_dim, dtype=parameter.dtype,
                          device=parameter.device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        unet(latents, torch.tensor(500, device=parameter.device), context)
    return counter.get_total_flops() * steps


def bare_call(pipeline, batch: int, height: int, width: int, steps: int, seed: int = 0):
    """The loop a user writes: one pipeline call per batch, one seeded generator per image."""
    return pipeline(prompt=[PROMPT] * batch, negative_prompt=[NEGATIVE] * batch, height=height,
                    width=width, num_inference_steps=steps, guidance_scale=7.5,
                    generator=generators(list(range(seed, seed + batch))), output_type="np")


def timed(call, calls: int) -> float:
    """Seconds per call: one warm-up call (compiling, when compiled), then the best of `calls`."""
    call()
    best = float("inf")
    for _ in range(calls):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)


def variants(args) -> list[dict]:
    """The baseline, then one setting changed at a time."""
    base = {"dtype": args.dtypes[0], "attention": "sdpa", "channels_last": False,
            "compile": False, "batch": args.batch_sizes[0]}
    changed = ([{"dtype": dtype} for dtype in args.dtypes[1:]]
               + [{"attention": "classic"}, {"channels_last": True}]
               + ([{"compile": True}] if args.compile else [])
               + [{"batch": batch} for batch in args.batch_sizes[1:]])
    return [base] + [base | change for change in changed]


def load(folder: Path, setting: dict, device):
    from factory.generate.task_batch import torch_dtype

    pipeline = load_pipeline("text2img", folder, torch_dtype=torch_dtype(setting["dtype"]))
    pipeline = pipeline.to(device)
    configure(pipeline, attention=setting["attention"], channels_last=setting["channels_last"],
              compiled=setting["compile"])
    return pipeline


def measure(folder: Path, setting: dict, size: tuple[int, int], args, device) -> dict:
    height, width = size
    pipeline = load(folder, setting, device)
    seconds = timed(lambda: bare_call(pipeline, setting["batch"], height, width, args.steps),
                    args.calls)
    flops = unet_flops_per_image(pipeline, height, width, args.steps)
    images_per_s = setting["batch"] / seconds
    peak = peak_tflops(device)
    return setting | {"size": f"{height}x{width}", "seconds_per_call": seconds,
                      "images_per_s": images_per_s, "unet_tflop_per_image": flops / 1e12,
                      "unet_tflops": images_per_s * flops / 1e12,
                      "peak_share": None if peak is None else images_per_s * flops / 1e12 / peak}


def task_batch(batch: int, height: int, width: int, steps: int) -> dict:
    """`batch` DiVE text-to-image task rows (schemas.tables.TASKS) with the bare loop's prompts
    and seeds."""
    params = json.dumps({"height": height, "width": width, "steps": steps, "guidance": 7.5})
    return {"task_id": [f"bench{i}" for i in range(batch)], "method": ["dive"] * batch,
            "pid": [1] * batch, "source_image_id": [None] * batch, "source_path": [None] * batch,
            "target_modality": ["rgb"] * batch, "target_outfit": [None] * batch,
            "prompt": [PROMPT] * batch, "negative_prompt": [NEGATIVE] * batch,
            "seed": list(range(batch)), "params": [params] * batch,
            "model_fingerprint": ["bench"] * batch, "adapter_fingerprint": [None] * batch}


def actor_vs_bare(folder: Path, setting: dict, size: tuple[int, int], args, device,
                  work: Path) -> dict:
    """The factory's DiVE actor and the bare loop on the same batch, same setting."""
    height, width = size
    config = GenerationJobConfig(
        method="dive", images=work / "images.parquet", prompts=work / "prompts.parquet",
        out=work / "job", model=str(folder),
        plan={"recipe": {"height": height, "width": width, "steps": args.steps,
                         "guidance": 7.5, "dtype": setting["dtype"]}})
    actor = DiveGenerator(config)
    configure(actor.pipeline, attention=setting["attention"],
              channels_last=setting["channels_last"], compiled=setting["compile"])
    batch = task_batch(setting["batch"], height, width, args.steps)
    actor_seconds = timed(lambda: actor(batch), args.calls)
    failed = [error for error in actor(batch).column("error").to_pylist() if error]
    bare = load(folder, setting, device)
    bare_seconds = timed(lambda: bare_call(bare, setting["batch"], height, width, args.steps),
                         args.calls)
    return setting | {"size": f"{height}x{width}", "actor_images_per_s": setting["batch"]
                      / actor_seconds, "bare_images_per_s": setting["batch"] / bare_seconds,
                      "ratio_actor_to_bare": bare_seconds / actor_seconds,
                      "actor_errors": failed}


def main(argv=None) -> int:
    args = parse_args(argv)
    from factory.generate.task_batch import pick_device

    device = pick_device()
    sizes = [tuple(int(side) for side in size.split("x")) for size in args.sizes]
    rows, comparisons = [], []
    with tempfile.TemporaryDirectory() as scratch:
        folder = build_model(args.shape, Path(scratch) / "model")
        for size in sizes:
            measured = [measure(folder, setting, size, args, device) for setting in variants(args)]
            rows += measured
            best = max(measured, key=lambda row: row["images_per_s"])
            setting = {key: best[key] for key in variants(args)[0]}
            comparisons.append(actor_vs_bare(folder, setting, size, args, device,
                                             Path(scratch)))
            print(f"{size}: best {best['images_per_s']:.2f} images/s with {setting}; actor/bare "
                  f"{comparisons[-1]['ratio_actor_to_bare']:.2f}x", flush=True)
    result = {
        "benchmark": "gpu_generate: SD-1.5-shaped text-to-image, bare loop and generate actor",
        "shape": args.shape, "steps": args.steps, "rows": rows, "actor_vs_bare": comparisons,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "peak_tflops": peak_tflops(device),
        "environment": {"python": platform.python_version(), "torch": torch.__version__},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if not any(row["actor_errors"] for row in comparisons) else 1


if __name__ == "__main__":
    sys.exit(main())
