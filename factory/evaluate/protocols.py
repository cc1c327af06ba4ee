"""Evaluation protocols by dataset name (ARCHITECTURE.md).

`PROTOCOLS[name](rows, embedding, **options)` scores the test rows of an `images` table (a pyarrow
Table or a polars DataFrame) with features aligned with the rows or a distance function (see
`factory.evaluate.query_gallery`) and returns {setting: {"rank1", "rank5", "rank10", "mAP",
"mINP", "queries", "trials"}}. Names are those of `factory.ingest.datasets.DATASETS`, plus
`standard`.
SYSU-MM01 and LLCM take `trials=` and `seed=` (their single-shot galleries).
"""

from collections.abc import Callable

from factory.evaluate.clothes import clothes_changing, prcc, standard, vc_clothes
from factory.evaluate.cross_modality import llcm, regdb, sysu_mm01

PROTOCOLS: dict[str, Callable[..., dict]] = {
    "standard": standard,
    "market1501": standard,
    "dukemtmc": standard,
    "msmt17": standard,
    "cuhk03_detected": standard,
    "cuhk03_labeled": standard,
    "last": standard,
    "sysu_mm01": sysu_mm01,
    "regdb": regdb,
    "llcm": llcm,
    "ltcc": clothes_changing,
    "ccvid": clothes_changing,
    "vc_clothes": vc_clothes,
    "prcc": prcc,
}


def protocol_for(name: str) -> Callable[..., dict]:
    """The protocol of a dataset by name; an unknown name lists the valid ones."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; valid protocols: "
                       f"{', '.join(sorted(PROTOCOLS))}") from None
