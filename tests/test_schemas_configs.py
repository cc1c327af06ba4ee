import json

import pytest

from schemas.configs import (
    CONFIGS,
    JSON_DIR,
    ConfigError,
    ToyWorldConfig,
    export_json_schemas,
    load_config,
)


def test_committed_json_schemas_match_the_models(tmp_path):
    for path in export_json_schemas(tmp_path):
        committed = JSON_DIR / path.name
        assert committed.exists(), f"run `factory schemas` to export {path.name}"
        assert json.loads(committed.read_text()) == json.loads(path.read_text()), \
            f"{committed} is stale: run `factory schemas`"
    assert {p.name for p in JSON_DIR.glob("*.json")} == {f"{n}.schema.json" for n in CONFIGS}


def test_field_docstrings_reach_the_json_schema():
    fields = ToyWorldConfig.model_json_schema()["properties"]
    assert "disjoint from training" in fields["test_identities"]["description"]


def test_yaml_config_with_overrides(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text("layout: ltcc\nseed: 3\noutfits: 3\n")
    config = load_config(ToyWorldConfig, path, ["seed=5"])
    assert (config.layout, config.seed, config.outfits, config.workers) == ("ltcc", 5, 3, 2)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("layout: cuhk99\n", ["field 'layout'", "cuhk99"]),
        ("train_identities: 1\n", ["field 'train_identities'", "got 1"]),
        ("colour: red\n", ["field 'colour'", "Extra inputs"]),
        ("layout: ltcc\noutfits: 1\n", ["clothes-changing", "outfits must be >= 2"]),
        ("- a\n- b\n", ["expected a mapping"]),
        ("layout: [\n", ["not valid YAML"]),
    ],
)
def test_bad_configs_name_the_file_field_and_value(tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(ToyWorldConfig, path)
    message = str(caught.value)
    assert str(path) in message
    for word in words:
        assert word in message
