"""The lock file: which revision of each pulled model the factory uses.

It sits beside the models it describes, in the hub cache: `$HF_HOME/reid-factory/models.lock.json`
(the `FACTORY_MODELS_LOCK` environment variable names another file). There every node and every
job sees it, including a `factory models pull` run under `ray job submit`, whose uploaded copy of
the repository is thrown away afterwards; the revision also reaches every result through the
model fingerprints in task ids and lineage. To pin the same revisions elsewhere, copy the file
(or keep one under version control and name it with FACTORY_MODELS_LOCK): a pull fetches what
it pins. It maps each hub id to the commit it was pulled at, and each backbone's ImageNet weights
to torchvision's file (whose name carries its hash):

    {"hub": {"org/name": "<40-hex commit>"},
     "torchvision": {"resnet50": {"weights": "ResNet50_Weights.IMAGENET1K_V1",
                                  "file": "resnet50-0676ba61.pth"}}}
"""

import json
import os
from pathlib import Path

from factory.atomic import write_text

LOCK_ENV = "FACTORY_MODELS_LOCK"
LOCK_NAME = "models.lock.json"
SECTIONS = ("hub", "torchvision")
PULL_COMMAND = "factory models pull CONFIG"
OFFLINE_HINT = "pull it where the hub is reachable (HF_HUB_OFFLINE unset) into the same cache"


class ModelNotPulled(FileNotFoundError):
    """A model a job needs is not in the local cache (or not pinned): pull it first."""

    def __init__(self, model: str, why: str, field: str | None = None, *, hint: str = ""):
        named = f"field {field!r}: " if field else ""
        hint = hint or (f"pull it first with `{PULL_COMMAND}` (CONFIG: the job's YAML that "
                        f"names it)")
        super().__init__(f"{named}model {model} {why}; {hint}")
        self.model = model


def lock_path() -> Path:
    """The lock file in use: $FACTORY_MODELS_LOCK, else the one in the hub cache's home."""
    named = os.environ.get(LOCK_ENV)
    if named:
        return Path(named)
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "reid-factory" / LOCK_NAME


def read_lock() -> dict:
    """The lock's sections (empty when there is no lock file yet)."""
    path = lock_path()
    lock = {section: {} for section in SECTIONS}
    if path.is_file():
        try:
            lock |= json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not a valid lock file: {error}") from None
    return lock


def pinned_revision(model_id: str) -> str | None:
    """The commit `model_id` is pinned at, or None when it was never pulled."""
    return read_lock()["hub"].get(model_id)


def record(section: str, key: str, value) -> None:
    """Pin `key` (a hub id or a backbone) to `value` in the lock file, keeping the rest (one
    pull at a time: concurrent pulls may each drop the other's new entries)."""
    lock = read_lock()
    lock[section] = {**lock[section], key: value}
    write_text(lock_path(), json.dumps(lock, indent=2, sort_keys=True) + "\n")
