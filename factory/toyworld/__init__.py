"""The toy world: a fast, deterministic procedural renderer of pedestrians that stands in for real
ReID data (section 7 of DESIGN.md). Identities keep their traits, outfits change, cameras differ in
background, light, viewpoint, blur and scale, in RGB or infrared; every image comes with its LIP
parsing mask and text descriptions. Rendering lives in `factory.toyworld.render` (not re-exported
here, so `factory.toyworld.render` stays the module).
"""

from factory.toyworld.labels import CLOTHES_LABELS, LIP_LABELS
from factory.toyworld.palette import MATERIALS, PALETTE
from factory.toyworld.world import (
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

__all__ = [
    "CLOTHES_LABELS", "LIP_LABELS", "MATERIALS", "PALETTE", "Camera", "Identity", "Outfit", "Pose",
    "RenderRequest", "make_camera", "make_identity", "make_outfit", "pose",
]
