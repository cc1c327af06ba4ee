"""The models a job config names, whether they are pulled, and pulling them.

`MODEL_FIELDS` is the one table of model fields: per config kind, the dotted path of each field
that names a model and when the job uses it. `factory models pull CONFIG` pulls what it lists;
`require_pulled` stops a job before any work when one of them is missing; the laptop's tiny
stand-ins (`factory models tiny`) swap every field of it.
"""

from dataclasses import dataclass
from pathlib import Path

from factory.pretrained.hub import is_hub_id, pinned_folder, pull_hub_model
from factory.pretrained.imagenet import IMAGENET_WEIGHTS, imagenet_weights, pull_imagenet
from factory.pretrained.lock import record
from factory.storage import ObjectPath, storage_path
from schemas.config_base import ConfigError, StrictModel, make_config, read_yaml
from schemas.configs import CONFIGS


def _dlcr_parser(job) -> bool:
    return job.method == "dlcr" and job.masks is None


def _describe_llm(job) -> bool:
    return job.describe.backend == "vllm"


def _describe_vlm(job) -> bool:
    return job.describe.vlm_backend in ("vllm", "transformers")


# config kind -> {dotted field: (role, does this config use it?)}; roles: pipeline (diffusers),
# parser, llm, vlm (transformers folders), imagenet (the value is `imagenet`, the arch names it)
MODEL_FIELDS = {
    "generation_job": {
        "model": ("pipeline", lambda job: True),
        "parser": ("parser", _dlcr_parser),
        "describe.model": ("llm", _describe_llm),
        "describe.vlm": ("vlm", _describe_vlm),
    },
    "adapt": {"model": ("pipeline", lambda config: True)},
    "train": {"pretrained": ("imagenet", lambda config: config.pretrained == "imagenet")},
    "sweep": {"train.pretrained": ("imagenet", lambda config: config.train.pretrained
                                   == "imagenet")},
}


@dataclass(frozen=True)
class ModelRef:
    """One model a config uses: where it is named and how it is found."""

    field: str
    """Dotted path of the config field."""
    name: str
    """Hub id, local folder, or (imagenet) the backbone arch."""
    source: str
    """`hub` (an org/name that is no folder here), `local` (a folder, not checked) or
    `imagenet`."""


def _value(config: StrictModel, field: str):
    for part in field.split("."):
        config = getattr(config, part)
    return config


def read_job_config(path: str | Path) -> tuple[str, StrictModel]:
    """(kind, config) of a YAML file that is a generation job, adapt, train or sweep config."""
    fields, errors = read_yaml(path), []
    for kind in MODEL_FIELDS:
        try:
            return kind, make_config(CONFIGS[kind], fields, source=str(path))
        except ConfigError as error:
            errors.append(f"as {kind}: {str(error).splitlines()[-1].strip()}")
    raise ConfigError(f"{path}: not a config that names models ("
                      f"{', '.join(MODEL_FIELDS)}):\n  " + "\n  ".join(errors))


def config_models(kind: str, config: StrictModel, *, fields=None) -> list[ModelRef]:
    """The models `config` (of `kind`) uses, in `MODEL_FIELDS` order; only those whose field
    `fields(field)` accepts, when given."""
    refs = []
    for field, (role, used) in MODEL_FIELDS[kind].items():
        if (fields is not None and not fields(field)) or not used(config):
            continue
        if role == "imagenet":  # the backbone is named by the `arch` beside `pretrained`
            arch = _value(config, field.replace("pretrained", "arch"))
            refs.append(ModelRef(field, arch, "imagenet"))
            continue
        name = str(_value(config, field))
        refs.append(ModelRef(field, name, "hub" if is_hub_id(name) else "local"))
    return refs


def require_pulled(kind: str, config: StrictModel, *, fields=None) -> list[ModelRef]:
    """Check that the models `config` uses (those whose field `fields(field)` accepts; all by
    default) are at hand: hub models pulled and pinned, ImageNet weights cached; raises
    `ModelNotPulled` naming the first missing one. Returns the models checked."""
    refs = config_models(kind, config, fields=fields)
    for ref in refs:
        if ref.source == "local" and not storage_path(ref.name).is_dir():  # or in a bucket
            raise ConfigError(f"field {ref.field!r}: {ref.name} is neither a model folder nor "
                              f"a hub id (org/name)")
        if ref.source == "hub":
            pinned_folder(ref.name, ref.field)
        elif ref.source == "imagenet":
            imagenet_weights(ref.name)
    return refs


@dataclass(frozen=True)
class Pulled:
    """One model after `pull`: where it is now and the revision the lock pins."""

    ref: ModelRef
    path: "Path | ObjectPath"
    revision: str | None


def pull_config(path: str | Path, *, update: bool = False) -> list[Pulled]:
    """Pull every model the config file at `path` uses and pin it in the lock file; models
    already cached at their pinned revision are not downloaded again."""
    return pull_models(*read_job_config(path), update=update)


def pull_models(kind: str, config: StrictModel, *, update: bool = False) -> list[Pulled]:
    """`pull_config` for a config already read (and overridden) as `kind`."""
    pulled = []
    for ref in config_models(kind, config):
        if ref.source == "local":
            pulled.append(Pulled(ref, storage_path(ref.name), None))
        elif ref.source == "imagenet":
            file = pull_imagenet(ref.name)
            record("torchvision", ref.name, {"weights": IMAGENET_WEIGHTS[ref.name],
                                             "file": file.name})
            pulled.append(Pulled(ref, file, file.name))
        else:
            folder = pull_hub_model(ref.name, update=update)
            record("hub", ref.name, folder.name)  # the snapshot folder is named by its commit
            pulled.append(Pulled(ref, folder, folder.name))
    return pulled
