"""bench/toy_headroom keeps working: identity read without learning, on a small toy LTCC world."""

from bench.toy_headroom import legible_identity
from factory.demo.worlds import render_world
from schemas.configs import ToyWorldConfig


def test_identity_without_learning_is_scored_with_the_worlds_protocol(tmp_path):
    config = ToyWorldConfig(layout="ltcc", seed=2, train_identities=2, test_identities=8)
    world = render_world(tmp_path, "ltcc", config)
    metrics = legible_identity(world, (64, 32))
    settings = {name.split("/")[0] for name in metrics if "/" in name}
    assert settings == {"general", "same_clothes", "clothes_changing"}
    assert all(0.0 <= value <= 1.0 for value in metrics.values())
    assert metrics["rank1"] == metrics["clothes_changing/rank1"]  # LTCC's headline
