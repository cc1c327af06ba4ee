"""DLCR generation (Siddiqui et al., arXiv 2411.07205; code CroitoruAlin/dlcr): change a person's
clothes and nothing else.

Per task: the source image's clothes mask from the parser role, Stable Diffusion inpainting of
the masked region with the target outfit's clothing items as the prompt (DLCR: SD-inpainting,
768x256, 50 steps, guidance 7.5, strength 1.0), the result resized back to the source size and
composited `mask * generated + (1 - mask) * source`, so identity pixels stay exactly as they were:
the image is written losslessly (PNG, DLCR's default `generate.image_format`), so a decoded outfit
change equals the decoded source (RGB) outside the clothes mask, byte for byte, whatever the
source's own format; `image_format: jpg` would re-quantise those pixels.
"""

import numpy as np
from PIL import Image

from factory.generate.task_batch import ActorClock, TaskBatch, job_pipeline, to_uint8
from factory.parsing.parser import build_parser, check_coverage
from schemas.generation_configs import GenerationJobConfig


def composite(source: Image.Image, mask: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Generated pixels inside the clothes mask, source pixels elsewhere, at the source's size;
    float in [0, 1]."""
    resized = Image.fromarray(to_uint8(generated)).resize(source.size, Image.Resampling.BICUBIC)
    mixed = np.where(mask[..., None], np.asarray(resized), np.asarray(source))
    return mixed.astype(np.float32) / 255.0


class DlcrInpainter:
    """A Ray Data actor: a batch of DLCR tasks (their sources decoded) -> outfit changes and
    manifest columns."""

    @staticmethod
    def reads_sources(config: GenerationJobConfig) -> bool:
        return True

    def __init__(self, config: GenerationJobConfig):
        # with an adapter set (DLCR x DiVE), its identity tokens and LoRA too
        self.pipeline, self.device = job_pipeline(config, "inpaint")
        self.parser = build_parser(config.masks, config.parser, self.device)
        self.clock = ActorClock()

    def __call__(self, batch):
        tasks = TaskBatch(batch, self.clock)
        # 1. source images, decoded and resized by the CPU stage before the actor
        sources = tasks.each(tasks.source, tasks.pending())
        # 2. clothes masks from the parser role
        indices = tasks.pending()
        with tasks.timed("mask", indices):
            masks = self._masks(tasks, sources, indices)
        for group in tasks.groups("strength"):
            # 3. inpaint at the recipe's size, one seeded generator per image
            with tasks.timed("inpaint", group):
                generated = self._inpaint(tasks, group, sources, masks)
            # 4. back to the source size; only the clothes change
            with tasks.timed("composite", group):
                for index, image in zip(group, generated, strict=True):
                    mixed = composite(sources[index], masks[index], image)
                    tasks.finish(index, mixed, generated=image)
        return tasks.output()

    def _masks(self, tasks: TaskBatch, sources: dict, indices: list[int]) -> dict:
        image_ids = {index: tasks.rows[index]["source_image_id"] for index in indices}
        try:
            found = dict(zip(indices, self.parser([sources[i] for i in indices],
                                                  [image_ids[i] for i in indices]), strict=True))
        except ValueError:  # a row the parser cannot do: go row by row to fail only that one
            found = tasks.each(lambda i: self.parser([sources[i]], [image_ids[i]])[0], indices)
        return tasks.each(lambda i: check_coverage(found[i], image_ids[i]), list(found))

    def _inpaint(self, tasks: TaskBatch, group: list[int], sources: dict, masks: dict):
        params = tasks.rows[group[0]]["params"]
        size = (params["width"], params["height"])
        images = [tasks.source(index, resized=True) for index in group]
        mask_images = [Image.fromarray(masks[index].astype(np.uint8) * 255).resize(
            size, Image.Resampling.NEAREST) for index in group]
        return tasks.run(self.pipeline, group, image=images, mask_image=mask_images,
                         strength=params["strength"])

