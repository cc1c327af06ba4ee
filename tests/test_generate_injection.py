"""Diffusion-ReID's Diversity Injection inside the denoising loop, on the toy SD's real diffusers
pipeline: an injected task denoises exactly as its plain twin until the injection step, and not
after; the plan records the choice in each task's params."""

import json

import numpy as np
import pytest
import torch

from factory.diffusion.loader import load_pipeline
from factory.generate.injection import injection_inputs, without_words
from factory.plan.diffusion_reid import injection_params
from schemas.generation_configs import DiffusionReidPlanConfig

STEPS = 6
PROMPT = "a photo of a person, red coat, front view, walking, on a street, daylight"


@pytest.fixture(scope="module")
def pipeline(toy_sd):
    return load_pipeline("text2img", toy_sd / "sd")


def _denoise(pipeline, injection: dict | None) -> tuple[list, np.ndarray]:
    """Latents after every step (after any injection) and the image."""
    params = {"injection": injection} if injection else {}
    rows = [{"prompt": PROMPT, "negative_prompt": "", "seed": 7, "params": params}]
    injected = injection_inputs(rows, STEPS)
    inject = injected.get("callback_on_step_end", lambda *args: {})
    seen = []

    def record(pipe, step, timestep, tensors):
        out = inject(pipe, step, timestep, tensors)
        seen.append(out.get("latents", tensors["latents"]).clone())
        return out

    image = pipeline(prompt=PROMPT, negative_prompt="", num_inference_steps=STEPS,
                     guidance_scale=5.0, height=64, width=32, output_type="np",
                     generator=torch.Generator("cpu").manual_seed(7),
                     callback_on_step_end=record,
                     callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"]).images
    return seen, image


@pytest.mark.parametrize("kind", ["prompt_swap", "noise"])
def test_an_injected_task_differs_from_its_plain_twin_only_after_the_injection_step(pipeline,
                                                                                    kind):
    injection = {"kind": kind, "at": 0.5, **({"noise": 0.5} if kind == "noise" else
                                             {"words": 4})}
    plain, plain_image = _denoise(pipeline, None)
    injected, image = _denoise(pipeline, injection)
    at = 3  # round(0.5 * 6): the injection comes once step index 2 is done
    for step in range(at - 1):
        assert torch.equal(plain[step], injected[step]), step
    first_changed = at - 1 if kind == "noise" else at  # noise: at once; a prompt: next step
    for step in range(first_changed, STEPS):
        assert not torch.equal(plain[step], injected[step]), step
    assert not np.array_equal(plain_image, image)
    again, again_image = _denoise(pipeline, injection)  # seeded: the same twice
    assert np.array_equal(again_image, image)


def test_the_swapped_prompt_is_the_identity_prompt_without_its_attribute_words():
    assert without_words(PROMPT, 4) == "a photo of a person, red coat"


def test_the_plan_records_the_injection_and_leaves_plain_plans_alone():
    assert injection_params(DiffusionReidPlanConfig()) == {}  # task ids of plain plans unchanged
    swap = injection_params(DiffusionReidPlanConfig(injection="prompt_swap", injection_at=0.3))
    assert swap == {"injection": {"kind": "prompt_swap", "at": 0.3, "words": 4}}
    noise = injection_params(DiffusionReidPlanConfig(injection="noise", injection_noise=0.2))
    assert json.loads(json.dumps(noise))["injection"] == {"kind": "noise", "at": 0.4,
                                                          "noise": 0.2}
    with pytest.raises(ValueError, match="may not hold a comma"):
        DiffusionReidPlanConfig(poses=["walking, slowly"])
