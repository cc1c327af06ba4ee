"""DLCR's parser role: ground-truth toy masks and a real (tiny, random) transformers parser
with each label set DLCR's rule must read (LIP, ATR)."""

import numpy as np
import polars as pl
import pytest
import torch
from generation_inputs import toy_job
from PIL import Image

from factory.parsing.labels import LIP_NAMES, clothes_label_ids, label_set
from factory.parsing.parser import (
    GroundTruthMasks,
    SegmentationParser,
    build_parser,
    check_coverage,
    parser_labels,
)
from factory.table_io import read_table

# The spellings of released checkpoints: ATR as mattmdjaga/segformer_b2_clothes, LIP as SCHP.
ATR_LABELS = ["Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants",
              "Dress", "Belt", "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg",
              "Left-arm", "Right-arm", "Bag", "Scarf"]
LIP_LABELS = ["Background", "Hat", "Hair", "Glove", "Sunglasses", "Upper-clothes", "Dress",
              "Coat", "Socks", "Pants", "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm",
              "Right-arm", "Left-leg", "Right-leg", "Left-shoe", "Right-shoe"]
# DLCR (section 4): everything but background, hat, hair, face, arms and legs is inpainted; LIP
# has no bag or belt (they are background there), so ATR's are kept too.
KEPT = {"background", "hat", "hair", "face", "left-arm", "right-arm", "left-leg", "right-leg"}
KEPT_ATR = KEPT | {"bag", "belt"}


def tiny_segformer(folder, names: list[str]):
    """A tiny random SegFormer with labels `names`, saved as a parser folder."""
    from transformers import (
        SegformerConfig,
        SegformerForSemanticSegmentation,
        SegformerImageProcessor,
    )

    config = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                             hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2],
                             num_attention_heads=[1, 1], mlp_ratios=[2, 2],
                             decoder_hidden_size=16, num_labels=len(names),
                             id2label=dict(enumerate(names)),
                             label2id={name: i for i, name in enumerate(names)})
    torch.manual_seed(0)
    SegformerForSemanticSegmentation(config).save_pretrained(folder)
    SegformerImageProcessor(size={"height": 64, "width": 32}).save_pretrained(folder)
    return folder


def test_clothes_labels_by_name_in_lip_and_atr():
    assert clothes_label_ids(LIP_NAMES) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18, 19]
    atr = clothes_label_ids(dict(enumerate(ATR_LABELS)))
    assert [ATR_LABELS[i] for i in atr] == ["Sunglasses", "Upper-clothes", "Skirt", "Pants",
                                            "Dress", "Left-shoe", "Right-shoe", "Scarf"]
    # By name, whatever ids a model gives its labels.
    shuffled = dict(zip(range(17, -1, -1), ATR_LABELS, strict=True))
    assert sorted(shuffled[i] for i in clothes_label_ids(shuffled)) == sorted(
        ATR_LABELS[i] for i in atr)
    assert label_set(dict(enumerate(LIP_LABELS))).name == "lip"


def test_labels_of_neither_set_are_refused():
    with pytest.raises(ValueError, match="parser x: labels .* are neither LIP's nor ATR's"):
        clothes_label_ids({0: "background", 1: "torso-skin", 2: "upper-clothes"}, "parser x")
    with pytest.raises(ValueError, match="neither LIP's nor ATR's"):
        label_set({0: "LABEL_0", 1: "LABEL_1"})


@pytest.mark.parametrize(("names", "kept", "name"), [(LIP_LABELS, KEPT, "lip"),
                                                     (ATR_LABELS, KEPT_ATR, "atr")],
                         ids=["lip", "atr"])
def test_every_label_follows_dlcrs_rule(names, kept, name, tmp_path):
    """A tiny SegFormer made to predict one label everywhere: clothes fill the mask, the rest
    leave it empty."""
    folder = tiny_segformer(tmp_path, names)
    assert parser_labels(str(folder)).name == name
    parser = SegmentationParser(str(folder), "cpu")
    classifier = parser.model.decode_head.classifier
    picture = Image.new("RGB", (40, 90), (120, 80, 60))
    for label, label_name in enumerate(names):
        with torch.no_grad():
            classifier.weight.zero_()
            classifier.bias.zero_()
            classifier.bias[label] = 1.0
        mask = parser([picture], ["a"])[0]
        clothes = label_name.lower() not in kept
        assert mask.shape == (90, 40) and mask.all() == clothes and mask.any() == clothes, \
            label_name


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
    parser = build_parser(None, str(tiny_segformer(tmp_path, ATR_LABELS)), "cpu")
    assert isinstance(parser, SegmentationParser)
    pictures = [Image.new("RGB", (40, 90), (200, 10, 10)), Image.new("RGB", (30, 70))]
    masks = parser(pictures, ["a", "b"])
    assert [mask.shape for mask in masks] == [(90, 40), (70, 30)]
    assert all(mask.dtype == bool for mask in masks)
