"""Smoke presets: what `--smoke` sets, one YAML file per config kind, each line a dotted field path
and its value as `--set` takes them (`schemas.config_base.apply_overrides` applies and validates
them like any override, after checking that the config without them is valid).

- `train.yaml`: a ReID run in a minute of CPU (`TrainConfig`); the tests' and benchmarks' tiny run;
- `sweep.yaml`: a sweep of a few trials (`SweepConfig`; `factory tune --smoke` adds the train
  preset under `train.`);
- `adapt.yaml`: a few tiny adapt steps (`AdaptConfig`);
- `generation.yaml`: the toy SD at its own size, a few identities and images, one CPU actor
  (`GenerationJobConfig`).
"""

from pathlib import Path
from typing import Any

from schemas.config_base import ConfigError, read_yaml

FOLDER = Path(__file__).parent
PRESETS = ("train", "sweep", "adapt", "generation")


def smoke_preset(name: str) -> dict[str, Any]:
    """The smoke preset `name` as {dotted field path: value}."""
    if name not in PRESETS:
        raise ConfigError(f"no smoke preset {name!r}; the presets: {', '.join(PRESETS)}")
    path = FOLDER / f"{name}.yaml"
    values = read_yaml(path)
    bad = [key for key, value in values.items() if not isinstance(key, str) or
           isinstance(value, dict)]
    if bad:
        raise ConfigError(f"{path}: keys must be dotted field paths (plan.recipe.steps: 2), "
                          f"not sections; got {bad}")
    return values
