"""The toy world's people, outfits and cameras: deterministic, varied, described in words."""

import json

import pytest

from factory.laptop.toyworld.palette import MATERIALS, PALETTE
from factory.laptop.toyworld.world import (
    RenderRequest,
    make_camera,
    make_identity,
    make_outfit,
    pose,
    stable_rng,
)
from factory.parsing.labels import CLOTHES_LABELS, LIP_LABELS


def test_clothes_labels_follow_dlcr():
    assert CLOTHES_LABELS == (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18, 19)
    assert len(LIP_LABELS) == 20 and sorted(LIP_LABELS.values()) == list(range(20))


def test_palette_and_materials():
    assert len(PALETTE) >= 10 and len(set(PALETTE.values())) == len(PALETTE)
    assert all(0 <= value <= 1 for value in MATERIALS.values())


def test_stable_rng_is_reproducible_and_input_dependent():
    assert stable_rng(1, 2).random() == stable_rng(1, 2).random()
    assert stable_rng(1, 2).random() != stable_rng(2, 1).random()


def test_world_is_deterministic_in_its_seed():
    assert make_identity(3, 7) == make_identity(3, 7)
    assert make_outfit(3, 7, 1) == make_outfit(3, 7, 1)
    assert make_camera(3, 2, "ir") == make_camera(3, 2, "ir")
    identities = [make_identity(3, pid) for pid in range(20)]
    assert identities != [make_identity(4, pid) for pid in range(20)]
    assert [make_outfit(3, pid, 0) for pid in range(20)] != [
        make_outfit(4, pid, 0) for pid in range(20)]


def test_outfits_of_one_person_differ_visibly():
    for pid in range(30):
        outfits = [make_outfit(0, pid, outfit_id) for outfit_id in range(6)]
        assert len({outfit.top_colour for outfit in outfits}) == 6
        assert all(outfit.bottom_colour != outfit.top_colour for outfit in outfits)


def test_identities_vary():
    identities = [make_identity(0, pid) for pid in range(200)]
    for trait in ("skin", "hair_colour", "hair_style"):
        assert len({getattr(identity, trait) for identity in identities}) >= 4
    assert len({identity.height for identity in identities}) > 100


def test_descriptions_mention_colours_and_items():
    for pid in range(20):
        outfit = make_outfit(1, pid, 0)
        text = outfit.describe()
        for colour in (outfit.top_colour, outfit.bottom_colour, outfit.shoes):
            assert colour in text
        items = outfit.items()
        assert len(items) == (3 if outfit.bag == "none" else 4)
        assert all(item in text for item in items)
        assert outfit.bottom_type in items[1] and items[2] == f"{outfit.shoes} shoes"
        identity = make_identity(1, pid)
        assert identity.hair_colour in identity.describe()
        assert f"{identity.skin} skin" in identity.describe()


def test_attributes_are_json():
    identity, outfit = make_identity(0, 1), make_outfit(0, 1, 0)
    camera = make_camera(0, 1, "rgb")
    for thing in (identity, outfit, camera):
        assert json.loads(json.dumps(thing.attributes()))
    assert outfit.attributes()["items"] == outfit.items()
    assert "photo" in camera.describe()


def test_cameras_differ_and_ir_backgrounds_are_grey():
    cameras = [make_camera(0, camera_id, "rgb") for camera_id in range(1, 9)]
    assert len({camera.background_colours for camera in cameras}) == 8
    assert len({camera.viewpoint for camera in cameras}) >= 2
    for camera_id in range(1, 5):
        ir = make_camera(0, camera_id, "ir")
        assert all(len(set(colour)) == 1 for colour in ir.background_colours)
        assert ir.colour_cast == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="modality"):
        make_camera(0, 1, "thermal")


def test_pose_is_deterministic_and_varies_with_the_frame():
    identity, outfit = make_identity(0, 1), make_outfit(0, 1, 0)
    camera = make_camera(0, 1, "rgb")
    poses = [pose(RenderRequest(identity, outfit, camera, frame)) for frame in range(40)]
    assert poses[5] == pose(RenderRequest(identity, outfit, camera, 5))
    assert len({p.stride for p in poses}) == 40
    usual = sum(p.viewpoint == camera.viewpoint for p in poses)
    assert 15 <= usual < 40  # mostly the camera's usual view, sometimes another
