"""Peak memory of one adapt step and one ReID training step, over (model, resolution, batch,
precision).

    python -m bench.memory --out bench/results/memory.json            # CPU: tiny stand-ins
    python -m bench.memory --sd15 --out bench/results/memory_gpu.json  # GPU: SD-1.5 shapes

Each point runs in a fresh process (`--point JSON`), through the steps the stages take
(`factory.adapt.model.train_step`, `factory.train.loop.train_step`) with the precision's
autocast, loss scaler and (GPU) frozen-weight cast (`factory.precision`). The adapt model is the
tiny SD-1.5 stand-in (`factory.laptop.stand_ins`, built here unless `--stand-ins DIR` names the
folder `factory models tiny` wrote), or with `--sd15` a randomly initialised pipeline of
SD-1.5's full shapes (860M-parameter UNet, 123M CLIP text encoder, 84M VAE), LoRA rank 128 as
DiVE trains it. ReID is BoT on a randomly initialised ResNet. The batch is random pixels; data
loading is not measured.

Peak: on CPU, the resident-set high-water mark during the step (VmHWM, reset through
/proc/self/clear_refs after the model is built) minus the resident set before the model was
built (libraries imported and a small step run first): weights, optimiser state, gradients
and activations; on a GPU,
`torch.cuda.max_memory_allocated` over the same span (the model is built on the GPU). One step
is measured after one warm-up step, so the optimiser state exists.
"""

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from factory.atomic import write_text
from factory.precision import MixedPrecision

GIB = 2**30
IDENTITIES = 8  # identity tokens of the adapt model
# (model, (height, width), batch, precision, gradient checkpointing) per grid
ADAPT_CPU = [("stand-in", size, batch, precision, False)
             for size, batch, precision in itertools.product(
                 [(64, 32), (256, 128)], [1, 4], ["fp32", "bf16"])] + \
            [("stand-in", (256, 128), 4, "fp32", True)]
REID_CPU = [(arch, size, batch, precision, False)
            for arch, size, batch, precision in itertools.product(
                ["resnet18", "resnet50"], [(128, 64), (256, 128)], [16], ["fp32", "bf16"])]
ADAPT_GPU = [("sd15", size, batch, precision, checkpointing)
             for size, batch, precision, checkpointing in itertools.product(
                 [(512, 256)], [1, 4, 16], ["fp32", "bf16", "fp16"], [False, True])] + \
            [("sd15", (512, 512), 4, "bf16", checkpointing) for checkpointing in (False, True)]
REID_GPU = [(arch, (256, 128), batch, precision, False)
            for arch, batch, precision in itertools.product(
                ["resnet50"], [64, 128], ["fp32", "bf16", "fp16"])]


def resident_bytes(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


class PeakMemory:
    """Peak memory of what is built and run after `start()` (see the module docstring)."""

    def __init__(self, device: torch.device):
        self.device = device

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        else:
            self.base = resident_bytes()

    def reset_high_water(self) -> None:
        if self.device.type == "cpu":
            Path("/proc/self/clear_refs").write_text("5")

    def peak(self) -> int:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) - self.base
        return resident_bytes("VmHWM") - self.base


def warm_up_process(device: torch.device) -> None:
    """Import what building the models imports and run a small autocast step in each dtype, so
    libraries and first-use kernel buffers are resident before the baseline is taken."""
    import diffusers  # noqa: F401
    import peft.tuners.lora  # noqa: F401
    import torchvision.models  # noqa: F401
    import transformers  # noqa: F401
    from diffusers import DDPMScheduler, StableDiffusionPipeline  # noqa: F401
    from transformers import CLIPTextModel  # noqa: F401

    layer = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.GroupNorm(2, 8),
                                torch.nn.Flatten(), torch.nn.LazyLinear(4)).to(device)
    for dtype in (torch.float32, torch.bfloat16):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = layer(torch.randn(2, 3, 16, 16, device=device)).float().square().mean()
        loss.backward()


def build_sd15_random(out: Path) -> Path:
    """A text-to-image pipeline folder of SD-1.5's shapes with random weights."""
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPTextConfig, CLIPTextModel

    from factory.laptop.stand_ins.diffusion import SCHEDULER_CONFIG
    from factory.laptop.toy_sd.tokenizer import (
        MODEL_MAX_LENGTH,
        VOCAB_SIZE,
        clip_tokenizer,
        write_clip_tokenizer_files,
    )

    torch.manual_seed(0)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=VOCAB_SIZE, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
        num_attention_heads=12, max_position_embeddings=MODEL_MAX_LENGTH, hidden_act="quick_gelu",
        projection_dim=768, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407))
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4,
                        block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                        sample_size=512)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
    StableDiffusionPipeline(
        unet=unet, text_encoder=text, vae=vae, tokenizer=clip_tokenizer(),
        scheduler=PNDMScheduler.from_config(SCHEDULER_CONFIG), safety_checker=None,
        feature_extractor=CLIPImageProcessor(), requires_safety_checker=False,
    ).save_pretrained(out)
    write_clip_tokenizer_files(out / "tokenizer")
    return out


def adapt_point(point: dict, device: torch.device, meter: PeakMemory) -> float:
    """One adapt step's loss (after a warm-up step); the model is built after `meter.start()`."""
    from factory.adapt.model import build_parts, train_step
    from factory.diffusion.adapters import PROMPT, identity_token
    from schemas.diffusion_configs import AdaptConfig

    height, width = point["size"]
    config = AdaptConfig(model=point["model_path"], images="unused.parquet", out="unused",
                         height=height, width=width, batch_size=point["batch"],
                         rank=point["rank"], precision=point["precision"],
                         gpus_per_worker=float(device.type == "cuda"),
                         gradient_checkpointing=point["gradient_checkpointing"])
    tokens = {pid: identity_token(pid) for pid in range(IDENTITIES)}
    meter.start()
    parts = build_parts(config, tokens)
    mixed = MixedPrecision(config.precision, device)
    model = mixed.cast_frozen(parts.model).to(device)
    mixed.cast_frozen(parts.vae).to(device)
    optimizer = torch.optim.AdamW([p for group in parts.trainable() for p in group], lr=config.lr)
    generator = torch.Generator(device).manual_seed(0)
    pixels = torch.rand(config.batch_size, 3, height, width, generator=generator,
                        device=device) * 2 - 1
    prompts = [PROMPT.format(code="infrared", token=tokens[index % IDENTITIES])
               for index in range(config.batch_size)]
    train_step(parts, model, (pixels, prompts), optimizer=optimizer, mixed=mixed,
               generator=generator)
    meter.reset_high_water()
    return train_step(parts, model, (pixels, prompts), optimizer=optimizer, mixed=mixed,
                      generator=generator)


def reid_point(point: dict, device: torch.device, meter: PeakMemory) -> float:
    """One BoT step's loss (after a warm-up step) on `batch` random images of 4 per identity."""
    from factory.reid.models import model_class
    from factory.train.loop import train_step
    from factory.train.objectives import Objective
    from schemas.configs import TrainConfig

    height, width = point["size"]
    config = TrainConfig(images="unused.parquet", arch=point["model"], height=height,
                         width=width, p=point["batch"] // 4, k=4, precision=point["precision"],
                         gpus_per_worker=float(device.type == "cuda"))
    classes = 751  # Market-1501's training identities
    meter.start()
    model = model_class("bot")(classes, arch=config.arch).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    objective = Objective(config, data=None)  # BoT reads no dataset (CAL's clothes matrix does)
    generator = torch.Generator(device).manual_seed(0)
    batch = {"image": torch.randn(point["batch"], 3, height, width, generator=generator,
                                  device=device),
             "label": torch.arange(config.p, device=device).repeat_interleave(config.k),
             "modality": torch.zeros(point["batch"], dtype=torch.long, device=device)}
    mixed = MixedPrecision(config.precision, device)
    train_step(model, batch, objective, optimizer, epoch=0, mixed=mixed)
    meter.reset_high_water()
    parts = train_step(model, batch, objective, optimizer, epoch=0, mixed=mixed)
    return sum(parts.values())


def run_point(point: dict) -> dict:
    """Measure one point in this process; returns the point with its peak and seconds."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    warm_up_process(device)
    torch.manual_seed(0)  # the ReID model's initialisation (the LoRA's takes the config's seed)
    meter = PeakMemory(device)
    start = time.perf_counter()
    loss = (adapt_point if point["stage"] == "adapt" else reid_point)(point, device, meter)
    return point | {"peak_gib": meter.peak() / GIB, "loss": loss,
                    "seconds": time.perf_counter() - start, "device": device.type}


def grid(sd15_path: Path | None, stand_in_path: Path | None) -> list[dict]:
    adapt, reid = (ADAPT_GPU, REID_GPU) if sd15_path else (ADAPT_CPU, REID_CPU)
    path, rank = (sd15_path, 128) if sd15_path else (stand_in_path, 4)
    points = [{"stage": "adapt", "model": model, "model_path": str(path), "rank": rank,
               "size": size, "batch": batch, "precision": precision,
               "gradient_checkpointing": checkpointing}
              for model, size, batch, precision, checkpointing in adapt]
    return points + [{"stage": "reid", "model": arch, "size": size, "batch": batch,
                      "precision": precision, "gradient_checkpointing": checkpointing}
                     for arch, size, batch, precision, checkpointing in reid]


def measure_in_fresh_process(point: dict) -> dict:
    command = [sys.executable, "-m", "bench.memory", "--point", json.dumps(point)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no error output"]
        return point | {"error": tail[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/memory.json"))
    parser.add_argument("--sd15", action="store_true",
                        help="adapt a random-weight SD-1.5-shaped pipeline (for a GPU)")
    parser.add_argument("--stand-ins", type=Path, default=None,
                        help="folder `factory models tiny` wrote (default: build the SD one)")
    parser.add_argument("--point", help=argparse.SUPPRESS)  # one point, in this process
    args = parser.parse_args()
    if args.point:
        print(json.dumps(run_point(json.loads(args.point))))
        return 0
    with tempfile.TemporaryDirectory() as work:
        if args.sd15:
            sd15, stand_in = build_sd15_random(Path(work) / "sd15"), None
        elif args.stand_ins:
            sd15, stand_in = None, args.stand_ins.resolve() / "sd-text2img"
        else:
            from factory.laptop.stand_ins.diffusion import build_tiny_sd

            sd15, stand_in = None, build_tiny_sd(Path(work) / "sd-text2img")
        results = []
        for point in grid(sd15, stand_in):
            results.append(measure_in_fresh_process(point))
            print(json.dumps(results[-1]), flush=True)
    for result in results:
        result.pop("model_path", None)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    write_text(args.out, json.dumps({"device": name, "results": results}, indent=1) + "\n")
    failed = [result for result in results if "error" in result]
    print(f"wrote {args.out}" + (f"; {len(failed)} points failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
