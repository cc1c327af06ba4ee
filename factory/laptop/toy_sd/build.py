"""A tiny, randomly initialised Stable Diffusion 1.5 look-alike, made locally in seconds.

`build_toy_sd(folder)` writes two diffusers folders that the real pipeline classes load unchanged:

    <folder>/sd              StableDiffusionPipeline / StableDiffusionImg2ImgPipeline (4-ch UNet)
    <folder>/sd-inpainting   StableDiffusionInpaintPipeline (9-ch UNet: latents + mask + masked)
    <folder>/toy_sd.json     the build's spec and its hash (the cache key)

Both share copies of the same text encoder, VAE, tokenizer (SD-1.5's real CLIP BPE) and DDIM
scheduler config; the safety checker and feature extractor are saved as absent. The VAE
downscales x4 (three blocks), so a 64x32 image has 16x8 latents. Each size comes with its training
settings (`TOY_TRAINING`, see `toy_training`): the components are built from seeds here, trained
on the toy world there, then saved. The manifest records the native image size and training log.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from factory.diffusion.loader import PIPELINES, check_choice
from factory.laptop.toy_sd.tokenizer import MODEL_MAX_LENGTH, VOCAB_SIZE
from factory.laptop.toy_sd.training import ToyComponents, ToyTraining
from factory.laptop.toyworld.world import WORLD_VERSION

SD_DIR = "sd"
INPAINT_DIR = "sd-inpainting"
MANIFEST = "toy_sd.json"
# Bump when the layout or the way components are built changes, so old caches are rebuilt.
FORMAT_VERSION = 2
# SD-1.5's noise schedule, so schedulers swapped in by the loader behave as on the real model.
SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
}


@dataclass(frozen=True)
class ToySize:
    """Widths of one toy model size (all channel counts divisible by `norm_groups`)."""

    text_hidden: int
    """Hidden size of the CLIP text encoder; also the UNet's cross-attention width."""
    text_layers: int
    """Transformer layers of the text encoder."""
    vae_channels: tuple[int, int, int]
    """VAE block widths; three blocks give a x4 downscale."""
    unet_channels: tuple[int, int]
    """UNet block widths (first block plain, second with cross-attention)."""
    unet_layers: int
    """ResNet layers per UNet block."""
    norm_groups: int
    """Group-norm groups in the UNet."""
    vae_norm_groups: int
    """Group-norm groups in the VAE: few, as one-channel groups normalise colour away and the VAE
    learns colours slowly."""
    sample_size: int
    """Nominal image side in pixels (the UNet's `sample_size` is this divided by 4)."""


TOY_SIZES = {
    "smoke": ToySize(text_hidden=32, text_layers=2, vae_channels=(8, 16, 16),
                     unet_channels=(16, 32), unet_layers=1, norm_groups=8, vae_norm_groups=2,
                     sample_size=64),
    "small": ToySize(text_hidden=64, text_layers=2, vae_channels=(8, 16, 32),
                     unet_channels=(32, 64), unet_layers=2, norm_groups=8, vae_norm_groups=2,
                     sample_size=64),
}
# The smoke size trains a couple of steps (it checks the code path); "small" follows prompts.
TOY_TRAINING = {
    "smoke": ToyTraining(images=32, height=64, width=32, batch=4, vae_batch=4, vae_steps=2,
                         clip_steps=2, clip_batch=4, unet_steps=2, inpaint_steps=2, warmup=1),
    "small": ToyTraining(images=10_000, height=64, width=32, batch=64, vae_steps=1500,
                         clip_steps=500, unet_steps=900, inpaint_steps=250),
}


def toy_sd_spec(size: str, seed: int, training: ToyTraining | None = None) -> dict:
    """The JSON-ready description of a build; its hash decides whether a cached build is reused
    (a build on an older toy world is not). `training` defaults to the size's `TOY_TRAINING`."""
    if size not in TOY_SIZES:
        raise ValueError(f"unknown toy SD size {size!r}; valid: {sorted(TOY_SIZES)}")
    training = training or TOY_TRAINING[size]
    return {"format": FORMAT_VERSION, "world": WORLD_VERSION, "size": size, "seed": seed,
            "widths": dataclasses.asdict(TOY_SIZES[size]),
            "training": dataclasses.asdict(training)}


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def cached_hash(folder: str | os.PathLike) -> str | None:
    """The hash recorded in `folder`'s manifest, or None if there is no complete build."""
    manifest = Path(folder) / MANIFEST
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text()).get("hash")


def make_text_encoder(size: ToySize, seed: int):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=VOCAB_SIZE, hidden_size=size.text_hidden,
        intermediate_size=size.text_hidden * 4, num_hidden_layers=size.text_layers,
        num_attention_heads=4, max_position_embeddings=MODEL_MAX_LENGTH,
        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, projection_dim=size.text_hidden,
    )
    torch.manual_seed(seed)
    return CLIPTextModel(config).eval()


def make_vae(size: ToySize, seed: int):
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=size.vae_channels, layers_per_block=1,
        norm_num_groups=size.vae_norm_groups, sample_size=size.sample_size,
        mid_block_add_attention=False,  # fully convolutional: trains on crops (see toy_training)
    ).eval()


def make_unet(size: ToySize, seed: int, *, in_channels: int):
    """The denoiser: 4 input channels for text-to-image, 9 for inpainting.

    Besides cross-attention, the text conditions every ResNet block through a pooled text
    embedding added to the timestep embedding (`addition_embed_type="text"`, as DeepFloyd IF; SDXL
    adds pooled CLIP embeddings likewise): a model this small learns prompt-following much faster
    with it, and it needs no extra pipeline inputs.
    """
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=size.sample_size // 4, in_channels=in_channels, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=size.unet_channels, layers_per_block=size.unet_layers,
        norm_num_groups=size.norm_groups, cross_attention_dim=size.text_hidden,
        attention_head_dim=8, addition_embed_type="text", addition_embed_type_num_heads=4,
    ).eval()


def save_pipelines(folder: Path, size: ToySize, seed: int, training: ToyTraining, *,
                   progress: bool = True) -> dict:
    """Build every component with its own derived seed, train them on the toy world and save both
    pipeline folders; returns the training log."""
    from diffusers import DDIMScheduler, StableDiffusionInpaintPipeline, StableDiffusionPipeline

    from factory.laptop.toy_sd.tokenizer import clip_tokenizer, write_clip_tokenizer_files
    from factory.laptop.toy_sd.training import train_toy_sd

    components = ToyComponents(tokenizer=clip_tokenizer(),
                               text_encoder=make_text_encoder(size, seed),
                               vae=make_vae(size, seed + 1),
                               unet=make_unet(size, seed + 2, in_channels=4))
    inpaint_unet, log = train_toy_sd(components, training, seed + 3, progress=progress)
    shared = {
        "tokenizer": components.tokenizer,
        "text_encoder": components.text_encoder,
        "vae": components.vae,
        "scheduler": DDIMScheduler(**SCHEDULER_CONFIG),
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }
    StableDiffusionPipeline(unet=components.unet, **shared).save_pretrained(folder / SD_DIR)
    inpaint = StableDiffusionInpaintPipeline(unet=inpaint_unet, **shared)
    inpaint.save_pretrained(folder / INPAINT_DIR)
    for pipeline_dir in (SD_DIR, INPAINT_DIR):  # also the slow-tokenizer files, as SD-1.5 has
        write_clip_tokenizer_files(folder / pipeline_dir / "tokenizer")
    return log


def build_toy_sd(folder: str | os.PathLike, *, size: str = "smoke", seed: int = 0,
                 training: ToyTraining | None = None, progress: bool = True) -> Path:
    """Write the toy SD pair into `folder` (see the module docstring) and return `folder`.

    `training` defaults to the size's `TOY_TRAINING`. Cached: a folder whose manifest has the same
    spec hash is left as is. Otherwise the build is made in a temporary sibling folder and renamed
    into place, so readers never see half a model.
    """
    folder = Path(folder)
    training = training or TOY_TRAINING.get(size)
    spec = toy_sd_spec(size, seed, training)
    digest = spec_hash(spec)
    if cached_hash(folder) == digest:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        log = save_pipelines(staging, TOY_SIZES[size], seed, training, progress=progress)
        manifest = {"hash": digest, "spec": spec, "sd": SD_DIR, "inpaint": INPAINT_DIR,
                    "height": training.height, "width": training.width, "training_log": log}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if cached_hash(folder) == digest:  # another process finished the same build first
            return folder
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def toy_sd_resolution(folder: str | os.PathLike) -> tuple[int, int]:
    """(height, width) a toy SD build was trained at: generate at this size."""
    manifest = json.loads((Path(folder) / MANIFEST).read_text())
    return manifest["height"], manifest["width"]


def toy_sd_path(folder: str | os.PathLike, kind: str) -> Path:
    """The pipeline folder of a toy SD build for a loader kind (text2img, img2img, inpaint)."""
    check_choice("pipeline kind", kind, PIPELINES)
    return Path(folder) / (INPAINT_DIR if kind == "inpaint" else SD_DIR)

