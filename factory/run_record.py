"""What a resumable run (a Ray Train run, a Ray Tune sweep) was started with, so that a re-run
under the same name with a changed config is refused instead of silently handing back the old
run's results.

A run folder holds `run_config.json`: the config's fields that decide what is trained (every
field but the ones the model lists in `resumable`, such as more epochs or other workers), plus
whatever else the caller adds (the adapt stage: its identities). Once the run has state to
resume, a re-run whose record differs fails before any work, listing each differing field with
its old and new value; `restart=True` (the commands' `--restart`) deletes the run and starts
over.
"""

import json
from pathlib import Path

from factory.atomic import write_text
from factory.storage import rmtree, storage_path
from schemas.config_base import ConfigError

RUN_RECORD = "run_config.json"


def run_record(config, *, extra: dict | None = None) -> dict:
    """The fields of `config` that decide what its run trains (JSON values), plus `extra`."""
    resumable = set(getattr(config, "resumable", ()))
    return config.model_dump(mode="json", exclude=resumable) | (extra or {})


def differences(before: dict, after: dict) -> list[str]:
    """`field: old -> new` for every field whose value differs (missing: `(none)`)."""
    def shown(record: dict, key: str) -> str:
        return json.dumps(record[key]) if key in record else "(none)"

    return [f"{key}: {shown(before, key)} -> {shown(after, key)}"
            for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key)]


def check_run_record(folder: Path, record: dict, *, started: bool, restart: bool = False,
                     name: str = "") -> None:
    """Before a run starts or resumes in `folder`: with `restart`, delete the folder; else, if
    the run has state to resume (`started`), refuse a `record` other than the one it was started
    with; then write `record` (a run not yet started may be retried with any config)."""
    folder = storage_path(folder)
    path = folder / RUN_RECORD
    if restart and folder.exists():
        rmtree(folder)
    elif started:
        if not path.is_file():
            raise ConfigError(f"{folder}: run {name!r} has checkpoints but no {RUN_RECORD} (it "
                              f"was started before runs recorded their config), so a resume "
                              f"cannot be checked; use --restart to start it over, or another "
                              f"name")
        changed = differences(json.loads(path.read_text()), record)
        if changed:
            raise ConfigError(f"{path}: run {name!r} was started with another config "
                              f"({'; '.join(changed)}); resume with the old values, use "
                              f"--restart to start it over, or pick another name")
        return
    write_text(path, json.dumps(record, indent=1) + "\n")
