"""The base of every job configuration: strict pydantic models and YAML loading with clear errors.

Config models live in `schemas/configs.py` (toy world, ingest, demo, train, sweep) and in one module
per stage group beside it; `schemas.configs.CONFIGS` gathers them all for the JSON Schema export.
"""

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, the field and the value."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid {error.title} config"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        value = f" (got {item['input']!r})" if "input" in item and item["type"] != "missing" else ""
        lines.append(f"  field {field!r}: {item['msg']}{value}")
    return "\n".join(lines)


def load_config(model: type[StrictModel], path: str | Path, **overrides) -> StrictModel:
    """Load a YAML config file, apply `overrides` (e.g. from the command line) and validate it."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields, got {type(data).__name__}")
    data.update({key: value for key, value in overrides.items() if value is not None})
    return make_config(model, data, source=str(path))


def make_config(model: type[StrictModel], data: dict, *, source: str = "config") -> StrictModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
