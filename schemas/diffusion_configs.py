"""Configs of the diffusion stages that prepare generation: adapt (identity tokens + LoRA)."""

import re
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from schemas.config_base import RayTrainRun, StoragePath

# The SD-1.5 weights as mirrored after runwayml/stable-diffusion-v1-5 left the hub.
SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
# A code's name: a modality ("ir") or a camera of one ("ir3": camera 3, infrared).
CODE_NAME = re.compile(r"^(rgb|ir)(\d*)$")


class AdaptConfig(RayTrainRun):
    """Learn one identity token per person and one UNet attention LoRA (DiVE, Diffusion-ReID)
    on Ray Train, from the `images` table; writes an adapter folder. The report's sampling
    task asks for `gpus_per_worker` too."""

    model: str = SD15
    """Base text-to-image model: a local diffusers folder or a hub id."""
    images: StoragePath
    """`images` table (Parquet) whose training images are adapted to."""
    out: StoragePath
    """Adapter folder to write (identity_tokens.safetensors, lora.safetensors, adapters.json),
    with the run's report beside them."""
    splits: list[Literal["train", "val"]] = ["train"]
    """Splits whose training-role images are used."""
    identities: list[int] | None = None
    """Pids to learn a token for; null: every pid in the chosen splits."""
    source_images: StoragePath | None = None
    """DiVE's identity expansion: an RGB-only dataset's `images` table whose people join the
    adaptation as one extra RGB camera (code "rgb0", or "rgb" by modality) with tokens of their
    own (pids moved up by 1,000,000; `factory.source_identities`); null: none."""
    source_min_images: int = Field(12, ge=1)
    """Least RGB training images a source identity needs (DiVE: 12)."""
    source_identities: int | None = Field(None, ge=1)
    """How many qualifying source identities to add, the first by pid; null: all of them."""
    code_by: Literal["modality", "camera"] = "modality"
    """What the text code in a prompt names: the modality ("rgb", "ir") or the camera ("ir3")."""
    codes: dict[str, str] = {}
    """Text code per modality or camera name ("ir": "infrared"); names not given use the name
    itself as the code."""
    identity_prompt_probability: float = Field(0.5, ge=0.0, le=1.0)
    """Chance a training prompt is "a {code} photo of a <id_k> person" rather than the bare code
    (DiVE: 0.5)."""
    initializer: str = "person"
    """Word whose embedding starts every identity token (textual inversion's initializer)."""
    rank: int = Field(128, ge=1)
    """LoRA rank (DiVE: 128)."""
    alpha: float | None = Field(None, gt=0)
    """LoRA alpha (the update is scaled by alpha / rank); null: equal to the rank."""
    lr: float = Field(5e-5, gt=0)
    """AdamW learning rate of the LoRA (DiVE: 5e-5)."""
    token_lr: float | None = Field(None, gt=0)
    """AdamW learning rate of the identity-token rows; null: `lr`."""
    weight_decay: float = Field(1e-2, ge=0)
    """AdamW weight decay (of the trained rows and LoRA only)."""
    steps: int = Field(4000, ge=1)
    """Optimiser steps in all; raising it and re-running continues a finished run."""
    batch_size: int = Field(16, ge=1)
    """Images per step over all workers (DiVE: 16)."""
    height: int = Field(512, ge=16)
    """Training image height in pixels (DiVE: 512), a multiple of 8."""
    width: int = Field(256, ge=8)
    """Training image width in pixels (DiVE: 256), a multiple of 8."""
    prior_weight: float = Field(0.0, ge=0.0)
    """Prior preservation (DreamBooth; Diffusion-ReID's fine-grain-specific prior
    preservation): each step adds this weight x the denoising loss of as many class images,
    made first by the base model from `class_prompt`, so the adapted model still draws people
    in general; 0: off (DreamBooth: 1.0)."""
    class_prompt: str = "a photo of a person"
    """The class prompt of prior preservation (the class images' prompt and their loss's)."""
    class_images: int = Field(100, ge=1)
    """Class images the base model makes for prior preservation, once per run (DreamBooth:
    200 per class)."""
    class_steps: int = Field(50, ge=1)
    """Denoising steps of each class image."""
    checkpoint_every: int = Field(200, ge=1)
    """Steps between checkpoints (and progress reports)."""
    gradient_checkpointing: bool = False
    """Recompute the UNet's activations in the backward pass instead of keeping them: less
    memory for about a third more step time, the same loss. Off by default (CPU runs and the
    toy models do not need it); turn it on when SD-1.5 at 512x256 does not fit a GPU."""
    name: str = "adapt"
    """Run name (see `RayTrainRun.name`)."""
    seed: int = 0
    """Seed of the LoRA initialisation, batches, prompts, noise and timesteps."""
    report_identities: int = Field(4, ge=0)
    """Identities shown in the report's sample grid; 0: no samples."""
    report_steps: int = Field(20, ge=1)
    """Denoising steps of the report's samples."""

    resumable: ClassVar[tuple[str, ...]] = (*RayTrainRun.resumable, "steps", "checkpoint_every",
                                            "out", "report_identities", "report_steps",
                                            "gradient_checkpointing")

    @model_validator(mode="after")
    def _check(self):
        for side in ("height", "width"):
            if getattr(self, side) % 8:
                raise ValueError(f"{side} must be a multiple of 8 (the VAE's latent grid), "
                                 f"got {getattr(self, side)}")
        if self.batch_size % self.workers:
            raise ValueError(f"batch_size {self.batch_size} must split evenly over "
                             f"{self.workers} workers")
        for name, text in self.codes.items():
            named = CODE_NAME.match(name)
            if not named or bool(named.group(2)) != (self.code_by == "camera"):
                example = "'rgb' or 'ir'" if self.code_by == "modality" else "'ir3' or 'rgb1'"
                raise ValueError(f"codes: {name!r} is not a {self.code_by} name ({example})")
            if not text.strip() or "<" in text:
                raise ValueError(f"codes: {name!r} has code {text!r}; a code is plain words")
        return self
