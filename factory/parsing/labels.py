"""LIP human-parsing label ids (Gong et al., "Look into Person", CVPR 2017), as DLCR's parser
uses them; the toy world's masks use these ids.

LIP has no bag class: a bag counts as part of the outfit, so its pixels carry the label of the top
garment (upper-clothes or coat) and fall inside the clothes mask.
"""

LIP_LABELS: dict[str, int] = {
    "background": 0, "hat": 1, "hair": 2, "glove": 3, "sunglasses": 4, "upper-clothes": 5,
    "dress": 6, "coat": 7, "socks": 8, "pants": 9, "jumpsuit": 10, "scarf": 11, "skirt": 12,
    "face": 13, "left-arm": 14, "right-arm": 15, "left-leg": 16, "right-leg": 17,
    "left-shoe": 18, "right-shoe": 19,
}
LIP_NAMES: dict[int, str] = {label: name for name, label in LIP_LABELS.items()}
# DLCR (section 4): clothes = every label except background, hat, hair, face, arms and legs.
NOT_CLOTHES: frozenset[int] = frozenset({0, 1, 2, 13, 14, 15, 16, 17})
CLOTHES_LABELS: tuple[int, ...] = tuple(sorted(set(LIP_LABELS.values()) - NOT_CLOTHES))
