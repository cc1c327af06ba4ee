"""The trainable parts of the adapt stage: identity-token rows and a UNet attention LoRA.

Only two things train: the embedding rows of the new identity tokens and the LoRA matrices.
The token rows are their own parameter appended to the frozen embedding table
(`IdentityEmbedding`), so the base vocabulary cannot change and the optimiser holds just the new
rows (not the whole 49,408-row table, as the usual restore-after-step recipe does).
"""

from dataclasses import dataclass

import torch
from torch import nn

from factory.diffusion.adapters import LORA_TARGETS, read_lora_state, read_token_rows
from factory.diffusion.loader import load_pipeline
from factory.precision import MixedPrecision
from schemas.diffusion_configs import AdaptConfig


class IdentityEmbedding(nn.Module):
    """A token embedding whose ids past the base vocabulary look up trainable identity rows."""

    def __init__(self, base: nn.Embedding, rows: torch.Tensor):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.rows = nn.Parameter(rows.clone())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        vocabulary = self.base.num_embeddings
        base = self.base(ids.clamp(max=vocabulary - 1))
        # Always index the rows, so the parameter is in every graph (DDP needs each step).
        extra = self.rows[(ids - vocabulary).clamp(min=0)]
        return torch.where((ids >= vocabulary).unsqueeze(-1), extra, base)


class AdaptModel(nn.Module):
    """Text encoder (with identity rows) + LoRA UNet: prompt ids and noisy latents -> noise."""

    def __init__(self, text_encoder, unet):
        super().__init__()
        self.text_encoder = text_encoder
        self.unet = unet

    def forward(self, input_ids, noisy_latents, timesteps):
        hidden = self.text_encoder(input_ids)[0]
        return self.unet(noisy_latents, timesteps, encoder_hidden_states=hidden).sample


@dataclass
class AdaptParts:
    model: AdaptModel
    tokenizer: object
    vae: nn.Module
    noise_scheduler: object
    pids: list[int]  # pid of each identity row, in row order
    lora: dict  # {"rank", "alpha", "target_modules"} as written to adapters.json

    @property
    def embedding(self) -> IdentityEmbedding:
        return self.model.text_encoder.get_input_embeddings()

    def trainable(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(identity rows, LoRA parameters)."""
        lora = [p for name, p in self.model.unet.named_parameters() if "lora_" in name]
        return [self.embedding.rows], lora

    def token_rows(self) -> dict[int, torch.Tensor]:
        return dict(zip(self.pids, self.embedding.rows.detach(), strict=True))

    def lora_state(self) -> dict:
        from peft.utils import get_peft_model_state_dict

        return get_peft_model_state_dict(self.model.unet)

    def load_adapters(self, adapters) -> None:
        """Restore rows and LoRA from an adapter folder written by this run."""
        from peft import set_peft_model_state_dict

        rows = read_token_rows(adapters)
        with torch.no_grad():
            self.embedding.rows.copy_(torch.stack([rows[pid] for pid in self.pids]))
        result = set_peft_model_state_dict(self.model.unet, read_lora_state(adapters))
        if result.unexpected_keys:
            raise ValueError(f"{adapters.path}: LoRA keys this UNet lacks: "
                             f"{result.unexpected_keys[:5]}")


def initializer_row(tokenizer, text_encoder, word: str) -> torch.Tensor:
    ids = tokenizer(word, add_special_tokens=False).input_ids
    if len(ids) != 1:
        raise ValueError(f"field 'initializer': {word!r} is {len(ids)} tokens; use one word "
                         f"the tokenizer knows as a single token (e.g. 'person')")
    return text_encoder.get_input_embeddings().weight[ids[0]].detach().clone()


def build_parts(config: AdaptConfig, tokens: dict[int, str]) -> AdaptParts:
    """Load the base model, add one token per identity (starting at the initializer word's
    embedding) and a LoRA on the UNet's attention projections; freeze everything else."""
    from diffusers import DDPMScheduler
    from peft import LoraConfig

    pipeline = load_pipeline("text2img", config.model)
    tokenizer, text_encoder = pipeline.tokenizer, pipeline.text_encoder
    start = initializer_row(tokenizer, text_encoder, config.initializer)
    pids = sorted(tokens)
    base = text_encoder.get_input_embeddings()
    tokenizer.add_tokens([tokens[pid] for pid in pids])
    ids = tokenizer.convert_tokens_to_ids([tokens[pid] for pid in pids])
    if ids != list(range(base.num_embeddings, base.num_embeddings + len(pids))):
        raise ValueError(f"{config.model}: the tokenizer and the text encoder's embedding table "
                         f"differ in size; identity tokens would not map to new rows")
    text_encoder.requires_grad_(False)
    text_encoder.set_input_embeddings(IdentityEmbedding(base, start.expand(len(pids), -1)))
    pipeline.vae.requires_grad_(False)
    unet = pipeline.unet.requires_grad_(False)
    torch.manual_seed(config.seed)
    lora = {"rank": config.rank, "alpha": config.alpha or config.rank,
            "target_modules": list(LORA_TARGETS)}
    unet.add_adapter(LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"],
                                target_modules=lora["target_modules"],
                                init_lora_weights="gaussian"))
    if config.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    return AdaptParts(model=AdaptModel(text_encoder, unet).train(), tokenizer=tokenizer,
                      vae=pipeline.vae.eval(),
                      noise_scheduler=DDPMScheduler.from_config(pipeline.scheduler.config),
                      pids=pids, lora=lora)


def denoising_loss(parts: AdaptParts, model: nn.Module, pixels: torch.Tensor,
                   prompts: list[str], generator: torch.Generator) -> torch.Tensor:
    """The diffusion loss of one batch: noise the VAE latents at random timesteps and regress
    the scheduler's target (noise, or velocity for v-prediction models)."""
    device = pixels.device
    with torch.no_grad():
        latents = parts.vae.encode(pixels).latent_dist.sample(generator)
        latents = latents * parts.vae.config.scaling_factor
    noise = torch.randn(latents.shape, generator=generator, device=device)
    schedule = parts.noise_scheduler
    timesteps = torch.randint(0, schedule.config.num_train_timesteps, (len(latents),),
                              generator=generator, device=device)
    noisy = schedule.add_noise(latents, noise, timesteps)
    if schedule.config.prediction_type == "v_prediction":
        target = schedule.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    input_ids = parts.tokenizer(prompts, padding="max_length", truncation=True,
                                max_length=parts.tokenizer.model_max_length,
                                return_tensors="pt").input_ids.to(device)
    prediction = model(input_ids, noisy, timesteps)
    return nn.functional.mse_loss(prediction.float(), target.float())


def train_step(parts: AdaptParts, model: nn.Module, batch: tuple[torch.Tensor, list[str]], *,
               optimizer: torch.optim.Optimizer, mixed: MixedPrecision,
               generator: torch.Generator, prior: tuple | None = None) -> float:
    """One optimiser step on (pixels, prompts) in `mixed`'s precision; returns the loss.
    `prior`: (pixels, prompts, weight, generator) of class images with the class prompt:
    DreamBooth's prior preservation adds weight x their denoising loss."""
    pixels, prompts = batch
    with mixed.autocast():
        loss = denoising_loss(parts, model, pixels, prompts, generator)
        if prior is not None:
            class_pixels, class_prompts, weight, class_generator = prior
            loss = loss + weight * denoising_loss(parts, model, class_pixels, class_prompts,
                                                  class_generator)
    mixed.step(loss, optimizer)
    return float(loss.detach())
