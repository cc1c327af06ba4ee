"""The human-parsing label sets a DLCR parser may speak, and DLCR's rule for which labels are
clothes (the pixels it inpaints); the rest are kept, identity pixels.

- LIP (Gong et al., "Look into Person", CVPR 2017): 20 labels, as DLCR's parser uses them; the
  toy world's masks use these ids. LIP has no bag or belt class; pixels of no class are
  background, which the rule keeps.
- ATR (Liang et al., "Deep Human Parsing with Active Template Regression", TPAMI 2015): 18 labels,
  those of SegFormer human parsers such as `mattmdjaga/segformer_b2_clothes`. Its bag and belt
  are kept, as they are under LIP, where they are background: an outfit change redraws garments,
  not what a person carries.

DLCR (section 4): clothes = every label except background, hat, hair, face, arms and legs. A
segmentation model's labels are matched to a set by name (`label_set`), so its own ids and
capitalisation are what count; a model whose names are neither set's is refused. (The toy world
paints a bag with its top garment's LIP label, as its outfits include the bag.)
"""

from dataclasses import dataclass

LIP_LABELS: dict[str, int] = {
    "background": 0, "hat": 1, "hair": 2, "glove": 3, "sunglasses": 4, "upper-clothes": 5,
    "dress": 6, "coat": 7, "socks": 8, "pants": 9, "jumpsuit": 10, "scarf": 11, "skirt": 12,
    "face": 13, "left-arm": 14, "right-arm": 15, "left-leg": 16, "right-leg": 17,
    "left-shoe": 18, "right-shoe": 19,
}
ATR_LABELS: dict[str, int] = {
    "background": 0, "hat": 1, "hair": 2, "sunglasses": 3, "upper-clothes": 4, "skirt": 5,
    "pants": 6, "dress": 7, "belt": 8, "left-shoe": 9, "right-shoe": 10, "face": 11,
    "left-leg": 12, "right-leg": 13, "left-arm": 14, "right-arm": 15, "bag": 16, "scarf": 17,
}
# DLCR's rule: what is never inpainted, by name.
KEPT_BODY = frozenset({"background", "hat", "hair", "face", "left-arm", "right-arm",
                       "left-leg", "right-leg"})
# Other spellings of a set's names in released checkpoints (SCHP and CE2P write LIP's these ways).
ALIASES = {"jumpsuits": "jumpsuit", "upperclothes": "upper-clothes"}


@dataclass(frozen=True)
class LabelSet:
    """One parsing vocabulary: its labels (name -> id) and the names DLCR's rule keeps."""

    name: str
    labels: dict[str, int]
    kept: frozenset[str]

    @property
    def clothes(self) -> frozenset[str]:
        return frozenset(self.labels) - self.kept


LABEL_SETS: dict[str, LabelSet] = {
    "lip": LabelSet("lip", LIP_LABELS, KEPT_BODY),
    "atr": LabelSet("atr", ATR_LABELS, KEPT_BODY | {"bag", "belt"}),
}
LIP_NAMES: dict[int, str] = {label: name for name, label in LIP_LABELS.items()}
NOT_CLOTHES: frozenset[int] = frozenset(LIP_LABELS[name] for name in LABEL_SETS["lip"].kept)
CLOTHES_LABELS: tuple[int, ...] = tuple(sorted(set(LIP_LABELS.values()) - NOT_CLOTHES))


def label_name(name: str) -> str:
    """A label name as the sets spell it: lower case, `-` for spaces and underscores."""
    spelled = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    return ALIASES.get(spelled, spelled)


def label_set(id2label: dict, source: str = "parser") -> LabelSet:
    """The set whose names are exactly a model's label names (its `config.id2label`); errors
    name `source`."""
    names = {label_name(name) for name in id2label.values()}
    for known in LABEL_SETS.values():
        if names == set(known.labels):
            return known
    wanted = {key: sorted(known.labels) for key, known in LABEL_SETS.items()}
    raise ValueError(f"{source}: labels {sorted(names)} are neither LIP's nor ATR's, so DLCR's "
                     f"clothes rule cannot be applied; known sets: {wanted}")


def clothes_label_ids(id2label: dict, source: str = "parser") -> list[int]:
    """Ids of a segmentation model's clothes labels, by name under its label set's rule."""
    clothes = label_set(id2label, source).clothes
    return sorted(int(label) for label, name in id2label.items() if label_name(name) in clothes)
