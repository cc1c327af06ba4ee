"""ReID models: the BoT baseline, CAJ's two-stream visible-infrared net and CAL's clothes branch.

- BoT: Luo et al., "Bag of Tricks and a Strong Baseline for Deep Person Re-identification", CVPRW
  2019 (code michuanhaohao/reid-strong-baseline, `modeling/baseline.py`): ResNet with last stride 1,
  global pooling, BNNeck (BatchNorm1d whose shift is frozen at zero) and a bias-free classifier.
- CAJ: Ye et al., "Channel Augmented Joint Learning for Visible-Infrared Recognition", ICCV 2021
  (code mangye16/Cross-Modal-Re-ID-baseline, `embed_net` in `model.py`): one stem
  (conv1/bn1/relu/maxpool) per modality, layer1-layer4 shared, BNNeck head. Their released runs also
  put AGW non-local blocks in layers 2-3 and fix GeM's p at 3; we keep the BoT head, GeM optional.
- CAL: Gu et al., "Clothes-Changing Person Re-identification with RGB Modality Only", CVPR 2022
  (code guxinqian/Simple-CCReID, `models/classifier.py`, `train.py`): an identity classifier plus a
  cosine clothes classifier on the BN feature, trained against each other (losses.py).

One interface, the same for every model (fast-reid / BoT convention): `model(images,
modalities, logits=False)` takes a batch of images and their modality codes (0 rgb, 1 ir; a
tensor (N,) or one int for the whole batch; single-stem models ignore them) and returns a
`ReIDOutput` in train and eval mode alike: `features`, the BN feature compared by cosine
similarity, and `pooled`, the feature before BNNeck (for triplet losses), always; the identity
logits (and CAL's clothes logits) when asked with `logits=True`. What else differs by model (its
metric loss, train augmentation and batch sampler) is a class method, so the training loop,
objectives, evaluation and filter never switch on a model's name.
Backbones are torchvision ResNets built with `weights=None` (nothing is downloaded); an optional
local state dict in torchvision's key layout (`.pth` or `.safetensors`) initialises them. The
caller moves the model to a device. Checkpoints: `factory.reid.checkpoint`.
"""

import copy
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import load_file
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from factory.reid.augment import caj_train_transforms, reid_train_transform
from factory.reid.losses import TripletLoss, WeightedRegularizedTriplet
from factory.reid.sampler import IR, RGB, PKSampler, VisibleInfraredPKSampler

ARCHS = {
    "resnet50": (torchvision.models.resnet50, 2048),
    "resnet18": (torchvision.models.resnet18, 512),
    # ResNet-10 (one BasicBlock per stage): the laptop / test backbone.
    "resnet10": (lambda: torchvision.models.ResNet(BasicBlock, [1, 1, 1, 1]), 512),
}
POOLINGS = ("avg", "gem")


class ReIDOutput(NamedTuple):
    """What every ReID model returns, in train and eval mode alike."""

    features: Tensor  # BN feature (N, D): what retrieval compares, by cosine similarity
    pooled: Tensor  # pooled feature before BNNeck (N, D): triplet / WRT losses
    logits: Tensor | None = None  # identity logits on the BN feature (logits=True)
    # CAL (logits=True): cosines on the detached BN feature, which train the clothes classifier,
    # and cosines with the classifier frozen, for the clothes-adversarial loss on the backbone.
    clothes_logits: Tensor | None = None
    adversarial_clothes_logits: Tensor | None = None


class GeM(nn.Module):
    """Generalized-mean pooling (Radenovic et al. 2018) with a learnable power p, as CAL's
    `GeMPooling`: (mean over H, W of clamp(x, eps)^p)^(1/p); p=1 is average pooling."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.p = nn.Parameter(torch.full((1,), float(p)))
        self.eps = eps

    def forward(self, feature_map: Tensor) -> Tensor:
        powered = feature_map.clamp(min=self.eps).pow(self.p)
        return powered.mean(dim=(-2, -1)).pow(1.0 / self.p)


class BNNeck(nn.Module):
    """BoT's neck: BatchNorm1d with its bias frozen at zero (`bottleneck`), then a bias-free
    linear `classifier`; `ReIDModel.forward` applies them. Initialised as reid-strong-baseline
    (BN weight 1, classifier weights N(0, 0.001))."""

    def __init__(self, feature_dim: int, num_classes: int):
        super().__init__()
        self.bottleneck = nn.BatchNorm1d(feature_dim)
        nn.init.ones_(self.bottleneck.weight)
        nn.init.zeros_(self.bottleneck.bias)
        self.bottleneck.bias.requires_grad_(False)
        self.classifier = nn.Linear(feature_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)


class CosineClassifier(nn.Module):
    """CAL's `NormalizedClassifier`: cosine between the feature and each class weight (no scale;
    the losses multiply by their scale). Rows start uniform in [-1, 1], as theirs."""

    def __init__(self, feature_dim: int, num_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, feature_dim).uniform_(-1.0, 1.0))

    def forward(self, features: Tensor, *, freeze_weight: bool = False) -> Tensor:
        weight = self.weight.detach() if freeze_weight else self.weight
        return F.linear(F.normalize(features, dim=1), F.normalize(weight, dim=1))


def build_backbone(
    arch: str, *, last_stride: int = 1, pretrained_path: str | Path | None = None,
) -> tuple[nn.Sequential, nn.Sequential, int]:
    """(stem, body, feature_dim) of a torchvision ResNet: stem = conv1/bn1/relu/maxpool, body =
    layer1-layer4 with layer4's first block at `last_stride`. `pretrained_path` holds a state dict
    in torchvision's layout (`fc.*` ignored), loaded strictly."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; valid: {sorted(ARCHS)}")
    if last_stride not in (1, 2):
        raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}")
    constructor, feature_dim = ARCHS[arch]
    resnet = constructor()
    if pretrained_path is not None:
        _load_backbone_state(resnet, Path(pretrained_path), arch)
    first_block = resnet.layer4[0]
    for conv in (first_block.conv1, first_block.conv2, first_block.downsample[0]):
        if conv.stride != (1, 1):  # conv2 in Bottleneck (torchvision v1.5), conv1 in BasicBlock
            conv.stride = (last_stride, last_stride)
    stem = nn.Sequential(OrderedDict(
        conv1=resnet.conv1, bn1=resnet.bn1, relu=resnet.relu, maxpool=resnet.maxpool))
    body = nn.Sequential(OrderedDict(
        layer1=resnet.layer1, layer2=resnet.layer2, layer3=resnet.layer3, layer4=resnet.layer4))
    return stem, body, feature_dim


def _load_backbone_state(resnet: nn.Module, path: Path, arch: str) -> None:
    if path.is_dir():  # another run's model folder
        from factory.reid.checkpoint import backbone_state

        state = backbone_state(path)
    elif not path.is_file():
        raise FileNotFoundError(f"pretrained backbone weights not found: {path}")
    elif path.suffix == ".safetensors":
        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    own_fc = {key: value for key, value in resnet.state_dict().items() if key.startswith("fc.")}
    state = {key: value for key, value in state.items() if not key.startswith("fc.")} | own_fc
    try:
        resnet.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f"{path}: not a torchvision {arch} state dict: {error}") from error


class ReIDModel(nn.Module):
    """Shared parts: one stem, backbone body, pooling and BNNeck head; BoT as it stands.

    Options (all models): arch (one of ARCHS), last_stride (1 as BoT), pooling ("avg" or "gem"),
    gem_p (GeM's initial p), pretrained_path (local backbone weights; not stored in checkpoints).
    The class methods say how a model of this kind is trained (the loop and objective ask them).
    """

    name: ClassVar[str]
    learns_clothes: ClassVar[bool] = False  # takes `num_clothes`; its loss uses clothes labels

    def __init__(self, num_classes: int, *, arch: str = "resnet50", last_stride: int = 1,
                 pooling: str = "avg", gem_p: float = 3.0,
                 pretrained_path: str | Path | None = None):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; valid: {list(POOLINGS)}")
        self.num_classes = num_classes
        self.options = {"arch": arch, "last_stride": last_stride, "pooling": pooling,
                        "gem_p": gem_p}
        self.stem, self.body, self.feature_dim = build_backbone(
            arch, last_stride=last_stride, pretrained_path=pretrained_path)
        self.pool = GeM(gem_p) if pooling == "gem" else nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = BNNeck(self.feature_dim, num_classes)

    def build_config(self) -> dict:
        """What `build_model` needs to rebuild this model (JSON-serialisable)."""
        return {"name": self.name, "num_classes": self.num_classes, "options": dict(self.options)}

    def feature_map(self, images: Tensor, modalities: Tensor | int) -> Tensor:
        """Layer4 output, (N, feature_dim, H/16, W/16) with last stride 1."""
        return self.body(self.stem(images))

    def forward(self, images: Tensor, modalities: Tensor | int, *,
                logits: bool = False) -> ReIDOutput:
        pooled = self.pool(self.feature_map(images, modalities))
        features = self.head.bottleneck(pooled)
        if not logits:
            return ReIDOutput(features, pooled)
        return ReIDOutput(features, pooled, self.head.classifier(features))

    @classmethod
    def metric_loss(cls, margin: float | None) -> nn.Module:
        """The loss on `pooled` beside identity cross-entropy: BoT's batch-hard triplet."""
        return TripletLoss(margin)

    @classmethod
    def train_transforms(cls, size: tuple[int, int]) -> dict[int, Callable]:
        """The train augmentation of each modality code."""
        transform = reid_train_transform(size)
        return {RGB: transform, IR: transform}

    @classmethod
    def batch_sampler(cls, pids: np.ndarray, modalities: np.ndarray, p: int, k: int, **shard):
        """P identities x K images per batch (`shard`: seed, rank, world_size)."""
        return PKSampler(pids, p, k, **shard)


class BoT(ReIDModel):
    """BoT baseline: one stem, so `modalities` changes nothing."""

    name = "bot"


class CAJ(ReIDModel):
    """CAJ two-stream net: `stems[0]` sees visible (RGB) images, `stems[1]` infrared ones; the body
    (layer1-layer4), pooling and head are shared.

    `modalities` is a per-sample tensor (N,) of 0 = RGB / 1 = IR, or one int for the whole batch.
    Their code takes two batches (visible, thermal) and concatenates them after the stems; the
    per-sample form gives the same computation for a batch ordered that way and lets one sampler
    batch mix modalities freely. Each stem's BatchNorm sees only its own modality's samples, as
    theirs. A train batch holds both modalities (`batch_sampler`), otherwise one stem would get no
    gradient (DDP would need find_unused_parameters).
    """

    name = "caj"

    def __init__(self, num_classes: int, **options):
        super().__init__(num_classes, **options)
        self.stems = nn.ModuleList([self.stem, copy.deepcopy(self.stem)])
        del self.stem

    def feature_map(self, images: Tensor, modalities: Tensor | int) -> Tensor:
        if isinstance(modalities, int):
            if modalities not in (RGB, IR):
                raise ValueError(f"modality must be {RGB} (rgb) or {IR} (ir), got {modalities}")
            return self.body(self.stems[modalities](images))
        modalities = modalities.to(device=images.device).reshape(-1)
        if modalities.numel() != images.shape[0]:
            raise ValueError(f"{modalities.numel()} modalities for {images.shape[0]} images")
        if not bool(((modalities == RGB) | (modalities == IR)).all()):
            raise ValueError(f"modalities must be {RGB} (rgb) or {IR} (ir)")
        order, parts = [], []
        for code, stem in enumerate(self.stems):
            rows = torch.nonzero(modalities == code).flatten()
            if rows.numel():
                order.append(rows)
                parts.append(stem(images[rows]))
        stemmed = torch.cat(parts)[torch.argsort(torch.cat(order))]
        return self.body(stemmed)

    @classmethod
    def metric_loss(cls, margin: float | None) -> nn.Module:
        """CAJ's weighted regularised triplet (no margin)."""
        return WeightedRegularizedTriplet()

    @classmethod
    def train_transforms(cls, size: tuple[int, int]) -> dict[int, Callable]:
        # CAJ feeds each visible image plain and channel-exchanged; we draw one of the two.
        caj = caj_train_transforms(size)
        return {RGB: torchvision.transforms.v2.RandomChoice([caj.visible, caj.visible_exchanged]),
                IR: caj.infrared}

    @classmethod
    def batch_sampler(cls, pids: np.ndarray, modalities: np.ndarray, p: int, k: int, **shard):
        """Every identity of a batch seen in both modalities."""
        return VisibleInfraredPKSampler(pids, modalities, p, k, **shard)


class CAL(ReIDModel):
    """BoT plus CAL's clothes classifier (cosine, on the BN feature). Extra option: num_clothes.

    With logits=True it also returns both views of the clothes classifier, and one backward pass
    trains everything: `clothes_logits` (feature detached) drives the clothes classifier with
    `CosineCrossEntropy`; `adversarial_clothes_logits` (classifier frozen) drives the backbone
    with `ClothesAdversarialLoss`. Their train.py instead steps the clothes classifier first and
    then computes the adversarial loss with the updated classifier (a one-step lag apart, the
    same). Keep both clothes terms in the loss (weight 0 before CAL starts) so DDP sees every
    parameter used.
    """

    name = "cal"
    learns_clothes = True

    def __init__(self, num_classes: int, *, num_clothes: int, **options):
        super().__init__(num_classes, **options)
        self.options["num_clothes"] = num_clothes
        self.clothes_classifier = CosineClassifier(self.feature_dim, num_clothes)

    def forward(self, images: Tensor, modalities: Tensor | int, *,
                logits: bool = False) -> ReIDOutput:
        output = super().forward(images, modalities, logits=logits)
        if not logits:
            return output
        return output._replace(
            clothes_logits=self.clothes_classifier(output.features.detach()),
            adversarial_clothes_logits=self.clothes_classifier(output.features,
                                                               freeze_weight=True))


MODELS: dict[str, type[ReIDModel]] = {"bot": BoT, "caj": CAJ, "cal": CAL}


def model_class(name: str) -> type[ReIDModel]:
    """A model class by name (a key of MODELS); an unknown name lists the valid ones."""
    if name not in MODELS:
        raise ValueError(f"unknown ReID model {name!r}; valid: {sorted(MODELS)}")
    return MODELS[name]


def build_model(name: str, num_classes: int, **options) -> ReIDModel:
    """Build a model by name; options are the model's keyword arguments."""
    return model_class(name)(num_classes, **options)
