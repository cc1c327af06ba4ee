"""The base of every job configuration: strict pydantic models, YAML loading with clear errors,
and the one way every command and job overrides fields.

Config models live in `schemas/configs.py` (toy world, ingest, demo, train, sweep) and in one module
per stage group beside it; `schemas.configs.CONFIGS` gathers them all for the JSON Schema export.

An override names a field by its dotted path from the top of the config (`epochs`, `train.lr`,
`plan.recipe.steps`); the path is checked against the model. `--set KEY=VALUE` reads VALUE as
YAML (`2`, `[rgb, ir]`, `null` sets the field to null); a preset (`--smoke`'s YAML files) is a
mapping of the same paths to values. Whatever is overridden, the result is validated like a file.
"""

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from factory.storage import ObjectPath, storage_path


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, the field and the value."""


STORAGE_ROOT = "FACTORY_STORAGE_ROOT"


def _storage_value(value):
    if not isinstance(value, str | os.PathLike | ObjectPath):
        raise ValueError(f"expected a path or an s3:// or gs:// URI, got {type(value).__name__}")
    return storage_path(value)


StoragePath = Annotated[
    Path, PlainValidator(_storage_value), PlainSerializer(str, when_used="json"),
    WithJsonSchema({"type": "string", "description": "a local path or an s3:// / gs:// URI"})]
"""A data or output path: a local `Path`, or an `ObjectPath` for `s3://` and `gs://` URIs
(`factory.storage`)."""


class StrictModel(BaseModel):
    """A config section. With `FACTORY_STORAGE_ROOT` set (a cluster's shared folder), every
    relative path field, given or default, is taken under it instead of the working folder:
    the shipped configs then run unedited under `ray job submit`, whose working folder is a
    throwaway copy of the repository. The root may be a bucket (`s3://bucket/factory`): the
    data and output paths (`StoragePath` fields) are then objects in it."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True,
                              validate_default=True)

    @field_validator("*", mode="after")
    @classmethod
    def _under_storage_root(cls, value):
        root = os.environ.get(STORAGE_ROOT)
        if root and isinstance(value, Path) and not value.is_absolute():
            return storage_path(root) / value
        return value


class RayTrainRun(StrictModel):
    """The fields of a run on Ray Train (`factory.ray_training`): its workers and where it
    keeps its checkpoints. Train and adapt configs extend it."""

    workers: int = Field(1, ge=1)
    """Ray Train workers (data parallel, one process each; gloo on CPU, NCCL on GPUs)."""
    gpus_per_worker: float = Field(0.0, ge=0)
    """GPUs each worker asks Ray for; 0 trains on CPU."""
    cpus_per_worker: float = Field(1.0, gt=0)
    """CPUs each worker asks Ray for."""
    storage_path: StoragePath = Path("runs")
    """Where runs keep checkpoints and results: a local or shared folder, or a bucket
    (`s3://bucket/runs`)."""
    name: str = "run"
    """Run name: re-running with the same storage_path and name resumes from the last
    checkpoint."""
    keep_checkpoints: int = Field(2, ge=1)
    """Checkpoints kept per run."""
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    """Compute dtype of the training steps (autocast; trained weights stay fp32, fp16 adds a
    loss scaler; `factory.precision`). auto: bf16 on GPUs (fp16 on pre-Ampere ones), fp32 on
    CPU. fp16 needs a GPU."""

    # Fields a resumed run may change; any other change is refused (`factory.run_record`).
    resumable: ClassVar[tuple[str, ...]] = ("workers", "gpus_per_worker", "cpus_per_worker",
                                            "storage_path", "name", "keep_checkpoints",
                                            "precision")

    @model_validator(mode="after")
    def _fp16_needs_gpu(self):
        if self.precision == "fp16" and not self.gpus_per_worker:
            raise ValueError("precision fp16 needs a GPU (gpus_per_worker > 0); on CPU use "
                             "bf16 or fp32")
        return self


Config = TypeVar("Config", bound=StrictModel)


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid {error.title} config"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        value = f" (got {item['input']!r})" if "input" in item and item["type"] != "missing" else ""
        lines.append(f"  field {field!r}: {item['msg']}{value}")
    return "\n".join(lines)


def read_yaml(path: str | Path) -> dict:
    """The mapping a YAML file holds (config fields, or a preset's paths and values)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields, got {type(data).__name__}")
    return data


def load_config(model: type[Config], path: str | Path, sets: Iterable[str] = (), *,
                preset: Mapping[str, Any] | None = None) -> Config:
    """Load a YAML config file, apply `preset` and then the `--set KEY=VALUE` strings `sets`
    (see `apply_overrides`) and validate it."""
    return apply_overrides(model, read_yaml(path), sets, preset=preset, source=str(path))


def make_config(model: type[Config], data: Mapping, *, source: str = "config") -> Config:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def apply_overrides(model: type[Config], data: Mapping | StrictModel, sets: Iterable[str] = (),
                    *, preset: Mapping[str, Any] | None = None, source: str) -> Config:
    """`data` (a config, or its fields) with `preset` ({dotted path: value}) and then the
    `--set KEY=VALUE` strings `sets` applied, validated as `model`; `--set` wins over the preset.

    With a preset, the config without it is validated first, so a preset (`--smoke`) never
    hides a broken config. Errors name the `--set` or preset key at fault, or the field and value.
    """
    fields = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
    set_changes = [(f"--set {pair!r}", *_parse_set(pair, source)) for pair in sets]
    preset_changes = [(f"preset key {key!r}", key, value) for key, value in (preset or {}).items()]
    if preset_changes:
        make_config(model, _changed(model, fields, set_changes, source),
                    source=_named(source, set_changes))
    return make_config(model, _changed(model, fields, preset_changes + set_changes, source),
                       source=_named(source, set_changes, preset=bool(preset_changes)))


def _named(source: str, set_changes: list, *, preset: bool = False) -> str:
    """`source` and what was applied to it, for error messages."""
    applied = ["the preset"] * preset + [label for label, _, _ in set_changes]
    return f"{source} with {', '.join(applied)}" if applied else source


def _parse_set(pair: str, source: str) -> tuple[str, Any]:
    key, sep, text = pair.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{source}: --set {pair!r}: expected KEY=VALUE, KEY a field path such "
                          f"as plan.max_identities")
    try:
        return key.strip(), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise ConfigError(f"{source}: --set {pair!r}: VALUE is not valid YAML "
                          f"({problem})") from None


def _changed(model: type[StrictModel], fields: dict, changes: list[tuple[str, str, Any]],
             source: str) -> dict:
    """A copy of `fields` with each (label, dotted path, value) of `changes` set in turn."""
    fields = copy.deepcopy(fields)
    for label, key, value in changes:
        *parents, name = key.split(".")
        node, section = fields, model
        for depth, part in enumerate(parents):
            section = _section(section, part, f"{source}: {label}")
            child = node.get(part)
            if child is None:  # a section left to its defaults (or null): start it empty
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"{source}: {label}: {'.'.join(parents[:depth + 1])!r} is "
                                  f"{child!r} in the config, not a section")
            node = child
        if name not in section.model_fields:
            raise ConfigError(f"{source}: {label}: {section.__name__} has no field {name!r} "
                              f"(its fields: {', '.join(section.model_fields)})")
        node[name] = value
    return fields


def _section(model: type[StrictModel], name: str, label: str) -> type[StrictModel]:
    """The config model of `model`'s field `name`, which must be a section (a nested config)."""
    field = model.model_fields.get(name)
    if field is None:
        raise ConfigError(f"{label}: {model.__name__} has no section {name!r} (its fields: "
                          f"{', '.join(model.model_fields)})")
    for kind in (field.annotation, *get_args(field.annotation)):  # `Section | None` too
        if isinstance(kind, type) and issubclass(kind, StrictModel):
            return kind
    raise ConfigError(f"{label}: {model.__name__}.{name} is a value, not a section")
