"""ReID checkpoints: a folder with `model.safetensors` (the state dict) and `config.json`.

`config.json` holds how to rebuild the model (`build_model`'s arguments), the pid of each
identity class (so a checkpoint alone tells which class is which person: the filter needs
nothing else) and the caller's JSON-serialisable settings (e.g. the training config).
"""

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from factory.atomic import atomic_path, write_text
from factory.reid.models import ReIDModel, build_model
from factory.storage import local_copy, storage_path

CHECKPOINT_WEIGHTS = "model.safetensors"
CHECKPOINT_CONFIG = "config.json"
CHECKPOINT_FORMAT = "reid-factory/reid-model/v1"


def save_checkpoint(model: ReIDModel, folder: str | Path, config: dict | None = None, *,
                    class_pids: list[int] | None = None) -> Path:
    """Write `model.safetensors` and `config.json` into `folder`, each file atomically.
    `class_pids`: the dataset pid of each identity class, one per class. Pass the bare model,
    not its DDP wrapper."""
    if class_pids is not None and len(class_pids) != model.num_classes:
        raise ValueError(f"{len(class_pids)} class pids for a model of {model.num_classes} "
                         f"classes")
    folder = Path(folder)
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    with atomic_path(folder / CHECKPOINT_WEIGHTS) as tmp:
        save_file(state, tmp, metadata={"format": "pt"})
    document = {"format": CHECKPOINT_FORMAT, "model": model.build_config(), "config": config or {},
                "class_pids": None if class_pids is None else [int(pid) for pid in class_pids]}
    write_text(folder / CHECKPOINT_CONFIG, json.dumps(document, indent=2, sort_keys=True) + "\n")
    return folder


def load_checkpoint_config(folder: str | Path) -> dict:
    """The whole `config.json` of a checkpoint (a folder, local or in a bucket): {"format",
    "model", "config", "class_pids"}."""
    path = storage_path(folder) / CHECKPOINT_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: not a ReID checkpoint (no {CHECKPOINT_CONFIG})")
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        found = document.get("format") if isinstance(document, dict) else document
        raise ValueError(f"{path}: format {found!r}, expected {CHECKPOINT_FORMAT!r}")
    return document


def checkpoint_class_pids(folder: str | Path) -> list[int]:
    """The pid of each identity class of a checkpoint."""
    class_pids = load_checkpoint_config(folder).get("class_pids")
    if class_pids is None:
        raise ValueError(f"{folder}/{CHECKPOINT_CONFIG}: no `class_pids` (which class is which "
                         f"person); use a checkpoint written by `factory train`")
    return class_pids


def load_checkpoint(folder: str | Path, *, device: str | torch.device = "cpu") -> ReIDModel:
    """Rebuild the model saved in `folder` and load its weights; returned in eval mode."""
    spec = load_checkpoint_config(folder)["model"]
    model = build_model(spec["name"], spec["num_classes"], **spec["options"])
    model.load_state_dict(load_file(local_copy(storage_path(folder)) / CHECKPOINT_WEIGHTS))
    return model.to(device).eval()


def backbone_state(folder: str | Path) -> dict[str, torch.Tensor]:
    """The backbone of the model saved in `folder` as a torchvision ResNet state dict (what
    `TrainConfig.pretrained` loads), without building the model."""
    load_checkpoint_config(folder)  # a clear error when `folder` is no checkpoint
    state = {}
    for key, value in load_file(local_copy(storage_path(folder)) / CHECKPOINT_WEIGHTS).items():
        for part in ("stem.", "body."):
            if key.startswith(part):
                state[key.removeprefix(part)] = value.contiguous()
    return state
