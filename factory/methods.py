"""The generation methods: one explicit table from a method's name to its parts.

Everything that differs by method is found here, and every list of method names derives from
`METHODS` (the configs' `method` field, the `tasks` table's allowed values, the planner and
actor-class lookups, the toy jobs). Adding a method means one entry below plus its own files:
`factory/plan/<name>.py` (its planner), `factory/generate/<name>.py` (its Ray Data actor class)
and `jobs/configs/<name>_toy.yaml` (its job on the toy world).

Parts are named by import path and loaded on use, so importing this module loads nothing heavy.
"""

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """One generation method's parts."""

    planner: str  # "module:function": (PlanInputs, GenerationJobConfig) -> task rows (polars)
    generator: str  # "module:Class": the Ray Data actor class that turns task batches into images
    pipeline: str  # the diffusers pipeline its `model` loads as (see factory.diffusion.loader)
    recipe_version: int  # bump when its code makes different images from the same task inputs
    prompt_kinds: tuple[str, ...]  # what the describe stage writes for it
    toy_config: str  # its job on the toy world, relative to the repository root
    toy_layout: str  # the toy world's dataset layout its smoke job runs on
    image_format: str  # file format of its images unless `generate.image_format` says otherwise

    def load_planner(self):
        return _load(self.planner)

    def load_generator(self):
        return _load(self.generator)


METHODS: dict[str, Method] = {
    # DLCR: outfit changes by inpainting the clothes mask (clothes-changing ReID). Recipe 2: PNG
    # by default, and ATR parsers keep bag and belt.
    "dlcr": Method(
        planner="factory.plan.dlcr:plan_dlcr", generator="factory.generate.dlcr:DlcrInpainter",
        pipeline="inpaint", recipe_version=2, prompt_kinds=("clothing", "caption"),
        toy_config="jobs/configs/dlcr_toy.yaml", toy_layout="ltcc",
        image_format="png"),  # lossless: pixels outside the clothes mask stay the source's
    # DiVE: identity tokens + a modality LoRA, text-to-image (visible-infrared ReID).
    "dive": Method(
        planner="factory.plan.dive:plan_dive", generator="factory.generate.dive:DiveGenerator",
        pipeline="text2img", recipe_version=1, prompt_kinds=("caption",),
        toy_config="jobs/configs/dive_toy.yaml", toy_layout="sysu_mm01", image_format="jpg"),
    # Diffusion-ReID: LPE prompts and diversity injection (pre-training sets); img2img mode
    # loads the same weights as text-to-image.
    "diffusion_reid": Method(
        planner="factory.plan.diffusion_reid:plan_diffusion_reid",
        generator="factory.generate.diffusion_reid:DiffusionReidGenerator",
        pipeline="text2img", recipe_version=1, prompt_kinds=("caption",),
        toy_config="jobs/configs/diffusion_reid_toy.yaml", toy_layout="market1501",
        image_format="jpg"),
}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)


def method(name: str) -> Method:
    """A method by name; an unknown name lists the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {list(METHODS)}") from None


def _load(path: str):
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
