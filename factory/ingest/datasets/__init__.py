"""Dataset readers: each turns a dataset's own on-disk layout into the `images` table."""

from pathlib import Path

import pyarrow as pa

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


def read_dataset(name: str, root: str | Path, *, progress: bool = False,
                 verify: bool = False) -> pa.Table:
    """The `images` table of dataset `name` stored at `root`; `verify` decodes every image."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(DATASETS))}")
    root = require_dir(Path(root).resolve())
    return images_table(DATASETS[name](root), dataset=name, progress=progress, verify=verify)


__all__ = ["DATASETS", "DatasetError", "read_dataset"]
