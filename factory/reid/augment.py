"""ReID image transforms (torchvision.transforms.v2) and CAJ's channel augmentations.

- `reid_train_transform`: BoT's train pipeline (reid-strong-baseline `data/transforms/build.py`):
  resize, horizontal flip 0.5, pad 10 + random crop back to size (the pad in proportion below
  BoT's 256 pixels of height: `crop_padding`), normalise (ImageNet mean/std),
  random erasing 0.5 (area 0.02-0.4, aspect 0.3-3.33, filled with the mean values as BoT does).
  torchvision draws the erasing aspect ratio log-uniformly; BoT and CAJ draw it uniformly.
- `ChannelExchange`, `ChannelAdapGray`: CAJ (mangye16/Cross-Modal-Re-ID-baseline,
  `ICCV21_CAJ/data_loader.py` and `ICCV21_CAJ/ChannelAug.py`), applied to normalised tensors.
  CAJ's `ChannelRandomErasing` is random erasing with the CIFAR mean fill (`CAJ_ERASE_FILL`).
- `caj_train_transforms`: CAJ's three train pipelines (visible, visible + channel exchange,
  infrared + adaptive gray); in joint training each visible image is fed as both visible views.
Inputs are PIL images or uint8 tensors (C, H, W); outputs are float tensors (3, H, W). Randomness
comes from torch's generator, so DataLoader worker seeding makes runs repeatable.
"""

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAJ_ERASE_FILL = (0.4914, 0.4822, 0.4465)  # ChannelRandomErasing's default `mean`
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # R, G, B as in CAJ's code
BOT_SIZE = (256, 128)
PUBLISHED_PADDING = 10  # BoT's and CAJ's pad before the random crop, at BOT_SIZE and CAJ_SIZE
CAJ_SIZE = (288, 144)


def reid_train_transform(size: tuple[int, int] = BOT_SIZE, *, flip_p: float = 0.5,
                         padding: int | None = None, erase_p: float = 0.5,
                         erase_fill: tuple[float, ...] = IMAGENET_MEAN) -> v2.Compose:
    """BoT train transform to (height, width) = `size`; `padding` defaults to `crop_padding`."""
    padding = crop_padding(size) if padding is None else padding
    return v2.Compose([
        v2.ToImage(),
        v2.Resize(size),
        v2.RandomHorizontalFlip(flip_p),
        v2.Pad(padding),
        v2.RandomCrop(size),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        v2.RandomErasing(erase_p, scale=(0.02, 0.4), ratio=(0.3, 1 / 0.3), value=list(erase_fill)),
        v2.ToPureTensor(),
    ])


def crop_padding(size: tuple[int, int]) -> int:
    """The pad before the random crop: BoT's and CAJ's 10 pixels at their sizes (256 and 288
    high) and above, in proportion below, so the crop shifts a small image by the same share of
    it (at 64 x 32, 10 pixels would move a person by a third of the width; it is 2)."""
    return round(PUBLISHED_PADDING * min(1.0, size[0] / BOT_SIZE[0]))


def reid_test_transform(size: tuple[int, int] = BOT_SIZE) -> v2.Compose:
    """Resize and normalise, nothing random."""
    return v2.Compose([
        v2.ToImage(),
        v2.Resize(size),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        v2.ToPureTensor(),
    ])


def _check_rgb(image: Tensor) -> None:
    if image.ndim < 3 or image.shape[-3] != 3:
        raise ValueError(f"expected a (..., 3, H, W) tensor, got shape {tuple(image.shape)}")


def _replicate_channel(image: Tensor, channel: int) -> Tensor:
    return image[..., channel:channel + 1, :, :].expand_as(image).clone()


def _grayscale(image: Tensor) -> Tensor:
    weights = torch.tensor(GRAY_WEIGHTS, dtype=image.dtype, device=image.device)
    gray = (image * weights.view(3, 1, 1)).sum(dim=-3, keepdim=True)
    return gray.expand_as(image).clone()


class ChannelExchange(nn.Module):
    """CAJ's ChannelExchange: draw c uniformly from {0, ..., gray}; c in {0, 1, 2} copies channel
    c (R, G or B) into all three channels, c >= 3 makes the image grayscale. CAJ uses gray=2 (one
    of R, G, B, never gray). It replicates channels; it does not permute them."""

    def __init__(self, gray: int = 2):
        super().__init__()
        if gray < 2:
            raise ValueError(f"gray must be >= 2, got {gray}")
        self.gray = gray

    def forward(self, image: Tensor) -> Tensor:
        _check_rgb(image)
        choice = int(torch.randint(0, self.gray + 1, ()))
        return _replicate_channel(image, choice) if choice < 3 else _grayscale(image)


class ChannelAdapGray(nn.Module):
    """CAJ's ChannelAdapGray (their infrared pipeline): with probability 1/4 each, copy R, G or B
    into all channels; otherwise (1/4) make the image grayscale with probability `p`, else leave
    it unchanged."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, image: Tensor) -> Tensor:
        _check_rgb(image)
        choice = int(torch.randint(0, 4, ()))
        if choice < 3:
            return _replicate_channel(image, choice)
        return _grayscale(image) if float(torch.rand(())) < self.p else image


class CAJTransforms(NamedTuple):
    """CAJ's train pipelines, by the kind of image they take."""

    visible: v2.Compose  # transform_color
    visible_exchanged: v2.Compose  # transform_color1: + ChannelExchange(gray=2)
    infrared: v2.Compose  # transform_thermal: + ChannelAdapGray(0.5)


def caj_train_transforms(size: tuple[int, int] = CAJ_SIZE, *,
                         erase_p: float = 0.5) -> CAJTransforms:
    """CAJ's pipelines: pad 10 (`crop_padding`), random crop, flip, normalise, channel random
    erasing (CIFAR mean fill), then the channel augmentation of each stream; a resize to `size`
    comes first (CAJ stores images pre-resized)."""
    def base() -> v2.Compose:
        return reid_train_transform(size, erase_p=erase_p, erase_fill=CAJ_ERASE_FILL)

    return CAJTransforms(
        visible=base(),
        visible_exchanged=v2.Compose([base(), ChannelExchange(gray=2)]),
        infrared=v2.Compose([base(), ChannelAdapGray(0.5)]),
    )
