"""The toy world: a fast, deterministic procedural renderer of pedestrians that stands in for real
ReID data (ARCHITECTURE.md). Identities keep their traits, outfits change, cameras differ in
background, light, viewpoint, blur and scale, in RGB or infrared; every image comes with its LIP
parsing mask and text descriptions. Rendering lives in `factory.laptop.toyworld.render` (not
re-exported here, so `factory.laptop.toyworld.render` stays the module).
"""

from factory.laptop.toyworld.palette import MATERIALS, PALETTE
from factory.laptop.toyworld.world import (
    Camera,
    Identity,
    Outfit,
    Pose,
    RenderRequest,
    make_camera,
    make_identity,
    make_outfit,
    pose,
)
from factory.parsing.labels import CLOTHES_LABELS, LIP_LABELS

__all__ = [
    "CLOTHES_LABELS", "LIP_LABELS", "MATERIALS", "PALETTE", "Camera", "Identity", "Outfit", "Pose",
    "RenderRequest", "make_camera", "make_identity", "make_outfit", "pose",
]
