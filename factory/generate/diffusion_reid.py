"""Diffusion-ReID generation (arXiv 2406.06045; no code released): many varied images per
identity for ReID pre-training.

Per task: the Language-Prompt-Enhanced prompt (identity token + caption + the viewpoint, pose,
background and illumination words the plan drew) through img2img from a real image of the
identity at the task's strength, or text-to-image from seeded noise scaled by the task's factor
(Diversity Injection), and, where the plan asks, injection inside the denoising loop
(`injection.py`). The filter stage then drops images the ReID model does not recognise.
"""

from factory.generate.injection import injection_inputs
from factory.generate.task_batch import ActorClock, TaskBatch, generators, job_pipeline
from schemas.generation_configs import GenerationJobConfig


class DiffusionReidGenerator:
    """A Ray Data actor: a batch of Diffusion-ReID tasks (img2img: their sources decoded) ->
    images and manifest columns."""

    @staticmethod
    def reads_sources(config: GenerationJobConfig) -> bool:
        return config.plan.diffusion_reid.mode == "img2img"

    def __init__(self, config: GenerationJobConfig):
        self.img2img = self.reads_sources(config)
        kind = "img2img" if self.img2img else "text2img"
        self.pipeline, self.device = job_pipeline(config, kind)
        self.clock = ActorClock()

    def __call__(self, batch):
        tasks = TaskBatch(batch, self.clock)
        # 1. source images (img2img), decoded and resized by the CPU stage before the actor
        sources = tasks.each(lambda i: tasks.source(i, resized=True),
                             tasks.pending()) if self.img2img else {}
        for group in tasks.groups("strength"):
            # 2. diffusion with the task's strength or initial-noise factor
            with tasks.timed("generate", group):
                images = self._generate(tasks, group, sources)
            for index, image in zip(group, images, strict=True):
                tasks.finish(index, image)
        return tasks.output()

    def _generate(self, tasks: TaskBatch, group: list[int], sources: dict):
        params = tasks.rows[group[0]]["params"]
        rows = [tasks.rows[index] for index in group]
        if self.img2img:  # diffusers runs int(steps * strength) of the steps
            images = [sources[index] for index in group]
            injected = injection_inputs(rows, int(params["steps"] * params["strength"]))
            return tasks.run(self.pipeline, group, sized=False, image=images,
                             strength=params["strength"], **injected)
        return tasks.run(self.pipeline, group, latents=self._scaled_noise(tasks, group),
                         **injection_inputs(rows, params["steps"]))

    def _scaled_noise(self, tasks: TaskBatch, group: list[int]):
        """Each task's seeded initial latents times its noise factor (Diversity Injection)."""
        import torch

        params = tasks.rows[group[0]]["params"]
        scale = self.pipeline.vae_scale_factor
        shape = (1, self.pipeline.unet.config.in_channels, params["height"] // scale,
                 params["width"] // scale)
        seeds = [tasks.rows[index]["seed"] for index in group]
        noise = [torch.randn(shape, generator=generator) * tasks.rows[index]["params"][
            "noise_scale"] for index, generator in zip(group, generators(seeds), strict=True)]
        return torch.cat(noise).to(self.device, self.pipeline.unet.dtype)
