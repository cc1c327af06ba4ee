"""Export kept synthetic images plus the real dataset in the layout torchreid and fast-reid read.

`DIR/` becomes a complete Market-1501-style dataset:
- `bounding_box_train/`: the real training images and the kept synthetic ones;
- `query/`, `bounding_box_test/`: the real query and gallery images;
- `export.json`: the pid map (labels 1..R are real persons, R+1..R+S synthetic identities; a real
  pid 0 seen only in the gallery stays 0, Market-1501's distractors), the camera map and counts;
- `images.parquet` (with `parquet=True`): one row per exported image, the `images` columns of
  its source plus `method`, `export_path`, `export_pid`, `export_camera` and the JPEG `image` bytes;
- `webdataset/` (with `shards=N`): the training images as WebDataset tar shards of N images
  (`factory.export.shards`);
- `README.md`, `samples.jpg`, `identities.csv`: the data card (`factory.export.card`).

`DIR` may be a local folder (written beside it, renamed into place when whole) or a prefix in a
bucket (written in place; `export.json`, put last, commits it, and an export cut off is deleted
and written again by the next run).

Names follow Market-1501, `0001_c1s1_000001_00.jpg`: label, camera, sequence (1 real, 2
synthetic), a running index per folder, label and camera, box 00. torchreid's reader globs
`*.jpg`, searches `([-\\d]+)_c(\\d)` over the whole path and asserts 0 <= pid <= 1501 and
1 <= camera <= 6, so non-JPEG images are re-encoded and cameras beyond six share numbers (the
camera map records how). A synthetic image takes its identity from its pid: a real training pid
is that person (as `factory train` reads it), any other pid a new synthetic identity. Variants of
query or gallery images (DLCR's test-time refinement) are not training data and are left out.
"""

import io
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from tqdm import tqdm

from factory.atomic import atomic_folder, atomic_path, write_bytes, write_text
from factory.export.card import write_data_card
from factory.export.shards import FOLDER as SHARDS_FOLDER
from factory.export.shards import ShardWriter, shard_order
from factory.storage import ObjectPath, storage_path
from factory.table_io import read_table
from schemas.tables import IMAGES

FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
TORCHREID_NAME = re.compile(r"([-\d]+)_c(\d)")  # torchreid's Market1501.process_dir
MAX_PID = 1501  # torchreid: assert 0 <= pid <= 1501
CAMERAS = 6  # torchreid: assert 1 <= camid <= 6
SEQUENCE = {"real": 1, "synthetic": 2}
JPEG_QUALITY = 95
BATCH_ROWS = 256  # images per Parquet row group (bounds memory)
IN_PROGRESS = ".export-in-progress"  # in a bucket: an export begun, not yet committed
EXPORT_COLUMNS = [pa.field("method", pa.string()), pa.field("export_path", pa.string()),
                  pa.field("export_pid", pa.int32()), pa.field("export_camera", pa.int32()),
                  pa.field("image", pa.binary())]
PARQUET_SCHEMA = pa.schema(list(IMAGES) + EXPORT_COLUMNS)


def kept_synthetic(generated: pl.DataFrame, scores: pl.DataFrame, *, source: str) -> pl.DataFrame:
    """Generated images (written, not failed) whose score row says `kept`; one score per image."""
    duplicated = scores.filter(pl.col("image_id").is_duplicated())
    if not duplicated.is_empty():
        raise ValueError(f"{source}: image {duplicated['image_id'][0]!r} has several score rows "
                         f"(scorers {sorted(set(duplicated['scorer']))}); export one scorer's")
    kept = scores.filter(pl.col("kept")).select("image_id")
    return written_images(generated).join(kept, on="image_id", how="semi")


def written_images(generated: pl.DataFrame) -> pl.DataFrame:
    """The rows of `generated` with an image (failed tasks have no path and an error)."""
    written = generated.filter(pl.col("path").is_not_null())
    return written.filter(pl.col("error").is_null()) if "error" in written.columns else written


def synthetic_image_rows(synthetic: pl.DataFrame, real: pl.DataFrame) -> pl.DataFrame:
    """`images`-shaped rows of synthetic images; camera and dataset from the first parent, else
    a camera of the real training set picked by the image's seed."""
    parents = real.select(pl.col("image_id").alias("parent"), pl.col("role").alias("parent_role"),
                          pl.col("camera").alias("parent_camera"), "dataset")
    train_cameras = sorted(set(real.filter(pl.col("role") == "train")["camera"]))
    by_seed = pl.col("seed").mod(len(train_cameras)).replace_strict(
        dict(enumerate(train_cameras)), return_dtype=pl.Int32)
    rows = (synthetic.with_columns(pl.col("parents").list.first().alias("parent"))
            .join(parents, on="parent", how="left")
            .filter(pl.col("parent_role").is_null() | (pl.col("parent_role") == "train")))
    return rows.select(
        "image_id", pl.col("dataset").fill_null(real["dataset"][0]), split=pl.lit("train"),
        role=pl.lit("train"), pid="pid", camera=pl.coalesce("parent_camera", by_seed),
        modality="modality", outfit="outfit", path="path", width=pl.lit(0, pl.Int32),
        height=pl.lit(0, pl.Int32), origin=pl.lit("synthetic"), method="method")


def pid_map(rows: pl.DataFrame) -> pl.DataFrame:
    """Label of each (origin, pid): real training persons, other real persons, then synthetic
    identities, each sorted by pid; a real pid 0 seen only in the gallery keeps 0."""
    real = rows.filter(pl.col("origin") == "real")
    gallery_only = set(real.filter(pl.col("role") == "gallery")["pid"]) - set(
        real.filter(pl.col("role") != "gallery")["pid"])
    train_pids = sorted(set(real.filter(pl.col("role") == "train")["pid"]))
    other_pids = sorted(set(real["pid"]) - set(train_pids) - ({0} & gallery_only))
    synthetic_pids = sorted(set(rows.filter(pl.col("origin") == "synthetic")["pid"]) -
                            set(train_pids))
    keys = ([("real", pid) for pid in train_pids + other_pids] +
            [("synthetic", pid) for pid in synthetic_pids])
    labels = [{"origin": origin, "pid": pid, "label": label}
              for label, (origin, pid) in enumerate(keys, start=1)]
    if 0 in gallery_only:
        labels.append({"origin": "real", "pid": 0, "label": 0})
    if len(keys) > MAX_PID:
        raise ValueError(f"{len(keys)} identities do not fit torchreid's Market1501 reader "
                         f"(pids 0..{MAX_PID}); export fewer synthetic identities")
    return pl.DataFrame(labels, schema={"origin": pl.String, "pid": pl.Int64, "label": pl.Int32})


def camera_map(cameras: list[int]) -> dict[int, int]:
    """Cameras onto 1..6 in sorted order; beyond six cameras they share numbers (round robin)."""
    return {camera: 1 + index % CAMERAS for index, camera in enumerate(sorted(set(cameras)))}


@dataclass
class ExportPlan:
    rows: pl.DataFrame  # `images` columns, `method`, `export_path`, `export_pid`, `export_camera`
    pids: pl.DataFrame  # origin, pid, label
    cameras: dict[int, int]  # dataset camera -> exported camera
    synthetic_counts: dict[str, int]  # generated (written), kept by the filter, exported


def plan_export(images: pl.DataFrame, generated: pl.DataFrame, scores: pl.DataFrame, *,
                source: str = "scores") -> ExportPlan:
    """What to write where: every real image and every kept synthetic training image."""
    datasets = sorted(set(images["dataset"]))
    if len(datasets) > 1:  # pids are only unique within a dataset
        raise ValueError(f"the images table holds several datasets {datasets}; export one")
    train_pids = images.filter(pl.col("role") == "train")["pid"].unique()
    if train_pids.is_empty():
        raise ValueError("the images table has no training images to export")
    kept = kept_synthetic(generated, scores, source=source)
    real = images.with_columns(method=pl.lit(None, pl.String))
    synthetic = synthetic_image_rows(kept, images)
    rows = pl.concat([real, synthetic.select(real.columns)], how="vertical_relaxed")
    pids = pid_map(rows)
    cameras = camera_map(real["camera"].to_list())
    # A synthetic image of a real training pid shows that person; any other pid is new.
    identity = pl.when((pl.col("origin") == "real") | pl.col("pid").is_in(train_pids.implode())
                       ).then(pl.lit("real")).otherwise(pl.lit("synthetic"))
    order = pl.col("origin").replace_strict(SEQUENCE, return_dtype=pl.Int32)
    rows = (rows.with_columns(identity.alias("identity"))
            .join(pids.rename({"origin": "identity"}), on=["identity", "pid"], how="left")
            .with_columns(export_pid=pl.col("label"),
                          export_camera=pl.col("camera").replace_strict(cameras,
                                                                        return_dtype=pl.Int32),
                          folder=pl.col("role").replace_strict(FOLDERS))
            .sort("folder", "export_pid", "export_camera", order, "image_id")
            .with_columns(index=pl.int_range(1, pl.len() + 1).over(
                "folder", "export_pid", "export_camera")))
    name = pl.format("{}/{}_c{}s{}_{}_00.jpg", "folder",
                     pl.col("export_pid").cast(pl.String).str.zfill(4), "export_camera", order,
                     pl.col("index").cast(pl.String).str.zfill(6))
    rows = rows.with_columns(export_path=name).drop("identity", "label", "folder", "index")
    counts = {"generated": written_images(generated).height, "kept": kept.height,
              "exported": synthetic.height}
    return ExportPlan(rows, pids, cameras, counts)


def _as_jpeg(path: str) -> tuple[bytes, int, int]:
    """The image's JPEG bytes (re-encoded unless already JPEG) and its size; the image is
    decoded either way, so a truncated file is refused, not copied into the dataset."""
    try:
        data = storage_path(path).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.format == "JPEG":
                return data, *image.size
            buffer = io.BytesIO()
            image.convert("L" if image.mode in ("L", "I", "I;16") else "RGB").save(
                buffer, "JPEG", quality=JPEG_QUALITY)
            return buffer.getvalue(), *image.size
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot export this image ({exc})") from None


def _write_images(rows: pl.DataFrame, folder, *, parquet: bool, shards: ShardWriter | None,
                  progress: bool) -> None:
    """Every row's image to `folder / export_path` (each file whole); with `parquet`, the rows
    with their bytes to `images.parquet`; training rows (those with a `class`) to `shards`."""
    for name in FOLDERS.values():
        (folder / name).mkdir(parents=True)

    def one(row: tuple[str, str]) -> tuple[bytes, int, int]:
        encoded = _as_jpeg(row[0])
        write_bytes(folder / row[1], encoded[0])
        return encoded

    bar = tqdm(total=rows.height, desc="export", unit="img", disable=not progress,
               mininterval=1.0)
    with (atomic_path(folder / "images.parquet") if parquet else nullcontext()) as table, \
            bar, ThreadPoolExecutor(max_workers=8) as pool:  # a failure's message starts a line
        writer = pq.ParquetWriter(table, PARQUET_SCHEMA) if parquet else None
        for batch in rows.iter_slices(BATCH_ROWS):
            encoded = list(pool.map(one, batch.select("path", "export_path").iter_rows()))
            if shards is not None:
                for row, (data, _, _) in zip(batch.iter_rows(named=True), encoded, strict=True):
                    if row["class"] is not None:
                        shards.add(row, data)
            if writer is not None:
                sizes = pl.DataFrame([(w, h) for _, w, h in encoded], orient="row",
                                     schema={"width": pl.Int32, "height": pl.Int32})
                batch = batch.with_columns(sizes.to_series(0), sizes.to_series(1),
                                           image=pl.Series([data for data, _, _ in encoded]))
                writer.write_table(batch.select(PARQUET_SCHEMA.names).to_arrow().cast(
                    PARQUET_SCHEMA))
            bar.update(batch.height)
        if writer is not None:
            writer.close()


def _export_order(rows: pl.DataFrame, shards: int | None, seed: int) -> pl.DataFrame:
    """The rows in the order they are written: with shards, the training rows first, shuffled
    (`shard_order`, which gives them their `class`), then the others."""
    if shards is None:
        return rows
    train = rows.filter(pl.col("role") == "train")
    others = rows.filter(pl.col("role") != "train").with_columns(
        pl.lit(None, pl.Int64).alias("class"))
    return pl.concat([shard_order(train, seed), others])


def _claim(out) -> None:
    """Refuse an `out` that holds an export or other files; in a bucket, where nothing can be
    renamed into place, mark `out` as an export in progress (an unfinished one, left by a crash,
    is deleted and written again)."""
    exists = FileExistsError(f"{out}: already exists; remove it or choose another --out")
    if not isinstance(out, ObjectPath):
        if out.exists():
            raise exists
        return
    if (out / "export.json").exists():
        raise exists
    if (out / IN_PROGRESS).exists():
        print(f"{out}: removing an unfinished export (no export.json) to write it again")
        out.rmtree()
    elif out.exists():
        raise FileExistsError(f"{out}: holds files and no export; choose another --out")
    write_text(out / IN_PROGRESS, "")


def export(images: str | os.PathLike, generated: str | os.PathLike, scores: str | os.PathLike,
           out: str | os.PathLike, *, parquet: bool = False, shards: int | None = None,
           jobs: tuple[str, ...] = (), seed: int = 0, progress: bool = False) -> dict:
    """Write the Market-1501-style folder `out` (local or in a bucket), its data card and, as
    asked, its Parquet and `shards` (WebDataset tar shards of that many training images each,
    shuffled with `seed`), whole or not at all; `jobs`: the generation job configs that made
    the synthetic images, for the card. Returns the summary also written to `out/export.json`
    (written last: in a bucket, it commits the export)."""
    out = storage_path(out).resolve()
    if TORCHREID_NAME.search(str(out)):
        raise ValueError(f"{out}: torchreid reads person and camera from the first "
                         f"{TORCHREID_NAME.pattern!r} in an image's whole path; choose a folder "
                         "name without one")
    _claim(out)
    tables = {name: pl.from_arrow(read_table(path, name)) for name, path in
              (("images", images), ("generated", generated), ("scores", scores))}
    plan = plan_export(tables["images"], tables["generated"], tables["scores"],
                       source=str(scores))
    summary = _summary(plan, sources=(images, generated, scores)) | {"parquet": parquet}
    # Locally the export is written beside `out` and renamed into place when whole; in a bucket
    # it is written in place and committed by `export.json`, put last, and the marker's removal.
    with nullcontext(out) if isinstance(out, ObjectPath) else atomic_folder(out) as staging:
        writer = ShardWriter(staging / SHARDS_FOLDER, shards) if shards else None
        _write_images(_export_order(plan.rows, shards, seed), staging, parquet=parquet,
                      shards=writer, progress=progress)
        index = writer.close() if writer else None
        if index:
            summary["shards"] = {key: index[key] for key in ("samples", "num_classes")} | {
                "files": len(index["shards"])}
        write_data_card(staging, summary=summary, rows=plan.rows,
                        generated=written_images(tables["generated"]),
                        kept=kept_synthetic(tables["generated"], tables["scores"],
                                            source=str(scores)),
                        scores=tables["scores"], images_table=str(images), jobs=list(jobs),
                        shards=index)
        write_text(staging / "export.json", json.dumps(summary, indent=1))
    if isinstance(out, ObjectPath):
        (out / IN_PROGRESS).unlink()
    return summary


def _summary(plan: ExportPlan, *, sources) -> dict:
    pids, rows = plan.pids, plan.rows
    real_ids = pids.filter((pl.col("origin") == "real") & (pl.col("label") > 0)).height
    counts = rows.group_by("role", "origin").len().sort("role", "origin")
    return {
        "format": "market1501",
        "sources": dict(zip(("images", "generated", "scores"), map(str, sources), strict=True)),
        "images": {f"{role}/{origin}": n for role, origin, n in counts.iter_rows()},
        # Variants of query/gallery images are kept but not exported (kept - exported).
        "synthetic": plan.synthetic_counts,
        "synthetic_by_method": dict(sorted(rows.filter(pl.col("origin") == "synthetic")
                                           .group_by("method").len().iter_rows())),
        "pid_offsets": {"real": 0, "synthetic": real_ids},
        "pids": pids.sort("label").to_dicts(),
        "cameras": {str(camera): label for camera, label in sorted(plan.cameras.items())},
        "cameras_shared": len(plan.cameras) > CAMERAS,
    }
