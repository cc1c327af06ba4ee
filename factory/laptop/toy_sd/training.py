"""Trains the toy Stable Diffusion on toy-world renders, in the order SD's components were trained.

1. VAE: reconstruction (MSE plus a tiny KL term, as SD's autoencoder) on the renders; then its
   `scaling_factor` is set so the training latents have unit variance, as SD-1.5's 0.18215 does.
2. Text encoder: contrastive image-caption pre-training (`toy_clip`), as CLIP's text tower was
   trained before SD froze it. Trained jointly with the UNet on the denoising loss instead, it
   collapsed (a 700-step build's prompts differed 3-8x less in its output than at init).
3. UNet, the text encoder frozen: epsilon prediction under SD-1.5's scaled-linear schedule, on
   the renders' latents (encoded once, re-sampled from the posterior each step) with captions
   from `toy_data` and 10% caption dropout for classifier-free guidance.
4. Inpainting UNet: initialised from the text-to-image UNet with the 5 extra input channels
   (mask, masked-image latents) zeroed, as SD-inpainting was made from SD; trained on clothes
   masks (DLCR's use) and on fully masked images, with the text encoder frozen (the two pipelines
   share it).

Every step draws from one seeded generator, so a build is a pure function of its settings and seed.
"""

import math
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from factory.laptop.toy_sd.clip import contrastive_heads, contrastive_loss, pooled_text
from factory.laptop.toy_sd.training_set import ToyTrainingSet, draw_captions, render_training_set

KL_WEIGHT = 1e-6  # SD's autoencoder weight on the KL term: latents stay close to an autoencoder's
TEXT2IMG_TEMPLATES = (0.6, 0.3, 0.1)  # short, items (DLCR), full captions
CLIP_TEMPLATES = (0.45, 0.35, 0.2)
INPAINT_TEMPLATES = (0.3, 0.6, 0.1)  # inpainting mostly serves DLCR's item prompts
MAX_TOKENS = 77  # pad as the pipelines do, so cross-attention sees the same number of tokens


@dataclass(frozen=True)
class ToyTraining:
    """How a toy SD build is trained; part of the build's cache key."""

    images: int
    """Toy-world renders in the training set."""
    height: int
    """Training (and native generation) image height in pixels."""
    width: int
    """Training image width in pixels."""
    batch: int
    """Samples per optimiser step, in every phase."""
    vae_steps: int
    """Optimiser steps of the VAE."""
    unet_steps: int
    """Optimiser steps of the text encoder + text-to-image UNet."""
    inpaint_steps: int
    """Optimiser steps of the inpainting UNet."""
    vae_batch: int = 32
    """Crops per VAE step."""
    vae_crop: tuple[int, int] = (32, 16)
    """(height, width) of the random crops the VAE trains on: it is fully convolutional, and many
    small steps teach it colours faster than few whole-image ones."""
    vae_lr: float = 8e-3
    """Peak learning rate of the VAE (AdamW, linear warm-up then cosine decay to 10%)."""
    unet_lr: float = 1e-3
    """Peak learning rate of the UNets."""
    clip_steps: int = 0
    """Contrastive steps of the text encoder (0 leaves it at its seeded random init)."""
    clip_batch: int = 256
    """Image-caption pairs per contrastive step."""
    clip_lr: float = 2e-3
    """Peak learning rate of the contrastive phase."""
    warmup: int = 50
    """Warm-up steps of every phase."""
    caption_dropout: float = 0.1
    """Share of empty captions (the unconditional model of classifier-free guidance)."""
    full_mask_share: float = 0.25
    """Share of inpainting samples with the whole image masked (SD-inpainting uses 25%)."""


@dataclass(frozen=True)
class ToyComponents:
    """The models one build trains (the tokenizer and scheduler are fixed)."""

    tokenizer: object
    text_encoder: object
    vae: object
    unet: object


def _schedule(optimizer, steps: int, warmup: int):
    import torch

    def factor(step: int) -> float:
        cosine = 0.5 * (1 + math.cos(math.pi * min(step, steps) / max(1, steps)))
        return min(1.0, (step + 1) / max(1, warmup)) * (0.1 + 0.9 * cosine)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _steps(what: str, steps: int, progress: bool):
    from tqdm import tqdm

    return tqdm(range(steps), desc=f"toy SD: {what}", unit="step", disable=not progress,
                mininterval=2.0)


def pixels(images):
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1], as the pipelines' image processor."""
    import torch

    return torch.as_tensor(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def _fit(model_params, steps: int, lr: float, settings: ToyTraining, loss_of, what: str,
         progress: bool) -> float | None:
    """Run `steps` AdamW steps of `loss_of(step)`; returns the mean loss of the last 10%."""
    import torch

    optimizer = torch.optim.AdamW(model_params, lr=lr, weight_decay=0.0)
    scheduler = _schedule(optimizer, steps, settings.warmup)
    recent: list[float] = []
    bar = _steps(what, steps, progress)
    for step in bar:
        loss = loss_of(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        recent = (recent + [loss.item()])[-max(1, steps // 10):]
        bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", refresh=False)
    return sum(recent) / len(recent) if recent else None


def train_vae(vae, data: ToyTrainingSet, settings: ToyTraining, generator, *,
              progress: bool = True) -> float | None:
    """Reconstruction training, then `scaling_factor` from the latents' spread; returns the loss."""
    import torch
    import torch.nn.functional as F

    images = torch.from_numpy(data.images)
    vae.train()

    crop_height, crop_width = settings.vae_crop
    corners = torch.randint(0, 1 << 30, (settings.vae_steps, 2), generator=generator)

    def loss_of(step):
        top = int(corners[step, 0]) % (settings.height - crop_height + 1)
        left = int(corners[step, 1]) % (settings.width - crop_width + 1)
        chosen = images[torch.randint(len(images), (settings.vae_batch,), generator=generator)]
        batch = pixels(chosen[:, top:top + crop_height, left:left + crop_width])
        posterior = vae.encode(batch).latent_dist
        recon = vae.decode(posterior.sample(generator)).sample
        return F.mse_loss(recon, batch) + KL_WEIGHT * posterior.kl().mean()

    loss = _fit(vae.parameters(), settings.vae_steps, settings.vae_lr, settings, loss_of, "VAE",
                progress)
    vae.eval()
    mean, _ = encode_posteriors(vae, data.images)
    vae.register_to_config(scaling_factor=float(1.0 / mean.std().clamp_min(1e-6)))
    return loss


def encode_posteriors(vae, images: np.ndarray, blanked: np.ndarray | None = None,
                      chunk: int = 256):
    """(mean, std) of the VAE posterior of uint8 images, unscaled; pixels where `blanked` (N, H, W)
    is true are set to 0 first, as the inpainting pipeline's `image * (mask < 0.5)`."""
    import torch

    means, stds = [], []
    with torch.no_grad():
        for start in range(0, len(images), chunk):
            batch = pixels(images[start:start + chunk])
            if blanked is not None:
                batch *= torch.from_numpy(~blanked[start:start + chunk])[:, None]
            posterior = vae.encode(batch).latent_dist
            means.append(posterior.mean)
            stds.append(posterior.std)
    return torch.cat(means), torch.cat(stds)


def _sample_latents(posterior, indices, generator, scale: float):
    import torch

    mean, std = posterior[0][indices], posterior[1][indices]
    return (mean + std * torch.randn(mean.shape, generator=generator)) * scale


def _encode_text(components: ToyComponents, captions: list[str]):
    ids = components.tokenizer(captions, padding="max_length", max_length=MAX_TOKENS,
                               truncation=True, return_tensors="pt").input_ids
    return components.text_encoder(ids)[0]


@lru_cache(maxsize=1)
def _noise_schedule():
    """SD-1.5's training noise schedule (DDPM with the toy SD's scheduler settings)."""
    from diffusers import DDPMScheduler

    from factory.laptop.toy_sd.build import SCHEDULER_CONFIG

    return DDPMScheduler(**{key: value for key, value in SCHEDULER_CONFIG.items()
                            if key not in ("set_alpha_to_one", "steps_offset")})


def _denoising_loss(unet, latents, hidden, generator, condition=None):
    """Epsilon-prediction MSE at uniformly drawn timesteps; `condition` (mask and masked-image
    latents) is concatenated to the noisy latents, as the inpainting pipeline does."""
    import torch
    import torch.nn.functional as F

    schedule = _noise_schedule()
    noise = torch.randn(latents.shape, generator=generator)
    timesteps = torch.randint(0, schedule.config.num_train_timesteps, (len(latents),),
                              generator=generator)
    noisy = schedule.add_noise(latents, noise, timesteps)
    if condition is not None:
        noisy = torch.cat([noisy, condition], dim=1)
    return F.mse_loss(unet(noisy, timesteps, hidden).sample, noise)


def train_text_encoder(components: ToyComponents, data: ToyTrainingSet, settings: ToyTraining,
                       generator, rng: np.random.Generator, *, progress: bool = True) -> float:
    """Contrastive pre-training of the text encoder (see `toy_clip`); returns the final loss."""
    import torch

    text_encoder = components.text_encoder
    with torch.random.fork_rng():  # the heads' init comes from the build's seed too
        torch.manual_seed(int(torch.randint(1 << 62, (1,), generator=generator)))
        heads = contrastive_heads(text_encoder.config.hidden_size)
    text_encoder.train()

    def loss_of(step):
        indices = torch.randint(len(data.images), (settings.clip_batch,), generator=generator)
        captions = draw_captions(data, indices.numpy(), rng, template_weights=CLIP_TEMPLATES,
                                 dropout=0.0)
        image_features = heads["images"](pixels(data.images[indices.numpy()]))
        text_features = heads["projection"](pooled_text(text_encoder, components.tokenizer,
                                                        captions))
        return contrastive_loss(image_features, text_features, heads["scale"]["log"], captions)

    loss = _fit([*text_encoder.parameters(), *heads.parameters()], settings.clip_steps,
                settings.clip_lr, settings, loss_of, "CLIP text encoder", progress)
    text_encoder.eval()
    return loss


def train_text_to_image(components: ToyComponents, data: ToyTrainingSet, posterior,
                        settings: ToyTraining, generator, rng: np.random.Generator, *,
                        progress: bool = True) -> float | None:
    """The text-to-image UNet, the text encoder frozen; returns the final loss."""
    import torch

    scale = components.vae.config.scaling_factor
    unet = components.unet
    unet.train()

    def loss_of(step):
        indices = torch.randint(len(data.images), (settings.batch,), generator=generator)
        captions = draw_captions(data, indices.numpy(), rng, template_weights=TEXT2IMG_TEMPLATES,
                                 dropout=settings.caption_dropout)
        latents = _sample_latents(posterior, indices, generator, scale)
        with torch.no_grad():
            hidden = _encode_text(components, captions)
        return _denoising_loss(unet, latents, hidden, generator)

    loss = _fit(unet.parameters(), settings.unet_steps, settings.unet_lr, settings, loss_of,
                "text-to-image UNet", progress)
    unet.eval()
    return loss


def inpainting_unet_from(unet):
    """A 9-channel copy of a text-to-image UNet: the new input channels start at zero, so it
    begins as the text-to-image model (SD-inpainting's initialisation)."""
    import torch
    from diffusers import UNet2DConditionModel

    inpaint = UNet2DConditionModel.from_config({**unet.config, "in_channels": 9})
    state = unet.state_dict()
    weight = state["conv_in.weight"]
    state["conv_in.weight"] = torch.cat(
        [weight, weight.new_zeros(weight.shape[0], 5, *weight.shape[2:])], dim=1)
    inpaint.load_state_dict(state)
    return inpaint.eval()


def blank_posterior(vae, height: int, width: int):
    """(mean, std) of the VAE posterior of a fully masked image (all zeros in [-1, 1])."""
    import torch

    with torch.no_grad():
        posterior = vae.encode(torch.zeros(1, 3, height, width)).latent_dist
    return posterior.mean, posterior.std


def train_inpainting(components: ToyComponents, inpaint_unet, data: ToyTrainingSet, posterior,
                     settings: ToyTraining, generator, rng: np.random.Generator, *,
                     progress: bool = True) -> float | None:
    """The 9-channel UNet on clothes masks and, for `full_mask_share` of samples, whole-image
    masks; the text encoder stays frozen. Returns the final loss."""
    import torch
    import torch.nn.functional as F

    vae, scale = components.vae, components.vae.config.scaling_factor
    masked_posterior = encode_posteriors(vae, data.images, data.clothes_masks)
    blank_mean, blank_std = blank_posterior(vae, settings.height, settings.width)
    # the pipeline's own mask downsizing: nearest-neighbour to the latent grid
    latent_masks = F.interpolate(torch.from_numpy(data.clothes_masks)[:, None].float(),
                                 size=tuple(posterior[0].shape[-2:]))
    inpaint_unet.train()

    def loss_of(step):
        indices = torch.randint(len(data.images), (settings.batch,), generator=generator)
        full = (torch.rand(settings.batch, generator=generator)
                < settings.full_mask_share)[:, None, None, None]
        captions = draw_captions(data, indices.numpy(), rng, template_weights=INPAINT_TEMPLATES,
                                 dropout=settings.caption_dropout)
        blank = blank_mean + blank_std * torch.randn(
            (settings.batch, *blank_mean.shape[1:]), generator=generator)
        masked = torch.where(full, blank * scale,
                             _sample_latents(masked_posterior, indices, generator, scale))
        mask = torch.where(full, 1.0, latent_masks[indices])
        with torch.no_grad():
            hidden = _encode_text(components, captions)
        latents = _sample_latents(posterior, indices, generator, scale)
        return _denoising_loss(inpaint_unet, latents, hidden, generator,
                               condition=torch.cat([mask, masked], dim=1))

    loss = _fit(inpaint_unet.parameters(), settings.inpaint_steps, settings.unet_lr, settings,
                loss_of, "inpainting UNet", progress)
    inpaint_unet.eval()
    return loss


def _timed(log: dict, phase: str, run):
    """Run `run()`, recording its wall and CPU seconds (CPU time tells contention apart)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    log[phase] = {"wall_s": round(time.perf_counter() - wall, 1),
                  "cpu_s": round(time.process_time() - cpu, 1)}
    return result


def train_toy_sd(components: ToyComponents, settings: ToyTraining, seed: int, *,
                 progress: bool = True) -> tuple[object, dict]:
    """Train `components` in place on the toy world `seed`; returns the trained inpainting UNet
    and a log of each phase's loss and seconds."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    log: dict = {}
    data = _timed(log, "render", lambda: render_training_set(
        settings.images, height=settings.height, width=settings.width, seed=seed))
    vae_loss = _timed(log, "vae", lambda: train_vae(components.vae, data, settings, generator,
                                                      progress=progress))
    clip_loss = _timed(log, "clip", lambda: train_text_encoder(
        components, data, settings, generator, rng, progress=progress))
    posterior = _timed(log, "encode", lambda: encode_posteriors(components.vae, data.images))
    unet_loss = _timed(log, "text2img", lambda: train_text_to_image(
        components, data, posterior, settings, generator, rng, progress=progress))
    inpaint_unet = inpainting_unet_from(components.unet)
    inpaint_loss = _timed(log, "inpaint", lambda: train_inpainting(
        components, inpaint_unet, data, posterior, settings, generator, rng, progress=progress))
    for phase, loss in (("vae", vae_loss), ("clip", clip_loss), ("text2img", unet_loss),
                       ("inpaint", inpaint_loss)):
        log[phase]["loss"] = None if loss is None else round(loss, 5)
    return inpaint_unet, log
