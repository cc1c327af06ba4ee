"""DiVE generation (arXiv 2503.12472; code BorgDiven/DiVE): identity-consistent visible and
infrared images of one person from text.

Per task: Stable Diffusion text-to-image with "a {code} photo of a <id_k> person" (the adapter
set's identity token and modality LoRA; DiVE: DPM-Solver++, 50 steps, CFG 7.5). Image k of each
target code shares its seed, so an RGB/IR pair differs only in the modality code. Without an
adapter set the identity's caption stands in for its token.
"""

import numpy as np

from factory.generate.task_batch import ActorClock, TaskBatch, job_pipeline
from schemas.generation_configs import GenerationJobConfig


def infrared_look(image: np.ndarray) -> np.ndarray:
    """An IR camera records one channel: the luminance, repeated in R, G and B."""
    luminance = image @ np.array([0.299, 0.587, 0.114], dtype=image.dtype)
    return np.repeat(luminance[..., None], 3, axis=-1)


class DiveGenerator:
    """A Ray Data actor: a batch of DiVE tasks -> images and manifest columns."""

    @staticmethod
    def reads_sources(config: GenerationJobConfig) -> bool:
        return False

    def __init__(self, config: GenerationJobConfig):
        self.pipeline, self.device = job_pipeline(config, "text2img")
        self.clock = ActorClock()

    def __call__(self, batch):
        tasks = TaskBatch(batch, self.clock)
        for group in tasks.groups():
            # 1. text-to-image, one seeded generator per image
            with tasks.timed("generate", group):
                images = tasks.run(self.pipeline, group)
            # 2. infrared targets as one channel
            for index, image in zip(group, images, strict=True):
                infrared = tasks.rows[index]["target_modality"] == "ir"
                tasks.finish(index, infrared_look(image) if infrared else image,
                             generated=image)
        return tasks.output()
