"""Ingest from a bucket (issue 17, part 1): every reader reads its dataset's layout from an
`s3://` prefix on the test S3 server as it reads a folder, the rows' paths become URIs, the table
can be written into the bucket, and a bad image is named by its URI."""

import polars as pl
import pytest
from dataset_trees import (
    ccvid_tree,
    cuhk03_tree,
    duke_tree,
    last_tree,
    llcm_tree,
    ltcc_tree,
    market_tree,
    msmt17_tree,
    prcc_tree,
    regdb_tree,
    sysu_tree,
    vc_clothes_tree,
)

from factory.ingest.datasets import DatasetError, read_dataset
from factory.ingest.stage import ingest
from factory.storage import storage_path, upload
from factory.table_io import read_table

TREES = {"ccvid": ccvid_tree, "cuhk03_detected": lambda root: cuhk03_tree(root, "detected"),
         "dukemtmc": duke_tree, "last": last_tree, "llcm": llcm_tree, "ltcc": ltcc_tree,
         "market1501": market_tree, "msmt17": msmt17_tree, "prcc": prcc_tree,
         "regdb": regdb_tree, "sysu_mm01": sysu_tree, "vc_clothes": vc_clothes_tree}


@pytest.mark.parametrize("dataset", sorted(TREES))
def test_every_reader_reads_a_bucket_as_a_folder(dataset, tmp_path, bucket):
    TREES[dataset](tmp_path)
    remote = storage_path(bucket) / "datasets" / dataset
    upload(tmp_path, remote)
    local = pl.from_arrow(read_dataset(dataset, tmp_path))
    read = pl.from_arrow(read_dataset(dataset, str(remote), verify=False))
    assert read["path"].str.starts_with(f"{remote}/").all()
    # The same rows, ids included (they hash the path relative to the root), but for the root.
    assert read.with_columns(pl.col("path").str.replace(str(remote), str(tmp_path.resolve()),
                                                        literal=True)).equals(local)


def test_the_table_goes_into_the_bucket_and_a_bad_image_is_named_by_its_uri(tmp_path, bucket):
    market_tree(tmp_path)
    remote = storage_path(bucket) / "market"
    upload(tmp_path, remote)
    out = remote / "tables" / "images.parquet"
    table = ingest("market1501", str(remote), out, progress=False)
    assert read_table(out, "images").equals(table)
    # Every image is decoded: a truncated one stops the ingest, named, and nothing is written.
    bad = remote / "query" / "0001_c1s1_001051_00.jpg"
    bad.write_bytes(bad.read_bytes()[:40])
    again = remote / "tables" / "again.parquet"
    with pytest.raises(DatasetError, match="0001_c1s1_001051_00.jpg") as caught:
        ingest("market1501", str(remote), again, progress=False)
    assert caught.value.path == bad and not again.exists()
    with pytest.raises(DatasetError, match="missing folder"):
        read_dataset("market1501", str(storage_path(bucket) / "nothing-here"))
