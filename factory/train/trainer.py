"""Build and run the Ray Train `TorchTrainer` of a TrainConfig.

Resuming: Ray Train V2 restores a run from the last checkpoint reported under the same
(storage_path, name), so re-running a killed job with the same config picks up where it stopped.
"""

from pathlib import Path

import ray
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from factory.train.loop import train_loop_per_worker
from schemas.configs import ConfigError, TrainConfig

INPUT_FIELDS = ("images", "synthetic", "scores", "refine_with", "pretrained")


def resolved(config: TrainConfig) -> TrainConfig:
    """The config with absolute paths (Ray workers run elsewhere), its input files checked so a
    bad path fails before any work starts, naming the field."""
    changes = {}
    for field in (*INPUT_FIELDS, "storage_path"):
        path = getattr(config, field)
        if path is None:
            continue
        if field in INPUT_FIELDS and not Path(path).exists():
            raise ConfigError(f"field {field!r}: {path} does not exist")
        changes[field] = Path(path).resolve()
    return config.model_copy(update=changes)


def scaling_for(config: TrainConfig) -> ScalingConfig:
    resources = {"CPU": config.cpus_per_worker}
    if config.gpus_per_worker:
        resources["GPU"] = config.gpus_per_worker
    return ScalingConfig(num_workers=config.workers, use_gpu=config.gpus_per_worker > 0,
                         resources_per_worker=resources)


def build_trainer(config: TrainConfig, *, callbacks=None) -> TorchTrainer:
    config = resolved(config)
    run = RunConfig(
        name=config.name,
        storage_path=str(config.storage_path),
        checkpoint_config=CheckpointConfig(num_to_keep=config.keep_checkpoints),
        failure_config=FailureConfig(max_failures=2),
        callbacks=callbacks,
    )
    return TorchTrainer(train_loop_per_worker, train_loop_config=config.model_dump(mode="json"),
                        scaling_config=scaling_for(config), run_config=run)


def fit(config: TrainConfig) -> ray.train.Result:
    """Train (or resume) the run of `config`; raises if training failed."""
    return build_trainer(config).fit()
