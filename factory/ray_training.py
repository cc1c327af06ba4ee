"""The Ray Train scaffold shared by the ReID train stage and the adapt stage.

A run is named by (storage_path, name): Ray Train V2 restores it from its last reported
checkpoint when it is run again. A checkpoint holds the model part (written by the stage), the
optimiser state and the history of the run so far (Ray keeps only the last checkpoints'
metrics); rank 0 writes it, every rank reports.
"""

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import ray.train
import torch
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from schemas.config_base import ConfigError, RayTrainRun

TRAIN_STATE = "train_state.pt"
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
                    failure_config=FailureConfig(max_failures=2), callbacks=callbacks)
    return TorchTrainer(loop, train_loop_config=config.model_dump(mode="json"),
                        scaling_config=scaling_for(config), run_config=run)


def check_gpus(config: RayTrainRun) -> None:
    """Fail at once, not after Ray Train has waited for a GPU that never comes, when GPUs are
    asked for from the local Ray this process would start on a machine without one."""
    local = not ray.is_initialized() and not os.environ.get("RAY_ADDRESS")
    if config.gpus_per_worker and local and not torch.cuda.is_available():
        raise ConfigError(f"field 'gpus_per_worker': {config.gpus_per_worker} GPUs per worker, "
                          "but this machine has none and no Ray cluster is named (RAY_ADDRESS); "
                          "set gpus_per_worker: 0 to train on CPU, or submit the job to a cluster")


def fit(loop: Callable[[dict], None], config: RayTrainRun) -> ray.train.Result:
    """Run (or resume) the run; raises if it failed or reported no checkpoint."""
    check_gpus(config)
    result = build_trainer(loop, config).fit()
    if result.checkpoint is None:
        raise RuntimeError(f"run {config.name!r} reported no checkpoint")
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
