"""Build and run the Ray Train `TorchTrainer` of a TrainConfig (`factory.ray_training`).

Resuming: Ray Train V2 restores a run from the last checkpoint reported under the same
(storage_path, name), so re-running a killed job with the same config picks up where it stopped;
with a changed config it is refused (`factory.run_record`).
"""

import ray
from ray.train.torch import TorchTrainer

from factory.config_paths import resolve_paths
from factory.pretrained.imagenet import imagenet_weights
from factory.ray_training import build_trainer as build_torch_trainer
from factory.ray_training import fit as fit_run
from factory.train.loop import train_loop_per_worker
from schemas.configs import TrainConfig

INPUT_FIELDS = ("images", "synthetic", "scores", "source_images", "refine_with", "pretrained")


def resolved(config: TrainConfig) -> TrainConfig:
    """The config with absolute paths (Ray workers run elsewhere), its input files checked so a
    bad path fails before any work starts, naming the field; `pretrained: imagenet` becomes
    torchvision's cached ImageNet file of the backbone (not pulled: an error naming it)."""
    if config.pretrained == "imagenet":
        config = config.model_copy(update={"pretrained": imagenet_weights(config.arch)})
    return resolve_paths(config, inputs=INPUT_FIELDS, outputs=("storage_path",))


def build_trainer(config: TrainConfig, *, callbacks=None) -> TorchTrainer:
    return build_torch_trainer(train_loop_per_worker, resolved(config), callbacks=callbacks)


def fit(config: TrainConfig, *, restart: bool = False) -> ray.train.Result:
    """Train (or resume; `restart`: start over) the run of `config`; raises if training failed
    or if the run was started with another config."""
    return fit_run(train_loop_per_worker, resolved(config), restart=restart)
