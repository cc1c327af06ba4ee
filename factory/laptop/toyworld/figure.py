"""Draws one pedestrian as a map of paint ids over a background: LIP label ids 1..19 plus a few ids
for what needs its own colour but no label of its own (pattern, bag, strap, eyes, glasses);
`PAINT_LABEL`
maps them. Ids from `SHADOW` up are not the person (their shadow, then the background's ids).

Body parts are polygons, boxes and ellipses filled back to front with Pillow's drawing primitives
(fast C code); lengths are fractions of the person's height `f`. Coordinates are Pillow's: pixel
(x, y) is centred on the integer point (x, y).
"""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from factory.laptop.toyworld.world import Identity, Outfit, Pose, RenderRequest
from factory.parsing.labels import LIP_LABELS

HAIR, TOP, COAT, PANTS, SKIRT, FACE = (LIP_LABELS[name] for name in (
    "hair", "upper-clothes", "coat", "pants", "skirt", "face"))
LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG, LEFT_SHOE, RIGHT_SHOE = range(14, 20)
ACCENT, BAG, STRAP, EYE, GLASSES, SHADOW = range(20, 26)
SKIN = (FACE, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG)
# Paint ids without a LIP label of their own: -1 means "the top garment's label" (bags are outfit).
# Glasses are the face's (an identity trait: DLCR's clothes mask leaves them alone).
PAINT_LABEL = {ACCENT: -1, BAG: -1, STRAP: -1, EYE: FACE, GLASSES: FACE}
# How far down the head the hair reaches at the crown, as a fraction of the head's height.
HAIR_CAP = {"buzz": 0.22, "short": 0.38, "long": 0.42, "ponytail": 0.36, "afro": 0.4,
            "bun": 0.34, "mohawk": 0.0, "bald": 0.0}
# Head radii (vertical, horizontal) as fractions of the person's height: big enough that hair,
# glasses and beard stay legible at the ReID resolution.
HEAD_RADII = (0.1, 0.078)


@dataclass(frozen=True)
class Body:
    """Where the person stands in the image, in pixels."""

    f: float  # the person's height
    cx: float  # the body's centre column
    top: float  # the top of the head
    build: float
    head: float
    view: str
    facing: int  # +1 facing the image's right (side view)

    def y(self, fraction: float) -> float:
        return self.top + fraction * self.f

    @property
    def torso_half(self) -> float:
        return self.f * (0.068 if self.view == "side" else 0.105) * self.build

    @property
    def head_box(self) -> tuple[float, float, float, float]:
        """Centre row, centre column, vertical and horizontal radius of the head."""
        ry, rx = (self.f * radius * self.head for radius in HEAD_RADII)
        return self.top + ry, self.cx, ry, rx

    def sides(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """(arm, leg, shoe) labels of the image-left and -right limbs (side view: far, near)."""
        left, right = (LEFT_ARM, LEFT_LEG, LEFT_SHOE), (RIGHT_ARM, RIGHT_LEG, RIGHT_SHOE)
        if self.view == "side":
            return (left, right) if self.facing > 0 else (right, left)
        return (right, left) if self.view == "front" else (left, right)


class Pen:
    """Fills shapes into a paint-id image."""

    def __init__(self, canvas: Image.Image):
        self.image = canvas
        self.draw = ImageDraw.Draw(canvas)

    def polygon(self, points, value: int):
        self.draw.polygon(points, fill=value)

    def band(self, y0, y1, centres, halves, value: int):
        """A trapezoid from row y0 to y1; centres and halves are (at y0, at y1)."""
        (c0, c1), (h0, h1) = centres, halves
        self.polygon([(c0 - h0, y0), (c0 + h0, y0), (c1 + h1, y1), (c1 - h1, y1)], value)

    def box(self, y0, y1, cx, half, value: int):
        self.draw.rectangle((round(cx - half), round(y0), round(cx + half), round(y1)), fill=value)

    def ellipse(self, cy, cx, ry, rx, value: int):
        self.draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=value)

    def arc(self, cy, cx, ry, rx, degrees: tuple[float, float], inner, value: int):
        """The part of an ellipse between two angles (clockwise from 3 o'clock, y down), closed
        through the `inner` points."""
        start, end = (math.radians(d) for d in degrees)
        steps = [start + (end - start) * i / 10 for i in range(11)]
        rim = [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in steps]
        self.polygon(rim + list(inner), value)

    def paint(self) -> np.ndarray:
        return np.array(self.image)


def place(request: RenderRequest, pose: Pose, height: int, width: int) -> Body:
    """The person's box in a `height` x `width` image: feet on the camera's ground line."""
    scale = request.camera.scale * pose.zoom
    f = height * scale * request.identity.height
    feet = height * (0.5 + scale / 2 + pose.shift[0])
    return Body(f=f, cx=width * (0.5 + pose.shift[1]) - 0.5, top=feet - f - 0.5,
                build=request.identity.build, head=request.identity.head, view=pose.viewpoint,
                facing=pose.facing)


def draw(request: RenderRequest, pose: Pose, canvas: Image.Image) -> tuple[np.ndarray, Body]:
    """The paint-id map (H, W) uint8 of `request` seen in `pose`, drawn over (and into) the "L"
    image `canvas`, and where the body lies."""
    width, height = canvas.size
    body = place(request, pose, height, width)
    pen = Pen(canvas)
    outfit, style = request.outfit, request.identity.hair_style
    arms = _arm_lines(body, pose.stride)
    pen.ellipse(body.y(0.995), body.cx, body.f * 0.022, body.f * 0.16, SHADOW)
    if body.view == "front" and style == "long":
        _hair_down(pen, body, style)
    if body.view == "side" and outfit.bag == "backpack":
        _backpack(pen, body)
    _legs(pen, body, outfit.bottom_type, pose.stride)
    _arms(pen, body, arms[:-1] if body.view == "side" else arms, outfit)
    _torso(pen, body, top_label(outfit))
    _head(pen, body, request.identity)
    if outfit.bag == "backpack" and body.view != "side":
        _backpack(pen, body)
    if outfit.bag == "shoulder bag":
        _shoulder_bag(pen, body)
    if body.view == "side":
        _arms(pen, body, arms[-1:], outfit)
    if outfit.bag == "handbag":
        _handbag(pen, body, arms[-1])
    if body.view != "front" and style in ("long", "ponytail"):
        _hair_down(pen, body, style)
    return pen.paint(), body


def top_label(outfit: Outfit) -> int:
    """The LIP label of the top garment: a jacket is a coat, anything else upper-clothes."""
    return COAT if outfit.top_type == "jacket" else TOP


def _legs(pen: Pen, body: Body, bottom_type: str, stride: float):
    hip, ankle, half = body.y(0.5), body.y(0.955), body.f * 0.045 * body.build
    if body.view == "side":  # far and near leg swing opposite ways
        placements = [(-0.26 * stride * body.facing, 0.0), (0.26 * stride * body.facing, 0.0)]
    else:
        apart = body.f * 0.05 * body.build
        placements = [(0.0, -apart), (0.0, apart)]
    trouser_end = {"trousers": ankle, "shorts": body.y(0.69), "skirt": hip}[bottom_type]
    toe = body.f * 0.03 * (body.facing if body.view == "side" else 0)
    for (_, leg, shoe), (slope, dx) in zip(body.sides(), placements, strict=True):
        top, foot = body.cx + dx, body.cx + dx + slope * (ankle - hip)
        if bottom_type != "trousers":  # trousers hide the leg
            pen.band(hip, ankle, (top, foot), (half, half * 0.8), leg)
        if trouser_end > hip:
            end = top + slope * (trouser_end - hip)
            pen.band(hip, trouser_end, (top, end), (half + 0.4, half * 0.85 + 0.4), PANTS)
        pen.box(ankle - body.f * 0.01, body.y(1.0), foot + toe / 2, half + abs(toe) / 2, shoe)
    if bottom_type == "skirt":
        wide, flare = body.torso_half * 0.95, 0.35 if body.view == "side" else 0.25
        y0, y1 = hip - body.f * 0.03, body.y(0.72)
        pen.band(y0, y1, (body.cx, body.cx), (wide, wide + (y1 - hip) * flare), SKIRT)
    elif body.view != "side":  # the seat between the legs
        pen.box(hip - body.f * 0.03, body.y(0.56), body.cx, half * 2.0, PANTS)


def _arm_lines(body: Body, stride: float) -> list[tuple[int, float, float]]:
    """(label, dx at the shoulder, slope) per arm; in the side view the last one is the near arm."""
    if body.view == "side":
        (far, _, _), (near, _, _) = body.sides()
        swing = 0.35 * stride * body.facing
        return [(far, 0.0, swing), (near, 0.0, -swing)]
    reach = body.torso_half + body.f * 0.03 * body.build * 0.45
    return [(labels[0], sign * reach, sign * 0.05)
            for labels, sign in zip(body.sides(), (-1, 1), strict=True)]


def _arm_x(body: Body, arm: tuple[int, float, float], y: float) -> float:
    _, dx, slope = arm
    return body.cx + dx + slope * (y - body.y(0.175))


def _arms(pen: Pen, body: Body, arms, outfit: Outfit):
    shoulder, hand = body.y(0.175), body.y(0.52)
    half = body.f * 0.03 * body.build
    sleeve_end = body.y(0.28) if outfit.sleeves == "short" else body.y(0.47)
    for arm in arms:
        top = _arm_x(body, arm, shoulder)
        pen.band(shoulder, hand, (top, _arm_x(body, arm, hand)), (half, half * 0.85), arm[0])
        pen.band(shoulder, sleeve_end, (top, _arm_x(body, arm, sleeve_end)),
                 (half + 0.45, half + 0.45), top_label(outfit))


def _torso(pen: Pen, body: Body, label: int):
    pen.box(body.y(0.11), body.y(0.18), body.cx, body.f * 0.028 * body.head, FACE)  # the neck
    shoulder, chest, waist = body.y(0.155), body.y(0.2), body.y(0.53)
    wide, narrow, cx = body.torso_half, body.torso_half * 0.88, body.cx
    pen.polygon([(cx - wide * 0.62, shoulder), (cx + wide * 0.62, shoulder), (cx + wide, chest),
                 (cx + narrow, waist), (cx - narrow, waist), (cx - wide, chest)], label)


def _head(pen: Pen, body: Body, identity: Identity):
    cy, cx, ry, rx = body.head_box
    style = identity.hair_style
    if style == "afro":  # a cloud of hair around the head, wider than the shoulders' top
        pen.ellipse(cy - ry * 0.2, cx, ry * 1.3, rx * 1.45, HAIR)
    if style == "bun":  # a ball on the crown (behind it in the side view)
        back = -body.facing * rx * 0.7 if body.view == "side" else 0.0
        pen.ellipse(cy - ry * 1.05, cx + back, ry * 0.42, rx * 0.5, HAIR)
    if body.view == "back" and style not in ("buzz", "bald", "mohawk"):
        pen.ellipse(cy, cx, ry, rx, HAIR)
        return
    pen.ellipse(cy, cx, ry, rx, FACE)
    if style == "mohawk":  # a tall crest over a shaved head
        half = rx * (0.5 if body.view == "side" else 0.28)
        pen.box(cy - ry * 1.55, cy - ry * 0.45, cx, half, HAIR)
    elif style != "bald":
        _hair_cap(pen, body, style)
    if body.view != "back":
        _eyes(pen, body)
        if identity.beard:
            _beard(pen, body)
        if identity.glasses:
            _glasses(pen, body)


def _hair_cap(pen: Pen, body: Body, style: str):
    """The hair over the crown, down to the hairline (the whole back of the head from behind)."""
    cy, cx, ry, rx = body.head_box
    hairline = cy - ry + HAIR_CAP[style] * 2 * ry
    hair_ry, hair_rx = ry + 0.6, rx + 0.6  # a polygon rim must cover the ellipse's outer pixels
    if body.view == "back":  # a buzz cut from behind: skin below the crown
        pen.arc(cy, cx, hair_ry, hair_rx, (160, 380), [], HAIR)
    elif body.view == "side":  # hair covers the back of the head
        s = body.facing
        start, end = (120, 340) if s > 0 else (200, 420)
        inner = [(cx + s * rx * 0.15, hairline), (cx - s * rx * 0.2, cy + ry * 0.45)]
        pen.arc(cy, cx, hair_ry, hair_rx, (start, end), inner if s > 0 else inner[::-1], HAIR)
    else:
        temples = 0 if style == "buzz" else 20
        pen.arc(cy, cx, hair_ry, hair_rx, (180 - temples, 360 + temples),
                [(cx + rx * 0.6, hairline), (cx - rx * 0.6, hairline)], HAIR)


def _beard(pen: Pen, body: Body):
    """The lower face below the mouth line, in the hair's colour."""
    cy, cx, ry, rx = body.head_box
    if body.view == "side":  # the front half of the jaw
        s = body.facing
        degrees = (10, 100) if s > 0 else (80, 170)
        inner = [(cx, cy + ry * 0.35), (cx + s * rx * 0.9, cy + ry * 0.3)]
        pen.arc(cy, cx, ry + 0.6, rx + 0.6, degrees, inner if s > 0 else inner[::-1], HAIR)
        return
    pen.arc(cy, cx, ry + 0.6, rx + 0.6, (15, 165),
            [(cx - rx * 0.95, cy + ry * 0.3), (cx + rx * 0.95, cy + ry * 0.3)], HAIR)


def _glasses(pen: Pen, body: Body):
    """A dark band across the eyes (from the eye forwards in the side view)."""
    cy, cx, ry, rx = body.head_box
    y0, y1 = cy + ry * 0.1 - ry * 0.2, cy + ry * 0.1 + ry * 0.2
    if body.view == "side":
        eye = cx + body.facing * rx * 0.6
        pen.box(y0, y1, eye + body.facing * rx * 0.25, rx * 0.4, GLASSES)
    else:
        pen.box(y0, y1, cx, rx * 0.85, GLASSES)


def _eyes(pen: Pen, body: Body):
    cy, cx, ry, rx = body.head_box
    xs = [cx + body.facing * rx * 0.6] if body.view == "side" else [cx - rx * 0.4, cx + rx * 0.4]
    size = max(0.5, body.f / 220)
    for x in xs:
        pen.box(cy + ry * 0.1 - size, cy + ry * 0.1 + size, x, size, EYE)


def _hair_down(pen: Pen, body: Body, style: str):
    """Long hair or a ponytail: behind the head in the front view, over the back otherwise."""
    cy, cx, ry, rx = body.head_box
    bottom = body.y(0.3)  # below the (big) head, down the back
    if body.view == "side":
        behind = cx - body.facing * rx * (1.0 if style == "ponytail" else 0.55)
        half = rx * (0.3 if style == "ponytail" else 0.5)
        pen.band(cy - ry * 0.3, bottom, (behind, behind), (half, half * 0.8), HAIR)
    elif style == "ponytail":
        pen.band(cy, bottom, (cx, cx), (rx * 0.35, rx * 0.25), HAIR)
    else:
        pen.band(cy - ry * 0.4, bottom, (cx, cx), (rx * 1.1, rx * 1.05), HAIR)


def _backpack(pen: Pen, body: Body):
    top, bottom = body.y(0.18), body.y(0.43)
    if body.view == "front":  # only the straps show
        strap = max(0.5, body.f * 0.012)
        for sign in (-1, 1):
            x = body.cx + sign * body.torso_half * 0.55
            pen.box(body.y(0.16), body.y(0.34), x, strap, STRAP)
        return
    if body.view == "side":
        centre, half = body.cx - body.facing * (body.torso_half + body.f * 0.03), body.f * 0.05
    else:
        centre, half = body.cx, body.torso_half * 0.78
    pen.box(top, bottom, centre, half, BAG)
    pen.box(top, top + body.f * 0.03, centre, half, STRAP)


def _shoulder_bag(pen: Pen, body: Body):
    shoulder, hip = body.y(0.16), body.y(0.44)
    if body.view == "side":
        start, end, bag_x = body.cx, body.cx, body.cx + body.facing * body.f * 0.01
    else:
        start, end = body.cx - body.torso_half * 0.7, body.cx + body.torso_half * 0.9
        bag_x = body.cx + body.torso_half * 1.05
    strap = max(0.5, body.f * 0.01)
    pen.band(shoulder, hip, (start, end), (strap, strap), STRAP)
    pen.box(hip - body.f * 0.02, body.y(0.54), bag_x, body.f * 0.05, BAG)


def _handbag(pen: Pen, body: Body, arm: tuple[int, float, float]):
    hand_x = _arm_x(body, arm, body.y(0.5))
    pen.box(body.y(0.485), body.y(0.51), hand_x, body.f * 0.018, STRAP)
    pen.box(body.y(0.51), body.y(0.63), hand_x, body.f * 0.045, BAG)
