"""The one place that turns a model path or hub id from a config into a diffusers pipeline.

Pipelines come back on CPU (float32 unless asked otherwise) with the safety checker off, the
chosen scheduler swapped in from the model's own scheduler config, and the progress bar off; the
caller moves them to its device. An adapter folder (identity tokens + LoRA, made by the adapt
stage) is applied on top when named. `model_fingerprint` names the weights a result came from.
"""

import hashlib
import json
import os
from pathlib import Path

from factory.diffusion.adapters import AdapterSet, apply_adapter_set, load_adapter_set
from factory.pretrained.hub import is_hub_id, pinned_folder
from factory.storage import is_uri, local_copy, storage_path

# kind -> (diffusers pipeline class, UNet input channels it needs)
PIPELINES = {
    "text2img": ("StableDiffusionPipeline", 4),
    "img2img": ("StableDiffusionImg2ImgPipeline", 4),
    "inpaint": ("StableDiffusionInpaintPipeline", 9),
}
# name -> (diffusers scheduler class, overrides of the model's scheduler config)
SCHEDULERS = {
    "ddim": ("DDIMScheduler", {}),
    "dpmsolver++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "euler": ("EulerDiscreteScheduler", {}),
}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".ckpt")
# Weight files up to this size are hashed whole; bigger ones by size + their first and last MiB,
# which still changes when training touches any tensor stored there (every SD fine-tune does).
FULL_HASH_LIMIT = 64 * 2**20
SAMPLE_BYTES = 2**20


def check_choice(what: str, value: str, valid: dict) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {sorted(valid)}")


def check_unet(kind: str, path, in_channels: int) -> None:
    needed = PIPELINES[kind][1]
    if in_channels != needed:
        raise ValueError(f"{path}: a {kind} pipeline needs a UNet with {needed} input channels, "
                         f"this model's has {in_channels}")


def load_pipeline(kind: str, path: str | os.PathLike, *, scheduler: str = "ddim",
                  torch_dtype=None, adapters=None):
    """Load a Stable Diffusion pipeline of `kind` (text2img, img2img, inpaint) from `path`.

    `path` is a local diffusers folder or a hub id, loaded from its snapshot at the pinned
    revision (`resolve_model_folder`: pulled by `factory models pull`, never downloaded here).
    `scheduler` is ddim, dpmsolver++ or euler; `torch_dtype` defaults to float32.
    `adapters` (an adapter folder or a loaded `AdapterSet`) adds its identity tokens and fuses its
    LoRA; adapters trained on other base weights are refused before any weights load.
    """
    check_choice("pipeline kind", kind, PIPELINES)
    check_choice("scheduler", scheduler, SCHEDULERS)
    if adapters is not None:
        adapters = checked_adapters(adapters, path, kind)
    folder = resolve_model_folder(path)
    unet_config = folder / "unet" / "config.json"
    if unet_config.is_file():  # fail before loading any weights
        check_unet(kind, path, json.loads(unet_config.read_text())["in_channels"])
    import diffusers
    import torch

    pipeline = getattr(diffusers, PIPELINES[kind][0]).from_pretrained(
        str(folder), dtype=torch_dtype or torch.float32,
        safety_checker=None, requires_safety_checker=False,
    )
    check_unet(kind, path, pipeline.unet.config.in_channels)
    scheduler_name, overrides = SCHEDULERS[scheduler]
    scheduler_class = getattr(diffusers, scheduler_name)
    pipeline.scheduler = scheduler_class.from_config(pipeline.scheduler.config, **overrides)
    pipeline.set_progress_bar_config(disable=True)
    if adapters is not None:
        apply_adapter_set(pipeline, adapters)
    return pipeline


def checked_adapters(adapters, path, kind: str = "text2img") -> AdapterSet:
    """The adapter set named by `adapters`, if it was trained on the weights at `path`; or, for
    an inpainting model, on a model whose text encoder it shares (SD-inpainting is SD-1.5
    fine-tuned: the identity tokens live in the shared text encoder and the LoRA sits on
    attention projections of the same shapes; DLCR outfit changes of DiVE identities)."""
    if not isinstance(adapters, AdapterSet):
        adapters = load_adapter_set(adapters)
    fingerprint = model_fingerprint(path)
    if kind == "inpaint" and adapters.text_encoder is not None and adapters.text_encoder == \
            model_fingerprint(resolve_model_folder(path) / "text_encoder"):
        return adapters
    if adapters.base_fingerprint != fingerprint:
        raise ValueError(f"{adapters.path}: adapters were trained on a base model with fingerprint "
                         f"{adapters.base_fingerprint}, but {path} has fingerprint {fingerprint}; "
                         f"adapt that model again or load the model they were made for")
    return adapters


def resolve_model_folder(path: str | os.PathLike) -> Path:
    """A local folder as is; a folder in a bucket as its local copy (`factory.storage`); a hub
    id as its snapshot at the revision `factory models pull` pinned (`factory.pretrained`;
    never downloaded here)."""
    if is_uri(path):
        return local_copy(storage_path(path))
    if Path(path).is_dir():
        return Path(path)
    if not is_hub_id(str(path)):
        raise FileNotFoundError(f"{path}: no such model folder, nor a hub id")
    return pinned_folder(str(path))


def weight_file_digest(file: Path) -> bytes:
    """Hash of a weight file: whole up to FULL_HASH_LIMIT, else size + first and last MiB."""
    size = file.stat().st_size
    digest = hashlib.sha256(f"{size}\0".encode())
    with file.open("rb") as stream:
        if size <= FULL_HASH_LIMIT:
            for chunk in iter(lambda: stream.read(SAMPLE_BYTES), b""):
                digest.update(chunk)
        else:
            digest.update(stream.read(SAMPLE_BYTES))
            stream.seek(size - SAMPLE_BYTES)
            digest.update(stream.read(SAMPLE_BYTES))
    return digest.digest()


def model_fingerprint(path: str | os.PathLike) -> str:
    """A short stable hash of a model folder: its config files' contents and its weight files
    (see `weight_file_digest`: multi-GB checkpoints cost two MiB each to read)."""
    folder = resolve_model_folder(path)
    digest = hashlib.sha256()
    for file in sorted(folder.rglob("*")):
        relative = file.relative_to(folder).as_posix()
        if not file.is_file() or any(part.startswith(".") for part in relative.split("/")):
            continue
        if file.suffix == ".json":
            digest.update(f"{relative}\0".encode() + file.read_bytes() + b"\0")
        elif file.suffix in WEIGHT_SUFFIXES:
            digest.update(f"{relative}\0".encode() + weight_file_digest(file))
    return digest.hexdigest()[:16]
