"""DLCR's parser role: a clothes mask per source image (ARCHITECTURE.md, DLCR step 2).

Clothes are every parsing label except background, hat, hair, face, arms and legs (and, in ATR,
bag and belt): the rule and the label sets are in `factory/parsing/labels.py`. Two parsers fill
the role:
- `GroundTruthMasks`: a dataset's own LIP masks, from its `parsing_masks` table (the toy world
  writes one);
- `SegmentationParser`: a transformers semantic-segmentation model with LIP or ATR labels (read
  by name from its config), e.g. a SegFormer fine-tuned for human parsing.
Both return one boolean (H, W) mask per image, at the image's own size.
"""

import io

import numpy as np
from PIL import Image

from factory.parsing.labels import CLOTHES_LABELS, LabelSet, clothes_label_ids, label_set


def check_coverage(mask: np.ndarray, image_id: str) -> np.ndarray:
    """Refuse masks that would inpaint nothing or everything (DLCR keeps identity pixels)."""
    if not mask.any():
        raise ValueError(f"image {image_id}: clothes mask is empty")
    if mask.all():
        raise ValueError(f"image {image_id}: clothes mask covers the whole image")
    return mask


class GroundTruthMasks:
    """Clothes masks from the PNG label maps of a `parsing_masks` table."""

    def __init__(self, path):
        from factory.table_io import read_table

        table = read_table(path, "parsing_masks")
        self.path = path
        self.masks = dict(zip(table["image_id"].to_pylist(), table["mask_png"].to_pylist(),
                              strict=True))

    def __call__(self, images: list[Image.Image], image_ids: list[str]) -> list[np.ndarray]:
        masks = []
        for image, image_id in zip(images, image_ids, strict=True):
            if image_id not in self.masks:
                raise ValueError(f"{self.path}: no parsing mask for image {image_id}")
            with Image.open(io.BytesIO(self.masks[image_id])) as png:
                labels = np.asarray(png)
            if labels.shape != (image.height, image.width):
                raise ValueError(f"{self.path}: mask of image {image_id} is {labels.shape}, "
                                 f"the image is {(image.height, image.width)}")
            masks.append(np.isin(labels, CLOTHES_LABELS))
        return masks


def parser_labels(path: str) -> LabelSet:
    """The label set of a segmentation model (folder or hub id, read from its config alone), so
    that a parser whose labels DLCR's rule cannot read fails at plan, before any work."""
    from transformers import AutoConfig

    return label_set(AutoConfig.from_pretrained(path).id2label, f"parser {path}")


class SegmentationParser:
    """A transformers semantic-segmentation model as the clothes parser."""

    def __init__(self, path: str, device):
        from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

        self.processor = AutoImageProcessor.from_pretrained(path)
        self.model = AutoModelForSemanticSegmentation.from_pretrained(path).to(device).eval()
        self.device = device
        self.clothes = clothes_label_ids(self.model.config.id2label, f"parser {path}")

    def __call__(self, images: list[Image.Image], image_ids: list[str]) -> list[np.ndarray]:
        import torch

        inputs = self.processor(images=images, return_tensors="pt").to(self.device)
        with torch.no_grad():
            logits = self.model(**inputs).logits
        masks = []
        for image, scores in zip(images, logits, strict=True):
            resized = torch.nn.functional.interpolate(
                scores[None].float(), size=(image.height, image.width), mode="bilinear")
            labels = resized[0].argmax(0).cpu().numpy()
            masks.append(np.isin(labels, self.clothes))
        return masks


def build_parser(masks, model: str | None, device):
    """The parser role of a job: ground-truth masks when a `parsing_masks` table is given."""
    if masks is not None:
        return GroundTruthMasks(masks)
    if model is None:
        raise ValueError("DLCR needs `masks` or a `parser` model for its clothes masks")
    return SegmentationParser(model, device)
