"""DLCR's parser role: ground-truth toy masks and a real (tiny, random) transformers parser."""

import numpy as np
import polars as pl
import pytest
from generation_inputs import toy_job
from PIL import Image

from factory.parsing.labels import LIP_NAMES
from factory.parsing.parser import (
    GroundTruthMasks,
    SegmentationParser,
    build_parser,
    check_coverage,
    clothes_label_ids,
)
from factory.table_io import read_table

ATR_LABELS = ["Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants",
              "Dress", "Belt", "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg",
              "Left-arm", "Right-arm", "Bag", "Scarf"]


def test_clothes_labels_by_name_in_lip_and_atr():
    assert clothes_label_ids(LIP_NAMES) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18, 19]
    atr = clothes_label_ids(dict(enumerate(ATR_LABELS)))
    assert [ATR_LABELS[i] for i in atr] == ["Sunglasses", "Upper-clothes", "Skirt", "Pants",
                                            "Dress", "Belt", "Left-shoe", "Right-shoe", "Bag",
                                            "Scarf"]


def test_coverage_refuses_empty_and_full_masks():
    with pytest.raises(ValueError, match="image a: clothes mask is empty"):
        check_coverage(np.zeros((4, 4), bool), "a")
    with pytest.raises(ValueError, match="image b: clothes mask covers the whole image"):
        check_coverage(np.ones((4, 4), bool), "b")


def test_ground_truth_masks_cover_the_clothes(toy_images, toy_sd, tmp_path):
    config = toy_job("dlcr", toy_images("ltcc"), toy_sd, tmp_path)
    images = pl.from_arrow(read_table(config.images, "images")).head(3)
    pictures = [Image.open(path).convert("RGB") for path in images["path"]]
    parser = build_parser(config.masks, None, "cpu")
    masks = parser(pictures, images["image_id"].to_list())
    for picture, mask in zip(pictures, masks, strict=True):
        assert mask.shape == (picture.height, picture.width) and mask.dtype == bool
        assert 0.05 < mask.mean() < 0.6  # clothes: part of the person, never the background
    with pytest.raises(ValueError, match="no parsing mask for image nope"):
        GroundTruthMasks(config.masks)(pictures[:1], ["nope"])


def test_segmentation_model_as_parser(tmp_path):
    from transformers import (
        SegformerConfig,
        SegformerForSemanticSegmentation,
        SegformerImageProcessor,
    )

    config = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                             hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2],
                             num_attention_heads=[1, 1], mlp_ratios=[2, 2],
                             decoder_hidden_size=16, num_labels=len(ATR_LABELS),
                             id2label=dict(enumerate(ATR_LABELS)),
                             label2id={name: i for i, name in enumerate(ATR_LABELS)})
    SegformerForSemanticSegmentation(config).save_pretrained(tmp_path)
    SegformerImageProcessor(size={"height": 64, "width": 32}).save_pretrained(tmp_path)
    parser = build_parser(None, str(tmp_path), "cpu")
    assert isinstance(parser, SegmentationParser)
    pictures = [Image.new("RGB", (40, 90), (200, 10, 10)), Image.new("RGB", (30, 70))]
    masks = parser(pictures, ["a", "b"])
    assert [mask.shape for mask in masks] == [(90, 40), (70, 30)]
    assert all(mask.dtype == bool for mask in masks)
