"""Named colours and materials of the toy world: what garments, skin and hair are made of.

RGB images take a garment's colour from `PALETTE`; infrared images take its brightness from
`MATERIALS` (how warm the material looks to a thermal camera), never from its colour.
"""

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (196, 30, 38),
    "blue": (34, 72, 196),
    "green": (36, 146, 58),
    "yellow": (236, 206, 38),
    "black": (26, 26, 30),
    "white": (236, 236, 230),
    "grey": (128, 128, 132),
    "orange": (240, 128, 28),
    "purple": (118, 46, 152),
    "pink": (242, 138, 182),
    "brown": (112, 68, 38),
    "teal": (0, 138, 140),
}
# Infrared brightness 0..1: synthetic fibres and wool hold body heat, leather and denim stay cold.
MATERIALS: dict[str, float] = {
    "cotton": 0.55,
    "denim": 0.38,
    "leather": 0.16,
    "synthetic": 0.82,
    "wool": 0.68,
}
SKIN_TONES: dict[str, tuple[int, int, int]] = {
    "pale": (242, 212, 192),
    "light": (226, 184, 148),
    "tan": (196, 146, 104),
    "brown": (150, 100, 64),
    "dark": (96, 62, 42),
}
HAIR_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (22, 20, 20),
    "brown": (92, 56, 30),
    "blonde": (222, 190, 108),
    "auburn": (150, 62, 30),
    "grey": (150, 150, 146),
    "white": (238, 238, 232),
    "blue": (40, 96, 220),
    "pink": (236, 96, 170),
}
# Infrared brightness of what has no garment material: skin is the warmest thing in the picture.
IR_SKIN = 0.95
IR_HAIR = 0.3
IR_SHOES = 0.22
IR_BAG = 0.45
IR_GLASSES = 0.08  # glass blocks thermal light: glasses are the darkest thing on a face
# What lies behind people: a camera picks two of these (walls, floors, greenery) and jitters them.
SCENE_COLOURS: dict[str, tuple[int, int, int]] = {
    "concrete": (150, 150, 144),
    "brick": (148, 82, 62),
    "sand": (198, 184, 150),
    "grass": (92, 128, 70),
    "asphalt": (84, 88, 92),
    "glass": (110, 140, 166),
    "wood": (138, 104, 74),
    "white tiles": (208, 208, 202),
    "shop front": (70, 96, 120),
}
