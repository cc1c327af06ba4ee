"""ImageNet weights of the ReID backbones, torchvision's own files in torch.hub's cache.

`pretrained: imagenet` in a training config starts the backbone where BoT, CAJ and CAL start:
torchvision's IMAGENET1K_V1 weights (the original ResNet training recipe; DEFAULT would be V2).
They are read from `<torch.hub.get_dir()>/checkpoints/<file>` (`$TORCH_HOME/hub`; on a cluster,
shared storage), the file torchvision's weights enum names, and downloaded only by
`factory models pull`. ResNet-10 has no ImageNet weights.
"""

from pathlib import Path

from factory.pretrained.hub import offline
from factory.pretrained.lock import OFFLINE_HINT, ModelNotPulled

# arch -> torchvision weights enum member
IMAGENET_WEIGHTS = {
    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
    "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
}


def imagenet_url(arch: str) -> str:
    if arch not in IMAGENET_WEIGHTS:
        raise ValueError(f"arch {arch!r} has no ImageNet weights; `pretrained: imagenet` needs "
                         f"one of {sorted(IMAGENET_WEIGHTS)}")
    from torchvision.models import get_weight

    return get_weight(IMAGENET_WEIGHTS[arch]).url


def imagenet_file(arch: str) -> Path:
    """Where torch.hub keeps `arch`'s ImageNet weights (whether or not they are there)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / imagenet_url(arch).rsplit("/", 1)[-1]


def imagenet_weights(arch: str) -> Path:
    """The cached ImageNet state dict of `arch`; not there, a `ModelNotPulled` naming it."""
    path = imagenet_file(arch)
    if not path.is_file():
        raise ModelNotPulled(f"{IMAGENET_WEIGHTS[arch]} ({arch} ImageNet weights)",
                             f"is not in torch.hub's cache ({path})", "pretrained")
    return path


def pull_imagenet(arch: str) -> Path:
    """Download `arch`'s ImageNet weights into torch.hub's cache (checked against the hash in
    their file name) unless they are there; returns the file."""
    import torch

    path = imagenet_file(arch)
    if path.is_file():
        return path
    if offline():
        raise ModelNotPulled(f"{IMAGENET_WEIGHTS[arch]} ({arch} ImageNet weights)",
                             f"is not in torch.hub's cache ({path}) and HF_HUB_OFFLINE=1 forbids "
                             f"downloading it", "pretrained", hint=OFFLINE_HINT)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = torch.hub.HASH_REGEX.search(path.name)
    torch.hub.download_url_to_file(imagenet_url(arch), str(path),
                                   hash_prefix=digest.group(1) if digest else None)
    return path
