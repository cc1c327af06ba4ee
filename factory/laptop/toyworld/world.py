"""The toy world's people, outfits and cameras, drawn deterministically from a seed.

An `Identity` holds the traits a person keeps (skin, hair colour and style, glasses, beard,
height, build, head size), drawn wide enough apart to tell people apart at the ReID resolution
(64 x 32) and, by their shapes, in infrared too (issue 16: a world with headroom); an `Outfit`
is what they wear and changes between sessions; a `Camera` fixes background, illumination, the
usual viewpoint, blur and scale, in RGB or infrared. A `RenderRequest` names one image: a person in
an outfit, seen by a camera at a frame number that drives pose and jitter (see `pose`).
World sampling uses `stable_rng`, a numpy Generator seeded by a hash of its inputs; per-frame jitter
reads its numbers off such a hash directly (`stable_uniforms`). Python's hash() is never used.
"""

import hashlib
import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from factory.laptop.toyworld.palette import PALETTE, SCENE_COLOURS, SKIN_TONES

# Bumped when what the world draws changes, so what was made from an older world (a cached
# rendered layout, the toy SD's cached build) is made again. 2: people legible at the ReID
# resolution (issue 16).
WORLD_VERSION = 2
MODALITIES = ("rgb", "ir")
VIEWPOINTS = ("front", "back", "side")
# Styles differ in silhouette (an afro, a bun or a mohawk stands out of the head's outline; bald
# shows none), which infrared keeps when it loses the hair's colour.
HAIR_STYLES = {"short": 0.16, "long": 0.16, "ponytail": 0.1, "buzz": 0.1, "bald": 0.1,
               "afro": 0.12, "bun": 0.12, "mohawk": 0.14}
HAIR_COLOUR_WEIGHTS = {"black": 0.22, "brown": 0.2, "blonde": 0.14, "auburn": 0.1, "grey": 0.1,
                       "white": 0.08, "blue": 0.08, "pink": 0.08}
GLASSES_SHARE, BEARD_SHARE = 0.4, 0.3
TOP_TYPES = {"t-shirt": 0.35, "shirt": 0.25, "sweater": 0.2, "jacket": 0.2}
TOP_MATERIALS = {"t-shirt": ("cotton", "synthetic"), "shirt": ("cotton", "synthetic", "denim"),
                 "sweater": ("wool", "cotton", "synthetic"),
                 "jacket": ("leather", "denim", "synthetic", "wool")}
TOP_PATTERNS = {"plain": 0.55, "striped": 0.25, "checked": 0.2}
BOTTOM_TYPES = {"trousers": 0.6, "shorts": 0.2, "skirt": 0.2}
BOTTOM_MATERIALS = {"trousers": ("denim", "cotton", "wool", "synthetic", "leather"),
                    "shorts": ("denim", "cotton", "synthetic"),
                    "skirt": ("cotton", "wool", "synthetic", "denim", "leather")}
SHOE_COLOURS = {"black": 0.3, "white": 0.25, "brown": 0.15, "grey": 0.1, "blue": 0.1, "red": 0.1}
BAGS = {"none": 0.45, "backpack": 0.25, "handbag": 0.15, "shoulder bag": 0.15}
BACKGROUNDS = ("plain", "gradient", "stripes", "tiles", "street")
# Share of a camera's frames seen from its usual viewpoint; the rest show one of the others.
USUAL_VIEW_SHARE = 0.7
# A frame's light on the person (shade, sun) takes one of a few levels, so lit colours get reused.
GAINS = (0.93, 0.95, 0.97, 0.99, 1.01, 1.03, 1.05, 1.07)


def stable_rng(*parts: object) -> np.random.Generator:
    """A Generator seeded by a BLAKE2 hash of `repr(parts)` (stable across runs, unlike hash())."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def stable_uniforms(*parts: object, count: int = 10) -> list[float]:
    """`count` numbers in [0, 1) read straight off a BLAKE2 hash of `repr(parts)`: for per-image
    jitter, where seeding a numpy Generator would cost several times the hash itself."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=4 * count).digest()
    return [int.from_bytes(digest[i:i + 4], "little") / 2**32 for i in range(0, 4 * count, 4)]


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    probs = np.array([weights[name] for name in names])
    return names[int(rng.choice(len(names), p=probs / probs.sum()))]


def _one_of(rng: np.random.Generator, names, *, avoid: str | None = None) -> str:
    names = [name for name in names if name != avoid]
    return names[int(rng.integers(len(names)))]


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _join(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


@dataclass(frozen=True)
class Identity:
    """Traits a person keeps whatever they wear."""

    pid: int
    skin: str  # a SKIN_TONES name
    hair_colour: str  # a HAIR_COLOURS name
    hair_style: str  # a HAIR_STYLES name
    height: float  # stature relative to the tallest person, 0.8..1
    build: float  # body width factor, 0.75 (slim) .. 1.3 (broad)
    head: float  # head size factor, 0.85..1.2
    glasses: bool = False
    beard: bool = False  # in the hair's colour

    @property
    def height_word(self) -> str:
        return "short" if self.height < 0.87 else "tall" if self.height > 0.93 else ""

    @property
    def build_word(self) -> str:
        return "slim" if self.build < 0.93 else "broad" if self.build > 1.12 else ""

    def describe(self) -> str:
        """E.g. "a tall slim person with long black hair, glasses and dark skin"."""
        adjectives = " ".join(word for word in (self.height_word, self.build_word) if word)
        colour = self.hair_colour
        hair = {"short": f"short {colour} hair", "long": f"long {colour} hair",
                "ponytail": f"{colour} hair in a ponytail", "buzz": f"very short {colour} hair",
                "bald": "a bald head", "afro": f"a {colour} afro",
                "bun": f"{colour} hair in a bun", "mohawk": f"a {colour} mohawk"}[self.hair_style]
        extras = [f"a {colour} beard"] * self.beard + ["glasses"] * self.glasses
        person = f"{adjectives} person" if adjectives else "person of average height and build"
        return f"{_with_article(person)} with {_join([hair, *extras, f'{self.skin} skin'])}"

    def attributes(self) -> dict:
        return {**asdict(self), "height_word": self.height_word, "build_word": self.build_word}


@dataclass(frozen=True)
class Outfit:
    """What a person wears in one session; colours are PALETTE names, materials MATERIALS names."""

    outfit_id: int
    top_colour: str
    top_pattern: str  # plain, striped, checked
    sleeves: str  # short, long
    top_material: str
    bottom_type: str  # trousers, shorts, skirt
    bottom_colour: str
    bottom_material: str
    shoes: str  # shoe colour
    bag: str  # none, backpack, handbag, shoulder bag
    top_type: str = "t-shirt"  # t-shirt, shirt, sweater, jacket (a jacket is LIP's coat)
    top_accent: str = "white"  # the pattern's second colour; unused when plain
    bag_colour: str = "black"

    def items(self) -> list[str]:
        """One phrase per clothing item, e.g. ["red short-sleeved cotton t-shirt", ...]."""
        colour = self.top_colour
        if self.top_pattern != "plain":
            colour = f"{self.top_colour} and {self.top_accent} {self.top_pattern}"
        items = [f"{colour} {self.sleeves}-sleeved {self.top_material} {self.top_type}",
                 f"{self.bottom_colour} {self.bottom_material} {self.bottom_type}",
                 f"{self.shoes} shoes"]
        if self.bag != "none":
            items.append(f"{self.bag_colour} {self.bag}")
        return items

    def describe(self) -> str:
        """E.g. "a red short-sleeved cotton t-shirt, blue denim trousers, white shoes and a black
        backpack"."""
        top, bottom, shoes, *bag = self.items()
        bottom = _with_article(bottom) if self.bottom_type == "skirt" else bottom
        return _join([_with_article(top), bottom, shoes, *map(_with_article, bag)])

    def attributes(self) -> dict:
        return {**asdict(self), "items": self.items()}


@dataclass(frozen=True)
class Camera:
    """A fixed camera: what lies behind people, the light, the usual view and the optics."""

    camera_id: int
    modality: str  # rgb or ir
    background: str  # plain, gradient, stripes, tiles, street
    illumination: float  # overall brightness gain
    viewpoint: str  # the usual view (front, back, side); see USUAL_VIEW_SHARE
    blur: float  # box-blur radius in pixels at 128 px image height
    scale: float  # the tallest person's height as a fraction of the image height
    background_colours: tuple[tuple[int, int, int], tuple[int, int, int]] = ((128,) * 3,) * 2
    colour_cast: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel gain (RGB only)
    noise: float = 3.0  # sensor noise, standard deviation in grey levels

    def describe(self) -> str:
        """E.g. "an infrared photo from the back, in front of a dark striped background"."""
        kind = "an infrared photo" if self.modality == "ir" else "a photo"
        light = "bright" if self.illumination > 1.0 else "dim" if self.illumination < 0.85 else ""
        place = " ".join(word for word in (light, self.background) if word)
        return f"{kind} from the {self.viewpoint}, in front of {_with_article(place)} background"

    def attributes(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RenderRequest:
    """One image: `identity` wearing `outfit`, seen by `camera`; `frame` varies pose and jitter."""

    identity: Identity
    outfit: Outfit
    camera: Camera
    frame: int = 0


@dataclass(frozen=True)
class Pose:
    """How a request's frame shows the person: view, stride and small camera jitters."""

    viewpoint: str  # front, back or side
    facing: int  # +1 walking towards the image's right, -1 left (side view)
    stride: float  # -1..1: leg and arm swing
    shift: tuple[float, float]  # (dy, dx) as fractions of the image height and width
    zoom: float  # multiplies the camera's scale
    gain: float  # multiplies the camera's illumination on the person (one of GAINS)
    noise_offset: tuple[int, int]  # where this frame's noise starts in the shared noise bank


@lru_cache(maxsize=65536)
def make_identity(seed: int, pid: int) -> Identity:
    """The identity `pid` of the world `seed`."""
    rng = stable_rng("identity", seed, pid)
    return Identity(
        pid=pid,
        skin=_one_of(rng, SKIN_TONES),
        hair_colour=_pick(rng, HAIR_COLOUR_WEIGHTS),
        hair_style=_pick(rng, HAIR_STYLES),
        height=round(float(rng.uniform(0.8, 1.0)), 3),
        build=round(float(rng.uniform(0.75, 1.3)), 3),
        head=round(float(rng.uniform(0.85, 1.2)), 3),
        glasses=bool(rng.uniform() < GLASSES_SHARE),
        beard=bool(rng.uniform() < BEARD_SHARE),
    )


@lru_cache(maxsize=65536)
def make_outfit(seed: int, pid: int, outfit_id: int) -> Outfit:
    """Outfit `outfit_id` of person `pid`; a person's first len(PALETTE) outfits differ in top
    colour (they walk through one shuffled palette)."""
    colours = stable_rng("outfit-colours", seed, pid).permutation(list(PALETTE))
    top_colour = str(colours[outfit_id % len(colours)])
    rng = stable_rng("outfit", seed, pid, outfit_id)
    top_type = _pick(rng, TOP_TYPES)
    top_material = _one_of(rng, TOP_MATERIALS[top_type])
    sleeves = {"t-shirt": "short", "shirt": _one_of(rng, ("short", "long"))}.get(top_type, "long")
    pattern = "plain" if top_material == "leather" else _pick(rng, TOP_PATTERNS)
    bottom_type = _pick(rng, BOTTOM_TYPES)
    return Outfit(
        outfit_id=outfit_id,
        top_colour=top_colour,
        top_pattern=pattern,
        sleeves=sleeves,
        top_material=top_material,
        bottom_type=bottom_type,
        bottom_colour=_one_of(rng, PALETTE, avoid=top_colour),
        bottom_material=_one_of(rng, BOTTOM_MATERIALS[bottom_type]),
        shoes=_pick(rng, SHOE_COLOURS),
        bag=_pick(rng, BAGS),
        top_type=top_type,
        top_accent=_one_of(rng, PALETTE, avoid=top_colour),
        bag_colour=_one_of(rng, PALETTE, avoid=top_colour),
    )


@lru_cache(maxsize=65536)
def make_camera(seed: int, camera_id: int, modality: str) -> Camera:
    """Camera `camera_id` of the world `seed`, recording `modality` ("rgb" or "ir")."""
    if modality not in MODALITIES:
        raise ValueError(f"modality {modality!r} is not one of {MODALITIES}")
    rng = stable_rng("camera", seed, camera_id, modality)
    if modality == "ir":
        grey = rng.uniform(30, 90)
        colours = ((round(grey),) * 3, (round(grey * rng.uniform(0.55, 0.85)),) * 3)
        cast, gain, noise = (1.0, 1.0, 1.0), rng.uniform(0.85, 1.1), rng.uniform(5, 9)
    else:
        names = rng.choice(list(SCENE_COLOURS), size=2, replace=False)
        jittered = [np.clip(np.add(SCENE_COLOURS[name], rng.uniform(-18, 18, 3)), 0, 255)
                    for name in names]
        colours = tuple(tuple(int(v) for v in colour.round()) for colour in jittered)
        tint = rng.uniform(0.9, 1.1, 3)
        cast = tuple(round(float(v), 3) for v in tint / tint.mean())
        gain, noise = rng.uniform(0.75, 1.15), rng.uniform(2, 5)
    return Camera(
        camera_id=camera_id,
        modality=modality,
        background=_one_of(rng, BACKGROUNDS),
        illumination=round(float(gain), 3),
        viewpoint=_one_of(rng, VIEWPOINTS),
        blur=float(rng.choice([0.0, 0.0, 0.5, 0.5, 1.0])),
        scale=round(float(rng.uniform(0.8, 0.92)), 3),
        background_colours=colours,
        colour_cast=cast,
        noise=round(float(noise), 2),
    )


def pose(request: RenderRequest) -> Pose:
    """The pose and jitter of `request`'s frame. It depends on the person, the outfit's id (the
    session), the camera and the frame, not on what the outfit looks like: recolouring an outfit
    keeps the pose, so (blur aside) every pixel outside the clothes mask stays."""
    unusual, other, facing, phase, dy, dx, zoom, gain, noise_y, noise_x = stable_uniforms(
        "frame", fingerprint(request.identity), request.outfit.outfit_id,
        fingerprint(request.camera), request.frame)
    viewpoint = request.camera.viewpoint
    if unusual > USUAL_VIEW_SHARE:
        others = [view for view in VIEWPOINTS if view != viewpoint]
        viewpoint = others[int(other * len(others))]
    return Pose(
        viewpoint=viewpoint,
        facing=1 if facing < 0.5 else -1,
        stride=math.sin(2 * math.pi * phase),
        shift=(0.05 * dy - 0.025, 0.14 * dx - 0.07),
        zoom=0.96 + 0.08 * zoom,
        gain=GAINS[int(gain * len(GAINS))],
        noise_offset=(int(noise_y * 65536), int(noise_x * 65536)),
    )


@lru_cache(maxsize=65536)
def fingerprint(thing: object) -> str:
    """A stable hex digest of a (frozen dataclass) value's repr."""
    return hashlib.blake2b(repr(thing).encode(), digest_size=16).hexdigest()
