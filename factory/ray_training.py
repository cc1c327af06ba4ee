"""The Ray Train scaffold shared by the ReID train stage and the adapt stage.

A run is named by (storage_path, name): Ray Train V2 restores it from its last reported
checkpoint when it is run again. A checkpoint holds the model part (written by the stage), the
optimiser state and the history of the run so far (Ray keeps only the last checkpoints'
metrics); rank 0 writes it, every rank reports. A re-run whose config would change what is
trained is refused before Ray starts (`factory.run_record`), and after every run the run folder
keeps only its newest `keep_checkpoints` checkpoints (Ray Train forgets those of an interrupted
attempt, so they would otherwise stay for good).
"""

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import ray.train
import torch
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from factory.local_ray import cluster_address, init_ray
from factory.run_record import check_run_record, run_record
from factory.storage import ObjectPath, rmtree, storage_path
from schemas.config_base import ConfigError, RayTrainRun

TRAIN_STATE = "train_state.pt"
# A worker's error (a bad image, a bad value) fails the run at once instead of being retried
# from the same checkpoint into the same error; node preemptions are still retried (Ray counts
# them apart), and a re-run resumes from the last checkpoint.
FAILURES = FailureConfig(max_failures=0)
HISTORY = "history.json"


def scaling_for(config: RayTrainRun) -> ScalingConfig:
    resources = {"CPU": config.cpus_per_worker}
    if config.gpus_per_worker:
        resources["GPU"] = config.gpus_per_worker
    return ScalingConfig(num_workers=config.workers, use_gpu=config.gpus_per_worker > 0,
                         resources_per_worker=resources)


def build_trainer(loop: Callable[[dict], None], config: RayTrainRun, *,
                  callbacks=None) -> TorchTrainer:
    """A `TorchTrainer` running `loop(config as JSON)` on every worker."""
    run = RunConfig(name=config.name, storage_path=str(config.storage_path),
                    checkpoint_config=CheckpointConfig(num_to_keep=config.keep_checkpoints),
                    failure_config=FAILURES, callbacks=callbacks)
    return TorchTrainer(loop, train_loop_config=config.model_dump(mode="json"),
                        scaling_config=scaling_for(config), run_config=run)


def check_gpus(config: RayTrainRun) -> None:
    """Fail at once, not after Ray Train has waited for a GPU that never comes, when GPUs are
    asked for from the local Ray this process would start on a machine without one."""
    local = not ray.is_initialized() and cluster_address() is None
    if config.gpus_per_worker and local and not torch.cuda.is_available():
        raise ConfigError(f"field 'gpus_per_worker': {config.gpus_per_worker} GPUs per worker, "
                          "but this machine has none and no Ray cluster is named (RAY_ADDRESS); "
                          "set gpus_per_worker: 0 to train on CPU, or submit the job to a cluster")


def run_checkpoints(folder: Path) -> list[Path]:
    """The checkpoint folders of the run in `folder`, oldest first (Ray names them by time)."""
    return sorted(path for path in storage_path(folder).glob("checkpoint_*") if path.is_dir())


def prune_checkpoints(folder: Path, keep: int, last: Path) -> list[Path]:
    """Delete all but the newest `keep` checkpoints of the run in `folder`, never `last`;
    returns the deleted ones."""
    old = [path for path in run_checkpoints(folder)[:-keep] if path != last]
    for path in old:
        rmtree(path)
    return old


def result_path(storage: "str | Path | ObjectPath", path: str) -> "Path | ObjectPath":
    """A path Ray Train or Tune reports (a run's, a trial's or a checkpoint's) as a path of the
    `storage` it was given: Ray gives paths in a bucket without their scheme."""
    storage = storage_path(storage)
    return ObjectPath(f"{storage.scheme}://{path}") if isinstance(storage, ObjectPath) \
        else Path(path)


def fit(loop: Callable[[dict], None], config: RayTrainRun, *, restart: bool = False,
        extra: dict | None = None) -> ray.train.Result:
    """Run (or resume) the run; raises if it failed or reported no checkpoint, or, before any
    work, if it would resume a run started with another config (`restart`: start it over;
    `extra`: what else decides what is trained, recorded with the config)."""
    check_gpus(config)
    folder = storage_path(config.storage_path) / config.name
    check_run_record(folder, run_record(config, extra=extra), restart=restart, name=config.name,
                     started=bool(run_checkpoints(folder)))
    init_ray()
    result = build_trainer(loop, config).fit()
    if result.checkpoint is None:
        raise RuntimeError(f"run {config.name!r} reported no checkpoint")
    last = result_path(config.storage_path, result.checkpoint.path)
    prune_checkpoints(folder, config.keep_checkpoints, last)
    return result


def read_history(checkpoint: ray.train.Checkpoint) -> list:
    with checkpoint.as_directory() as folder:
        return json.loads((Path(folder) / HISTORY).read_text())


def restore(load_model: Callable[[Path], None]) -> tuple[dict | None, list]:
    """On a worker: load the run's last checkpoint, if any, with `load_model(folder)`; returns
    (the optimiser state or None, the history so far)."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None, []
    with checkpoint.as_directory() as folder:
        load_model(Path(folder))
        state = torch.load(Path(folder) / TRAIN_STATE, weights_only=True)
        history = json.loads((Path(folder) / HISTORY).read_text())
    return state["optimizer"], history


def report(metrics: dict, *, rank: int, optimizer: torch.optim.Optimizer, history: list,
           save_model: Callable[[Path], None]) -> None:
    """On every worker: report `metrics`, with a checkpoint from rank 0 (`save_model(folder)`
    writes the model part, then the optimiser state and history)."""
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            save_model(Path(folder))
            torch.save({"optimizer": optimizer.state_dict()}, Path(folder) / TRAIN_STATE)
            (Path(folder) / HISTORY).write_text(json.dumps(history, indent=1))
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report(metrics, checkpoint=checkpoint)
