"""Tiny random Stable Diffusion 1.5 look-alikes: a text-to-image and a 9-channel inpainting
pipeline, the stand-ins of `stable-diffusion-v1-5/stable-diffusion-v1-5` and
`stable-diffusion-v1-5/stable-diffusion-inpainting`.

Every component has SD-1.5's class and layout and only its widths are shrunk: a CLIP text encoder
over SD-1.5's own tokenizer (49,408 tokens, built locally from CLIP's merges file), a VAE with four
blocks (x8 downscale, mid-block attention), a UNet with three cross-attention down blocks and a
plain fourth (its mirror on the way up), two ResNet layers per block, and SD-1.5's PNDM noise
schedule. The folders load through `factory.diffusion.loader.load_pipeline` exactly as the hub
checkpoints do. Unlike the toy SD (`factory.laptop.toy_sd`) nothing is trained: the pictures are
noise, the point is the architecture. The same seed gives the same files.
"""

import os
from pathlib import Path

from factory.laptop.toy_sd.tokenizer import MODEL_MAX_LENGTH, VOCAB_SIZE

TEXT_HIDDEN = 32  # also the UNet's cross-attention width (SD-1.5: 768)
UNET_CHANNELS = (32, 32, 64, 64)  # SD-1.5: (320, 640, 1280, 1280)
VAE_CHANNELS = (16, 16, 32, 32)  # SD-1.5: (128, 256, 512, 512)
NORM_GROUPS = 8  # SD-1.5: 32 (as many as these widths allow)
SAMPLE_SIZE = 64  # nominal image side in pixels: latents of 8
# SD-1.5's scheduler/scheduler_config.json (from_config keeps clip_sample, which PNDM ignores and
# the DDIM scheduler the loader swaps in reads).
SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "set_alpha_to_one": False, "skip_prk_steps": True,
    "steps_offset": 1, "clip_sample": False,
}


def make_text_encoder(seed: int):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=VOCAB_SIZE, hidden_size=TEXT_HIDDEN, intermediate_size=4 * TEXT_HIDDEN,
        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=MODEL_MAX_LENGTH,
        hidden_act="quick_gelu", projection_dim=TEXT_HIDDEN,
        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    torch.manual_seed(seed)
    return CLIPTextModel(config).eval()


def make_vae(seed: int):
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=VAE_CHANNELS, layers_per_block=2, norm_num_groups=NORM_GROUPS,
        sample_size=SAMPLE_SIZE).eval()


def make_unet(seed: int, *, in_channels: int):
    """SD-1.5's UNet layout: 4 input channels for text-to-image, 9 for inpainting (latents,
    mask, masked-image latents)."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=SAMPLE_SIZE // 8, in_channels=in_channels, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=UNET_CHANNELS, layers_per_block=2, norm_num_groups=NORM_GROUPS,
        cross_attention_dim=TEXT_HIDDEN, attention_head_dim=8).eval()


def shared_components(seed: int) -> dict:
    """The parts both pipelines share: tokenizer, text encoder, VAE, scheduler, no safety
    checker (the loader turns it off for the hub checkpoints too)."""
    from diffusers import PNDMScheduler
    from transformers import CLIPImageProcessor

    from factory.laptop.toy_sd.tokenizer import clip_tokenizer

    return {"tokenizer": clip_tokenizer(), "text_encoder": make_text_encoder(seed),
            "vae": make_vae(seed + 1), "scheduler": PNDMScheduler.from_config(SCHEDULER_CONFIG),
            "safety_checker": None, "feature_extractor": CLIPImageProcessor(),
            "requires_safety_checker": False}


def build_tiny_sd(out: str | os.PathLike, *, seed: int = 0, inpainting: bool = False) -> Path:
    """Write the tiny text-to-image (or, with `inpainting`, the 9-channel inpainting) pipeline
    into `out` with `save_pretrained`; returns `out`."""
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

    from factory.laptop.toy_sd.tokenizer import write_clip_tokenizer_files

    out = Path(out)
    pipeline_class = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
    unet = make_unet(seed + 2, in_channels=9 if inpainting else 4)
    pipeline_class(unet=unet, **shared_components(seed)).save_pretrained(out)
    write_clip_tokenizer_files(out / "tokenizer")  # the slow-tokenizer files, as SD-1.5 has
    return out
