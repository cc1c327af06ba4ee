"""Build and run the Ray Train `TorchTrainer` of a TrainConfig.

Resuming: Ray Train V2 restores a run from the last checkpoint reported under the same
(storage_path, name), so re-running a killed job with the same config picks up where it stopped.
"""

from pathlib import Path

import ray
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from factory.train.loop import train_loop_per_worker
from schemas.configs import TrainConfig


def scaling_for(config: TrainConfig) -> ScalingConfig:
    resources = {"CPU": config.cpus_per_worker}
    if config.gpus_per_worker:
        resources["GPU"] = config.gpus_per_worker
    return ScalingConfig(num_workers=config.workers, use_gpu=config.gpus_per_worker > 0,
                         resources_per_worker=resources)


def build_trainer(config: TrainConfig, *, callbacks=None) -> TorchTrainer:
    run = RunConfig(
        name=config.name,
        storage_path=str(Path(config.storage_path).resolve()),
        checkpoint_config=CheckpointConfig(num_to_keep=config.keep_checkpoints),
        failure_config=FailureConfig(max_failures=2),
        callbacks=callbacks,
    )
    return TorchTrainer(train_loop_per_worker, train_loop_config=config.model_dump(mode="json"),
                        scaling_config=scaling_for(config), run_config=run)


def fit(config: TrainConfig) -> ray.train.Result:
    """Train (or resume) the run of `config`; raises if training failed."""
    return build_trainer(config).fit()
