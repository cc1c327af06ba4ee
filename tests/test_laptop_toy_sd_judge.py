"""The colour judge: right on real toy renders, wrong when told the wrong colours."""

import numpy as np
import pytest

from factory.laptop.toy_sd import judge as pf
from factory.laptop.toyworld.palette import PALETTE


@pytest.fixture(scope="module")
def real():
    outfits = pf.plain_outfits(np.random.default_rng(0), 150)
    images, masks = pf.real_renders(outfits, height=64, width=32)
    return outfits, images, masks


def test_palette_colours_under_any_light_keep_their_name():
    for gain in (0.7, 1.0, 1.2):
        lit = np.clip(np.array(list(PALETTE.values())) * gain, 0, 255)
        assert pf.name_colours(lit) == list(PALETTE), gain


def test_plain_outfits_cover_colour_pairs():
    outfits = pf.plain_outfits(np.random.default_rng(0), 132)
    assert len({(o.top_colour, o.bottom_colour) for o in outfits}) == 132
    assert all(o.top_pattern == "plain" and o.bag == "none" for o in outfits)


def test_canonical_regions_are_where_garments_are():
    top, bottom = pf.garment_regions(64, 32)
    assert top.sum() > 60 and bottom.sum() > 30
    assert not (top & bottom).any()
    assert np.nonzero(top)[0].mean() < np.nonzero(bottom)[0].mean()  # the top above the bottom


def test_judge_is_right_on_real_renders(real):
    outfits, images, masks = real
    canonical = pf.judge_canonical(images, outfits)
    assert canonical.top >= 0.93 and canonical.bottom >= 0.95 and canonical.count == 150
    masked = pf.judge_masked(images, masks, outfits)
    assert masked.top >= 0.97 and masked.bottom >= 0.97


def test_judge_is_wrong_when_the_colours_are(real):
    outfits, images, masks = real
    shifted = outfits[1:] + outfits[:1]  # other outfits' colours
    assert pf.judge_canonical(images, shifted).top < 0.2
    assert pf.judge_masked(images, masks, shifted).bottom < 0.2


def test_empty_region_names_no_colour():
    images = np.zeros((2, 4, 4, 3), np.uint8)
    assert pf.region_colours(images, np.zeros((4, 4), bool)) == ["none", "none"]
