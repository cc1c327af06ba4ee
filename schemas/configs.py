"""Job configurations as pydantic models: defaults, one docstring per field, clear errors.

Each model is exported as a JSON Schema file (`schemas/json/<name>.schema.json`) so editors can
check YAML configs; `factory schemas export` rewrites them and a test keeps them in step.
"""

import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TOY_LAYOUTS = ("market1501", "ltcc", "prcc", "sysu_mm01", "llcm")
JSON_DIR = Path(__file__).parent / "json"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, the field and the value."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ToyWorldConfig(StrictModel):
    """A toy world rendered in the on-disk layout of a real dataset."""

    layout: Literal["market1501", "ltcc", "prcc", "sysu_mm01", "llcm"] = "market1501"
    """Dataset whose folders and file names the toy world writes."""
    seed: int = 0
    """Seed of every random choice; the same seed gives the same pixels."""
    train_identities: int = Field(16, ge=2)
    """Persons in the training split."""
    test_identities: int = Field(16, ge=2)
    """Persons in the test split (disjoint from training, as in the real datasets)."""
    outfits: int = Field(2, ge=1, le=8)
    """Outfits per person (clothes-changing layouts; others use one)."""
    images_per_camera: int = Field(2, ge=1)
    """Images of each person, outfit and camera."""
    height: int = Field(128, ge=32, le=1024)
    """Image height in pixels."""
    width: int = Field(64, ge=16, le=512)
    """Image width in pixels."""
    workers: int = Field(2, ge=1)
    """Processes that render in parallel."""

    @model_validator(mode="after")
    def _clothes_changing_needs_two_outfits(self):
        if self.layout in ("ltcc", "prcc") and self.outfits < 2:
            raise ValueError(f"layout {self.layout!r} is clothes-changing: outfits must be >= 2")
        return self


class IngestConfig(StrictModel):
    """Read a dataset from its own layout into the `images` table."""

    dataset: str
    """Registry name of the dataset reader (`factory ingest --help` lists them)."""
    root: Path
    """Folder the dataset was unpacked into."""
    out: Path
    """Parquet file to write the `images` table to."""


class DemoConfig(StrictModel):
    """The end-to-end demo on the toy world."""

    out: Path = Path("out/demo")
    """Folder for everything the demo writes (data, tables, report)."""
    seed: int = 0
    """Seed of the toy world and of every later random choice."""
    quick: bool = False
    """Smaller toy world, for tests and a first look."""


CONFIGS: dict[str, type[StrictModel]] = {
    "toy_world": ToyWorldConfig,
    "ingest": IngestConfig,
    "demo": DemoConfig,
}


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


def export_json_schemas(folder: Path = JSON_DIR) -> list[Path]:
    """Write one JSON Schema file per config model; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in CONFIGS.items():
        path = folder / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
