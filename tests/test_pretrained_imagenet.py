"""`pretrained: imagenet`: torchvision's ImageNet weights of the backbone, from torch.hub."""

import hashlib

import pytest
import torch
import torchvision

from factory.pretrained import imagenet
from factory.pretrained.imagenet import imagenet_file, imagenet_weights, pull_imagenet
from factory.reid.models import build_model
from factory.train.trainer import resolved
from schemas.configs import ConfigError, TrainConfig, make_config


def fake_weights(torch_home, monkeypatch, arch="resnet18"):
    """A random resnet state dict saved where torchvision's ImageNet file would be."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    torch.manual_seed(3)
    reference = getattr(torchvision.models, arch)()
    path = imagenet_file(arch)
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    return reference, path


def test_the_file_is_the_one_torchvision_names_under_torch_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert imagenet_file("resnet50") == tmp_path / "hub" / "checkpoints" / "resnet50-0676ba61.pth"
    assert imagenet_file("resnet18").name == "resnet18-f37072fd.pth"
    with pytest.raises(ValueError, match="arch 'resnet10' has no ImageNet weights"):
        imagenet_file("resnet10")


def test_imagenet_resolves_to_the_cached_file_and_the_backbone_loads_it(tmp_path, monkeypatch):
    reference, path = fake_weights(tmp_path / "torch", monkeypatch)
    images = tmp_path / "images.parquet"
    images.touch()
    config = resolved(TrainConfig(images=images, arch="resnet18", pretrained="imagenet"))
    assert config.pretrained == path
    model = build_model("bot", 3, arch="resnet18", pretrained_path=config.pretrained)
    torch.testing.assert_close(model.stem.conv1.weight, reference.conv1.weight)
    torch.testing.assert_close(model.body.layer4[1].conv2.weight,
                               reference.layer4[1].conv2.weight)


def test_missing_imagenet_weights_stop_training_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    images = tmp_path / "images.parquet"
    images.touch()
    with pytest.raises(FileNotFoundError, match=r"ResNet50_Weights.IMAGENET1K_V1 \(resnet50 "
                                                r"ImageNet weights\).*factory models pull"):
        resolved(TrainConfig(images=images, pretrained="imagenet"))
    with pytest.raises(ConfigError, match="arch 'resnet10' has no ImageNet weights"):
        make_config(TrainConfig, {"images": "x", "arch": "resnet10", "pretrained": "imagenet"})
    assert TrainConfig(images="x").pretrained is None  # random init: the laptop default


def test_a_pull_downloads_the_file_checked_against_its_hash(tmp_path, monkeypatch):
    """Served from a file:// URL named like torchvision's: `<arch>-<sha256 prefix>.pth`."""
    _, weights = fake_weights(tmp_path / "served", monkeypatch)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:8]
    served = weights.rename(weights.with_name(f"resnet18-{digest}.pth"))
    corrupt = served.with_name("resnet18-00000000.pth")
    corrupt.write_bytes(served.read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(imagenet, "imagenet_url", lambda arch: served.as_uri())
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE=1 forbids downloading"):
        pull_imagenet("resnet18")
    monkeypatch.setattr(imagenet, "offline", lambda: False)
    assert pull_imagenet("resnet18").read_bytes() == served.read_bytes()
    assert imagenet_weights("resnet18") == tmp_path / "torch" / "hub" / "checkpoints" / served.name
    monkeypatch.setattr(imagenet, "imagenet_url", lambda arch: corrupt.as_uri())
    with pytest.raises(RuntimeError, match="invalid hash value"):
        pull_imagenet("resnet18")
    assert not imagenet_file("resnet18").exists()
