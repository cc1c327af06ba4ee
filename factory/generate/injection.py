"""Diffusion-ReID's Diversity Injection inside the denoising loop: a diffusers step-end callback
that, once the task's injection step is done, swaps the prompt for the identity prompt alone
(`prompt_swap`: the attribute words shaped the coarse layout, the identity token and caption
shape the rest) or adds fresh seeded noise to the latents (`noise`). Before that step a task
denoises exactly as its plain twin does. The plan records the choice in each task's params."""

from factory.generate.task_batch import generators

NOISE_SEED_OFFSET = 1  # the injected noise's seed: the task's seed + 1


def without_words(prompt: str, words: int) -> str:
    """The prompt less its last `words` comma-separated attribute words."""
    return ", ".join(prompt.split(", ")[:-words])


def injection_inputs(rows: list[dict], steps_run: int) -> dict:
    """Pipeline inputs that inject diversity into the denoising of `rows` (which share their
    params) after step round(at * steps_run) of the `steps_run` steps; {} without injection."""
    injection = rows[0]["params"].get("injection")
    if not injection:
        return {}
    at = min(max(1, round(injection["at"] * steps_run)), steps_run)

    def inject(pipeline, step: int, timestep, tensors: dict) -> dict:
        if step + 1 != at:
            return {}
        if injection["kind"] == "noise":
            return {"latents": _noisier(tensors["latents"], rows, injection["noise"])}
        return {"prompt_embeds": _identity_embeddings(pipeline, rows, injection["words"])}

    return {"callback_on_step_end": inject,
            "callback_on_step_end_tensor_inputs": ["latents", "prompt_embeds"]}


def _noisier(latents, rows: list[dict], std: float):
    import torch

    seeds = [row["seed"] + NOISE_SEED_OFFSET for row in rows]
    noise = torch.stack([torch.randn(latents.shape[1:], generator=generator)
                         for generator in generators(seeds)])
    return latents + std * noise.to(latents.device, latents.dtype)


def _identity_embeddings(pipeline, rows: list[dict], words: int):
    """The rows' prompts less their attribute words, encoded as the pipeline's loop expects
    (negative then positive under classifier-free guidance)."""
    import torch

    guided = pipeline.do_classifier_free_guidance
    positive, negative = pipeline.encode_prompt(
        [without_words(row["prompt"], words) for row in rows], pipeline._execution_device, 1,
        guided, negative_prompt=[row["negative_prompt"] for row in rows])
    return torch.cat([negative, positive]) if guided else positive
