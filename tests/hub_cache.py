"""A fake huggingface_hub cache for tests: `models--org--name/snapshots/<commit>/` and
`refs/main`, the layout `snapshot_download` reads (nothing is downloaded)."""

import shutil
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def use_hub_cache(monkeypatch, root: Path) -> Path:
    """Point huggingface_hub (and the factory's lock file) at empty folders under `root`."""
    from huggingface_hub import constants

    cache = root / "hub"
    cache.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("FACTORY_MODELS_LOCK", str(root / "models.lock.json"))
    return cache


def cache_model(cache: Path, model_id: str, source: Path, commit: str = COMMIT) -> Path:
    """Copy the model folder `source` into the cache as `model_id` at `commit` (main)."""
    repo = cache / f"models--{model_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(source, snapshot)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot
