"""The adapt stage: identity tokens (textual inversion) and a modality LoRA, learned jointly on
Ray Train (DiVE; Diffusion-ReID's identity representation).

Modules: `stage` (`run_adapt`: the Ray Train run and its resume), `data` (the images and prompts it
learns from), `model` (the trainable SD pieces); the adapter files are `factory.diffusion.adapters`.
"""
