"""Hub models in huggingface_hub's cache: pulled at a pinned commit, found at that commit.

The cache is huggingface_hub's (`HF_HUB_CACHE`, by default `$HF_HOME/hub`):
`models--org--name/snapshots/<commit>/` holds a revision's files and `refs/main` the commit the
`main` branch had when it was last pulled. A pull takes only what the factory loads: PyTorch
weights (safetensors where a folder has them), no half-precision or EMA variants, and for a
diffusers pipeline its component folders but not the single-file checkpoints beside them nor the
safety checker (the loader turns it off).
"""

import re
from pathlib import Path, PurePosixPath

from factory.pretrained.lock import OFFLINE_HINT, ModelNotPulled, lock_path, pinned_revision

HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")  # "org/name"
TORCH_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
OTHER_WEIGHTS = (".onnx", ".msgpack", ".h5", ".ot", ".tflite", ".gguf", ".pb", ".mlmodel")
UNUSED_FOLDERS = ("safety_checker",)  # diffusers pipelines: the loader never loads it


def is_hub_id(name: str) -> bool:
    """An "org/name" that is not a local folder."""
    return bool(HUB_ID.match(name)) and not Path(name).exists()


def hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def offline() -> bool:
    from huggingface_hub import constants

    return constants.is_offline_mode()


def pinned_folder(model_id: str, field: str | None = None) -> Path:
    """The snapshot folder of `model_id` at its pinned commit (never downloaded)."""
    from huggingface_hub import snapshot_download

    revision = pinned_revision(model_id)
    if revision is None:
        raise ModelNotPulled(model_id, f"has no pinned revision in {lock_path()}", field)
    try:
        return Path(snapshot_download(model_id, revision=revision, cache_dir=hub_cache(),
                                      local_files_only=True))
    except Exception as error:  # the hub client raises several types for "not cached"
        raise ModelNotPulled(model_id, f"is pinned at {revision} but that snapshot is not in "
                             f"the model cache {hub_cache()}", field) from error


def files_to_pull(files: list[str]) -> list[str]:
    """The repository files the factory loads (see the module docstring)."""
    pipeline = "model_index.json" in files
    with_safetensors = {PurePosixPath(name).parent for name in files
                        if name.endswith(".safetensors")}
    keep = []
    for name in files:
        path = PurePosixPath(name)
        if name.endswith(OTHER_WEIGHTS) or (pipeline and path.parts[0] in UNUSED_FOLDERS):
            continue
        if name.endswith(TORCH_WEIGHTS):
            single_file = pipeline and len(path.parts) == 1
            variant = "." in path.stem  # model.fp16.safetensors, ….non_ema.bin
            unsafe = path.suffix != ".safetensors" and path.parent in with_safetensors
            if single_file or variant or unsafe:
                continue
        keep.append(name)
    return sorted(keep)


def pull_hub_model(model_id: str, *, update: bool = False) -> Path:
    """Download `model_id` at its pinned commit (the `main` branch when it has none, or with
    `update`) and return its snapshot folder; offline, only find it in the cache."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    revision = (None if update else pinned_revision(model_id)) or "main"
    if offline():
        try:
            return Path(snapshot_download(model_id, revision=revision, cache_dir=hub_cache(),
                                          local_files_only=True))
        except Exception as error:
            raise ModelNotPulled(model_id, f"is not in the model cache {hub_cache()} and "
                                 f"HF_HUB_OFFLINE=1 forbids downloading it",
                                 hint=OFFLINE_HINT) from error
    try:
        info = HfApi().model_info(model_id, revision=revision)
        files = files_to_pull([sibling.rfilename for sibling in info.siblings])
        return Path(snapshot_download(model_id, revision=revision, cache_dir=hub_cache(),
                                      allow_patterns=files))
    except GatedRepoError:
        raise ValueError(f"{model_id} is gated: accept its licence on "
                         f"https://huggingface.co/{model_id} and log in (`hf auth login`, or "
                         f"HF_TOKEN) before pulling it") from None
    except RepositoryNotFoundError:
        raise ValueError(f"{model_id}: no such model on the hub (or it is private)") from None
