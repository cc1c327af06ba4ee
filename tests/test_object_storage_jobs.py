"""Jobs with every path in a bucket on the session's S3 server (`tests/s3_server.py`): the
source images, tables, generated images, manifests and scores, read and written over HTTP by
the driver and the Ray workers."""

from pathlib import Path

import polars as pl
import pyarrow.fs as pafs
from generation_inputs import toy_job

from factory.generate.audit import audit_run
from factory.generate.manifest import read_manifest
from factory.generate.stage import run_generate
from factory.plan.stage import run_plan
from factory.storage import storage_path
from factory.table_io import read_table, write_table


def upload(folder: Path, target) -> None:
    pafs.copy_files(str(folder), target.fs_path, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=target.filesystem)


def images_in_bucket(images: Path, bucket) -> object:
    """The toy world of the `images` table at `images` copied into the bucket, and its table
    there with every path a URI."""
    frame = pl.from_arrow(read_table(images, "images"))
    world = Path(frame["path"][0]).parents[2]
    while not (world / "images.parquet").exists() and world != world.parent:
        world = world.parent
    upload(world, bucket / "data")
    frame = frame.with_columns(pl.col("path").str.replace(str(world), str(bucket / "data"),
                                                          literal=True))
    table = bucket / "data" / "images.parquet"
    write_table(frame.to_arrow(), table, "images")
    return table


def test_generation_job_in_a_bucket(ray_cluster, toy_images, toy_sd, bucket):
    root = storage_path(bucket)
    images = images_in_bucket(toy_images("sysu_mm01"), root)
    config = toy_job("diffusion_reid", images, toy_sd, root / "job",
                     plan={"max_identities": 2, "diffusion_reid": {"images_per_identity": 3}})
    run_plan(config)
    run_generate(config)
    audit = audit_run(config.out)
    assert audit.ok, audit.problems
    assert audit.committed == audit.planned == audit.generated == 6
    written = pl.from_arrow(read_manifest(config.out))
    assert written["path"].str.starts_with(f"{bucket}/job/images/").all()
    assert all(storage_path(path).is_file() for path in written["path"])
