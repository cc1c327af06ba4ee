import os

# Nothing may be fetched from a model hub in tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole test session (2 CPUs)."""
    import ray

    ray.init(num_cpus=2, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def toy_images(tmp_path_factory):
    """`toy_images(layout)`: the `images` table of a small toy world in that layout (made once)."""
    from factory.laptop.toy_jobs import toy_world_images

    made = {}

    def make(layout: str):
        if layout not in made:
            made[layout] = toy_world_images(layout, tmp_path_factory.mktemp(layout))
        return made[layout]

    return make


@pytest.fixture(scope="session")
def toy_market(toy_images):
    """A small toy Market-1501 world's `images` table, shared by the training tests."""
    return toy_images("market1501")


@pytest.fixture(scope="session")
def toy_sd(tmp_path_factory):
    """The smoke toy Stable Diffusion pair (`<root>/sd`, `<root>/sd-inpainting`), built once."""
    from factory.laptop.toy_sd.build import build_toy_sd

    return build_toy_sd(tmp_path_factory.mktemp("models") / "toy-sd", size="smoke", seed=0)


@pytest.fixture(scope="session")
def stand_ins(tmp_path_factory):
    """Tiny random stand-ins of every real model (`factory models tiny`): role -> folder; the
    folder holding them all is the parent of any of them."""
    from factory.laptop.stand_ins import build_stand_ins

    return build_stand_ins(tmp_path_factory.mktemp("models") / "stand-ins", seed=0)
