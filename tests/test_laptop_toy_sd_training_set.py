"""Training renders and captions of the toy SD: what the captions say matches what is drawn."""

import numpy as np
import pytest

from factory.laptop.toy_sd.training_set import (
    caption,
    draw_captions,
    items_caption,
    render_training_set,
    short_caption,
)
from factory.laptop.toyworld.world import Outfit


@pytest.fixture(scope="module")
def renders():
    return render_training_set(24, height=64, width=32, seed=0)


def test_renders_are_rgb_with_clothes_masks(renders):
    assert renders.images.shape == (24, 64, 32, 3) and renders.images.dtype == np.uint8
    assert renders.clothes_masks.shape == (24, 64, 32) and renders.clothes_masks.dtype == bool
    assert len(renders.outfits) == len(renders.identities) == 24
    assert all(mask.mean() > 0.05 for mask in renders.clothes_masks)  # persons fill the frame
    again = render_training_set(24, height=64, width=32, seed=0)
    assert np.array_equal(again.images, renders.images)


def test_captions_name_top_then_bottom():
    outfit = Outfit(outfit_id=0, top_colour="red", top_pattern="plain", sleeves="short",
                    top_material="cotton", bottom_type="trousers", bottom_colour="blue",
                    bottom_material="denim", shoes="white", bag="backpack",
                    bag_colour="black")
    assert short_caption(outfit) == ("a person in a red t-shirt and blue trousers with a black "
                                     "backpack")
    assert items_caption(outfit) == ("red short-sleeved cotton t-shirt, blue denim trousers, "
                                     "white shoes, black backpack")
    striped = Outfit(**{**outfit.__dict__, "top_pattern": "striped", "bag": "none"})
    assert short_caption(striped) == "a person in a red and white striped t-shirt and blue trousers"
    with pytest.raises(ValueError, match=r"'poem'.*\['short', 'items', 'full'\]"):
        caption("poem", None, outfit)


def test_draw_captions_templates_and_dropout(renders):
    rng = np.random.default_rng(0)
    indices = np.arange(24).repeat(20)
    captions = draw_captions(renders, indices, rng, template_weights=(1, 0, 0), dropout=0.1)
    empty = sum(text == "" for text in captions) / len(captions)
    assert 0.05 < empty < 0.15
    assert all(text == "" or text == short_caption(renders.outfits[i])
               for text, i in zip(captions, indices, strict=True))
    full = draw_captions(renders, indices[:5], rng, template_weights=(0, 0, 1), dropout=0.0)
    assert full[0].startswith(renders.identities[0].describe() + " wearing ")
