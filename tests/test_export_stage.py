"""`factory export`: kept synthetic + real images as a Market-1501 folder that our reader and
torchreid's accept, with the pid map, and as Parquet with image bytes."""

import glob
import io
import json
import os.path as osp
import re

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from factory.cli import main
from factory.export.stage import camera_map, export, pid_map
from factory.ingest.datasets import read_dataset
from factory.table_io import read_table, write_table
from schemas.tables import schema_for

NEW_IDENTITIES = (5001, 5002)  # Diffusion-ReID identities: pids no real person has


def contract_table(name: str, rows: list[dict]) -> pa.Table:
    """Rows as a table of contract `name`; nullable columns a row leaves out are null."""
    schema = schema_for(name)
    return pa.Table.from_pylist([{f.name: row.get(f.name) for f in schema} for row in rows],
                                schema=schema)


def torchreid_process_dir(dir_path: str, relabel: bool = False) -> list[tuple[str, int, int]]:
    """torchreid's Market1501.process_dir (deep-person-reid, torchreid/data/datasets/image/
    market1501.py), line for line."""
    img_paths = glob.glob(osp.join(dir_path, "*.jpg"))
    pattern = re.compile(r"([-\d]+)_c(\d)")
    pid_container = set()
    for img_path in img_paths:
        pid, _ = map(int, pattern.search(img_path).groups())
        if pid == -1:
            continue
        pid_container.add(pid)
    pid2label = {pid: label for label, pid in enumerate(pid_container)}
    data = []
    for img_path in img_paths:
        pid, camid = map(int, pattern.search(img_path).groups())
        if pid == -1:
            continue
        assert 0 <= pid <= 1501
        assert 1 <= camid <= 6
        camid -= 1
        if relabel:
            pid = pid2label[pid]
        data.append((img_path, pid, camid))
    return data


@pytest.fixture(scope="module")
def synthetic_world(toy_images, tmp_path_factory):
    """A toy Market-1501 images table plus hand-made generated/scores tables: PNG "synthetic"
    copies of real images, some kept, some rejected, one failed, one unscored, one made from a
    query image (DLCR test-time refinement)."""
    folder = tmp_path_factory.mktemp("synthetic")
    images_path = toy_images("market1501")
    real = pl.from_arrow(read_table(images_path, "images")).sort("image_id")
    train = real.filter(pl.col("role") == "train")
    sources = [train.filter(pl.col("pid") == pid).row(0, named=True) for pid in (1, 2, 3, 4)]
    query = real.filter(pl.col("role") == "query").row(0, named=True)
    cases = ([("dlcr", s["pid"], s, True) for s in sources[:3]] + [("dlcr", 4, sources[3], False)]
             + [("diffusion_reid", pid, None, True) for pid in NEW_IDENTITIES]
             + [("diffusion_reid", NEW_IDENTITIES[0], None, False),
                ("dlcr", query["pid"], query, True), ("dlcr", 1, sources[0], None)])
    generated, scores = [], []
    for seed, (method, pid, parent, kept) in enumerate(cases):
        image_id = f"synthetic{seed:03d}"
        path = folder / f"{image_id}.png"
        with Image.open((parent or sources[seed % 4])["path"]) as image:
            image.save(path)
        generated.append({"task_id": f"task{seed}", "image_id": image_id, "path": str(path),
                          "method": method, "pid": pid, "modality": "rgb", "seed": seed,
                          "prompt": "a person", "model_fingerprint": "toy", "timings": [],
                          "parents": [parent["image_id"]] if parent else []})
        if kept is not None:  # the last one was never scored
            scores.append({"image_id": image_id, "method": method, "pid": pid, "scorer": "toy",
                           "confidence": 0.9 if kept else 0.1, "rank": 1, "kept": kept})
    generated.append({"task_id": "failed", "image_id": "failed", "method": "dlcr", "pid": 1,
                      "modality": "rgb", "seed": 99, "prompt": "a person", "timings": [],
                      "model_fingerprint": "toy", "parents": [], "error": "out of memory"})
    tables = {"images": images_path, "generated": folder / "generated.parquet",
              "scores": folder / "scores.parquet"}
    write_table(contract_table("generated", generated), tables["generated"], "generated")
    write_table(contract_table("scores", scores), tables["scores"], "scores")
    exported = {"synthetic000", "synthetic001", "synthetic002", "synthetic004", "synthetic005"}
    return tables, real, exported


@pytest.fixture(scope="module")
def exported_folder(synthetic_world, tmp_path_factory):
    tables, _, _ = synthetic_world
    out = tmp_path_factory.mktemp("export") / "market1501"
    code = main(["export", "--images", str(tables["images"]), "--generated",
                 str(tables["generated"]), "--scores", str(tables["scores"]), "--out", str(out),
                 "--parquet"])
    assert code == 0
    return out


def test_our_reader_reads_the_export_back(exported_folder, synthetic_world):
    _, real, exported = synthetic_world
    table = pl.from_arrow(read_dataset("market1501", exported_folder))
    counts = dict(table.group_by("role").len().iter_rows())
    real_counts = dict(real.group_by("role").len().iter_rows())
    assert counts == real_counts | {"train": real_counts["train"] + len(exported)}
    # Real training persons keep labels 1..8, test persons follow, new identities come last.
    train_pids = set(table.filter(pl.col("role") == "train")["pid"])
    assert train_pids == set(range(1, 9)) | {17, 18}
    assert set(table.filter(pl.col("role") == "query")["pid"]) == set(range(9, 17))
    assert 0 in set(table.filter(pl.col("role") == "gallery")["pid"])  # distractors stay 0


def test_torchreid_reads_the_export(exported_folder, synthetic_world):
    _, real, exported = synthetic_world
    train = torchreid_process_dir(str(exported_folder / "bounding_box_train"), relabel=True)
    query = torchreid_process_dir(str(exported_folder / "query"))
    gallery = torchreid_process_dir(str(exported_folder / "bounding_box_test"))
    roles = dict(real.group_by("role").len().iter_rows())
    assert (len(train), len(query), len(gallery)) == (
        roles["train"] + len(exported), roles["query"], roles["gallery"])
    assert {pid for _, pid, _ in train} == set(range(10))  # 8 real + 2 synthetic classes
    assert {camid for _, _, camid in train + query + gallery} <= set(range(6))


def test_the_pid_map_and_the_parquet_record_what_was_exported(exported_folder, synthetic_world):
    _, real, exported = synthetic_world
    summary = json.loads((exported_folder / "export.json").read_text())
    assert summary["pid_offsets"] == {"real": 0, "synthetic": 16}
    pids = {(row["origin"], row["pid"]): row["label"] for row in summary["pids"]}
    assert pids[("synthetic", 5001)] == 17 and pids[("synthetic", 5002)] == 18
    assert pids[("real", 3)] == 3 and pids[("real", 0)] == 0
    assert summary["synthetic"] == {"generated": 9, "kept": 6, "exported": len(exported)}
    assert summary["synthetic_by_method"] == {"diffusion_reid": 2, "dlcr": 3}

    rows = pl.from_arrow(pq.read_table(exported_folder / "images.parquet"))
    assert rows.height == real.height + len(exported)
    synthetic = rows.filter(pl.col("origin") == "synthetic")
    assert set(synthetic["image_id"]) == exported  # rejected, failed, unscored, test-time: out
    dlcr = synthetic.filter(pl.col("image_id") == "synthetic002").row(0, named=True)
    source = real.filter((pl.col("role") == "train") & (pl.col("pid") == 3)).sort("image_id")
    # A DLCR image shows its source's person, seen by its source's camera.
    assert dlcr["export_pid"] == 3 and dlcr["export_camera"] == source["camera"][0]
    assert re.fullmatch(rf"bounding_box_train/0003_c{dlcr['export_camera']}s2_\d{{6}}_00\.jpg",
                        dlcr["export_path"])
    for row in rows.sample(10, seed=0).iter_rows(named=True):
        assert (exported_folder / row["export_path"]).read_bytes() == row["image"]
        with Image.open(io.BytesIO(row["image"])) as image:
            assert image.format == "JPEG" and image.size == (row["width"], row["height"])


def test_a_failed_export_leaves_nothing_behind(synthetic_world, tmp_path):
    tables, _, _ = synthetic_world
    generated = pl.from_arrow(read_table(tables["generated"], "generated"))
    broken = generated.with_columns(
        pl.when(pl.col("image_id") == "synthetic001").then(pl.lit(str(tmp_path / "gone.png")))
        .otherwise(pl.col("path")).alias("path"))
    write_table(broken.to_arrow(), tmp_path / "generated.parquet", "generated")
    with pytest.raises(ValueError, match="gone.png"):
        export(tables["images"], tmp_path / "generated.parquet", tables["scores"],
               tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generated.parquet"]
    with pytest.raises(ValueError, match="torchreid"):
        export(tables["images"], tables["generated"], tables["scores"], tmp_path / "run_1_c2")


def test_an_existing_folder_is_never_overwritten(exported_folder, synthetic_world):
    tables, _, _ = synthetic_world
    code = main(["export", "--images", str(tables["images"]), "--generated",
                 str(tables["generated"]), "--scores", str(tables["scores"]),
                 "--out", str(exported_folder)])
    assert code == 2 and (exported_folder / "export.json").is_file()


def test_cameras_and_identities_fit_torchreids_limits():
    assert camera_map([1, 3, 5]) == {1: 1, 3: 2, 5: 3}
    assert sorted(camera_map(list(range(12))).values()) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    rows = pl.DataFrame({"origin": ["real"] * 1502, "role": ["train"] * 1502,
                         "pid": list(range(1502))})
    with pytest.raises(ValueError, match="1502 identities"):
        pid_map(rows)
