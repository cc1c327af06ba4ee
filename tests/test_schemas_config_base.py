"""The one override function: dotted paths, `null`, YAML values, errors naming the `--set`, smoke
presets applied and validated like any override, on every command."""

from pathlib import Path

import pytest

from factory.cli import main
from factory.laptop.presets import PRESETS, smoke_preset
from schemas.config_base import ConfigError, apply_overrides, load_config
from schemas.configs import AdaptConfig, SweepConfig, TrainConfig
from schemas.generation_configs import GenerationJobConfig

CONFIGS = Path(__file__).parent.parent / "jobs" / "configs"
# Each preset and a shipped config of its kind.
SHIPPED = {"train": (TrainConfig, "train_market_toy"), "sweep": (SweepConfig, "sweep_market_toy"),
           "adapt": (AdaptConfig, "adapt_sysu_toy"),
           "generation": (GenerationJobConfig, "dive_toy")}


def test_dotted_paths_yaml_values_and_null():
    config = load_config(GenerationJobConfig, CONFIGS / "dive_toy.yaml",
                         ["plan.dive.targets=[ir, rgb]", "plan.recipe.steps=3", "filter.min_"
                          "confidence=null", "scorer=runs/x"])
    assert config.plan.dive.targets == ["ir", "rgb"] and config.plan.recipe.steps == 3
    assert config.filter.min_confidence is None and str(config.scorer) == "runs/x"
    sweep = load_config(SweepConfig, CONFIGS / "sweep_market_toy.yaml",
                        ["train.synthetic=runs/g.parquet", "train.synthetic=null", "lr=null"])
    assert sweep.train.synthetic is None and sweep.lr is None  # the last --set wins


@pytest.mark.parametrize(("pair", "words"), [
    ("plans.x=1", ["--set 'plans.x=1'", "no section 'plans'", "plan, generate"]),
    ("plan.foo=1", ["--set 'plan.foo=1'", "PlanConfig has no field 'foo'"]),
    ("images.x=1", ["--set 'images.x=1'", "images is a value, not a section"]),
    ("plan.seed=[1,", ["--set 'plan.seed=[1,'", "not valid YAML"]),
    ("plan.seed", ["--set 'plan.seed'", "expected KEY=VALUE"]),
    ("plan.max_identities=0", ["--set 'plan.max_identities=0'", "field 'plan.max_identities'",
                               "got 0"]),
])
def test_errors_name_the_set_at_fault(pair, words):
    with pytest.raises(ConfigError) as caught:
        load_config(GenerationJobConfig, CONFIGS / "dive_toy.yaml", [pair])
    for word in ["dive_toy.yaml", *words]:
        assert word in str(caught.value)


@pytest.mark.parametrize("name", PRESETS)
def test_shipped_presets_are_valid_overrides(name):
    model, config = SHIPPED[name]
    smoke = load_config(model, CONFIGS / f"{config}.yaml", preset=smoke_preset(name))
    for key, value in smoke_preset(name).items():
        field = smoke
        for part in key.split("."):
            field = getattr(field, part)
        assert field == value, key


def test_a_bad_preset_key_or_value_is_named():
    data = {"images": "x.parquet"}
    with pytest.raises(ConfigError, match="preset key 'epoch'.*TrainConfig has no field 'epoch'"):
        apply_overrides(TrainConfig, data, preset=smoke_preset("train") | {"epoch": 2}, source="t")
    with pytest.raises(ConfigError, match="(?s)t with the preset: .*field 'p'.*got 1"):
        apply_overrides(TrainConfig, data, preset={"p": 1}, source="t")
    with pytest.raises(ConfigError, match="no smoke preset 'trian'.*train, sweep"):
        smoke_preset("trian")


def test_set_wins_over_the_preset_and_a_preset_hides_no_broken_config():
    data = {"images": "x.parquet", "epochs": 0}
    with pytest.raises(ConfigError, match="field 'epochs'.*got 0"):  # the preset sets epochs: 2
        apply_overrides(TrainConfig, data, preset={"epochs": 2}, source="t")
    fixed = apply_overrides(TrainConfig, data, ["epochs=5"], preset={"epochs": 2}, source="t")
    assert fixed.epochs == 5


@pytest.fixture
def captured(monkeypatch):
    """The config each command would run with, instead of running it."""
    import factory.adapt.stage
    import factory.train.run

    seen = {}
    monkeypatch.setattr(factory.train.run, "train", lambda config, **_: seen.update(
        config=config) or ("checkpoint", "report"))
    monkeypatch.setattr(factory.train.run, "sweep", lambda config, **_: seen.update(config=config))
    monkeypatch.setattr(factory.adapt.stage, "run_adapt", lambda config, **_: seen.update(
        config=config) or (_NoAdapters(), "report"))
    return seen


class _NoAdapters:
    path, tokens, fingerprint = "adapters", {}, "-"


COMMANDS = {"train": (TrainConfig, "train_market_toy"), "tune": (SweepConfig, "sweep_market_toy"),
            "adapt": (AdaptConfig, "adapt_sysu_toy")}


def _config_file(folder: Path, command: str, extra: str = "") -> Path:
    path = folder / "config.yaml"
    path.write_text((CONFIGS / f"{COMMANDS[command][1]}.yaml").read_text() + extra)
    return path


@pytest.mark.parametrize(("command", "extra", "pair", "field"), [
    ("train", "synthetic: runs/generated.parquet\n", "synthetic=null", "synthetic"),
    ("tune", "", "lr=null", "lr"),
    ("adapt", "", "token_lr=null", "token_lr"),
])
def test_null_sets_the_field_to_null_on_every_command(captured, tmp_path, command, extra, pair,
                                                      field):
    path = _config_file(tmp_path, command, extra)
    assert getattr(load_config(COMMANDS[command][0], path), field) is not None
    assert main([command, str(path), "--smoke", "--set", pair]) == 0
    assert getattr(captured["config"], field) is None


def test_tune_smoke_sets_the_sweep_and_its_base_run(captured, tmp_path):
    path = _config_file(tmp_path, "tune")
    assert main(["tune", str(path), "--smoke", "--set", "train.synthetic=null"]) == 0
    config = captured["config"]
    assert config.samples == smoke_preset("sweep")["samples"]
    assert (config.train.arch, config.train.epochs) == ("resnet10", smoke_preset("train")["epochs"])


@pytest.mark.parametrize(("command", "broken", "field"), [
    ("train", "epochs: 0\n", "epochs"),         # the train preset sets epochs
    ("tune", "samples: 0\n", "samples"),        # the sweep preset sets samples
    ("adapt", "rank: 0\n", "rank"),             # the adapt preset sets rank
])
def test_smoke_does_not_hide_a_broken_config(captured, tmp_path, capsys, command, broken, field):
    path = _config_file(tmp_path, command, broken)
    assert main([command, str(path), "--smoke"]) == 2
    assert f"field {field!r}" in capsys.readouterr().err and "config" not in captured


def test_cli_errors_name_the_set(captured, tmp_path, capsys):
    path = _config_file(tmp_path, "train")
    assert main(["train", str(path), "--set", "epochs=[2,"]) == 2
    assert "--set 'epochs=[2,': VALUE is not valid YAML" in capsys.readouterr().err
    assert main(["train", str(path), "--set", "optimizer.lr=1"]) == 2
    assert "--set 'optimizer.lr=1': TrainConfig has no section 'optimizer'" in \
        capsys.readouterr().err
