import os

# Nothing may be fetched from a model hub in tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from factory.laptop.s3_server import S3Server, free_port, point_clients_at  # noqa: E402

# Every S3 client of the session (Ray workers included) points at the test server.
point_clients_at(free_port())


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole test session (2 CPUs)."""
    import ray

    ray.init(num_cpus=2, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """The session's S3 server on 127.0.0.1 (`factory/laptop/s3_server.py`), started on
    first use."""
    server = S3Server(int(os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]),
                      tmp_path_factory.mktemp("s3") / "moto.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server):
    """A new empty bucket on the session's S3 server: its `s3://name` URI."""
    return s3_server.bucket()


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


@pytest.fixture(scope="session")
def toy_scorer(toy_images, tmp_path_factory):
    """A BoT checkpoint 'trained' on toy Market-1501's train split (smoke size, 64x32) without a
    training run: its classifier rows are the mean features of each class's real images, so it
    is a nearest-class-mean classifier whose verdicts are known."""
    import numpy as np
    import torch

    from factory.laptop.presets import smoke_preset
    from factory.reid.checkpoint import save_checkpoint
    from factory.reid.features import extract_features
    from factory.reid.models import build_model
    from factory.train.data import load_training_set
    from schemas.configs import TrainConfig

    train = TrainConfig(images=toy_images("market1501"), **smoke_preset("train"))
    data = load_training_set(train)
    torch.manual_seed(0)
    model = build_model("bot", data.num_classes, arch="resnet10").eval()
    features = extract_features(model, data.paths, ["rgb"] * len(data.paths),
                                size=(train.height, train.width), device="cpu").features
    means = np.stack([features[data.labels == label].mean(0) for label in range(data.num_classes)])
    with torch.no_grad():  # BN features are the unit features times a constant: scale the rows
        model.head.classifier.weight.copy_(torch.tensor(means * 50.0 / np.linalg.norm(
            means, axis=1, keepdims=True), dtype=torch.float32))
    return save_checkpoint(model, tmp_path_factory.mktemp("scorer"),
                           config=train.model_dump(mode="json"), class_pids=data.class_pids)
