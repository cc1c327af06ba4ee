"""Dataset readers: each turns a dataset's own on-disk layout into the `images` table, whose
cameras must lie within the dataset's own (`CAMERAS`)."""

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from factory.ingest.datasets import (
    ccvid,
    cuhk03,
    dukemtmc,
    last,
    llcm,
    ltcc,
    market1501,
    msmt17,
    prcc,
    regdb,
    sysu_mm01,
    vc_clothes,
)
from factory.ingest.datasets.records import DatasetError, images_table, require_dir
from factory.storage import ObjectPath, storage_path

DATASETS = {
    "ccvid": ccvid.read,
    "cuhk03_detected": cuhk03.read_detected,
    "cuhk03_labeled": cuhk03.read_labeled,
    "dukemtmc": dukemtmc.read,
    "last": last.read,
    "llcm": llcm.read,
    "ltcc": ltcc.read,
    "market1501": market1501.read,
    "msmt17": msmt17.read,
    "prcc": prcc.read,
    "regdb": regdb.read,  # trial 1; see factory/datasets/regdb.py for the others
    "sysu_mm01": sysu_mm01.read,
    "vc_clothes": vc_clothes.read,
}

# The terms each dataset is released under, for an export's data card: none of them has an open
# licence; the agreement a user signed with its authors governs.
_AGREEMENT = "research use only, under its release agreement with the authors (no open licence)"
TERMS = {
    "ccvid": _AGREEMENT,
    "cuhk03_detected": "non-commercial research use, under its release agreement",
    "cuhk03_labeled": "non-commercial research use, under its release agreement",
    "dukemtmc": "withdrawn by its authors in 2019 (released under CC BY-NC-SA 4.0); do not "
                "redistribute",
    "last": _AGREEMENT,
    "llcm": _AGREEMENT,
    "ltcc": _AGREEMENT,
    "market1501": "released for research use; no open licence",
    "msmt17": "non-commercial research use, under its release agreement",
    "prcc": _AGREEMENT,
    "regdb": _AGREEMENT,
    "sysu_mm01": _AGREEMENT,
    "vc_clothes": _AGREEMENT,
}

# The camera numbers each dataset's images may carry (its reader's docstring says why); LaST has
# no cameras, so every image gets a number of its own and only 1.. is checked.
CAMERAS = {
    "ccvid": range(1, 25),  # a tracklet's number 1..12, plus 12 in session 3
    "cuhk03_detected": range(1, 3),  # the two cameras of the person's pair
    "cuhk03_labeled": range(1, 3),
    "dukemtmc": range(1, 9),
    "last": None,
    "llcm": range(1, 10),
    "ltcc": range(1, 13),
    "market1501": range(1, 7),
    "msmt17": range(1, 16),
    "prcc": range(1, 4),  # A, B, C
    "regdb": range(1, 3),  # visible, thermal
    "sysu_mm01": range(1, 7),
    "vc_clothes": range(1, 5),
}


def check_cameras(table: pa.Table, *, source: str) -> pa.Table:
    """`table` (an `images` table, read from `source`) if every row's camera lies within its
    dataset's cameras; else a DatasetError naming the first image outside them."""
    for dataset, cameras in CAMERAS.items():
        if cameras is None:
            continue
        outside = pc.and_(pc.equal(table["dataset"], dataset),
                          pc.invert(pc.is_in(table["camera"], pa.array(cameras, pa.int32()))))
        if pc.any(outside).as_py():
            row = pc.index(outside, True).as_py()
            raise DatasetError(table["path"][row].as_py(), f"camera {table['camera'][row]} is "
                               f"outside {dataset}'s cameras {cameras.start}..{cameras.stop - 1} "
                               f"(row {row} of {source})")
    return table


def read_dataset(name: str, root: str | Path | ObjectPath, *, progress: bool = False,
                 verify: bool = True) -> pa.Table:
    """The `images` table of dataset `name` stored at `root` (a folder, or an `s3://` / `gs://`
    prefix: its rows' paths are then URIs the stages read from the bucket), every image decoded
    (`verify` False: headers only) and every camera checked against the dataset's."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(DATASETS))}")
    root = require_dir(storage_path(root).resolve())
    table = images_table(DATASETS[name](root), dataset=name, progress=progress, verify=verify)
    return check_cameras(table, source=str(root))


__all__ = ["CAMERAS", "DATASETS", "DatasetError", "check_cameras", "read_dataset"]
