"""The bad-input catalogue: every kind of broken input a user can hand the factory.

Each case builds one broken input, runs the entry point that consumes it, and checks that the
error names the input at fault and that nothing half-written is left behind.
"""

import io
import re
from pathlib import Path

import numpy as np
import pytest
from dataset_trees import market_tree, prcc_tree, sysu_tree, write_image
from PIL import Image

from factory.image_files import ImageFileError, load_rgb
from factory.ingest.datasets import DatasetError
from factory.ingest.stage import ingest
from schemas.config_base import ConfigError, load_config
from schemas.configs import AdaptConfig, SweepConfig, TrainConfig

MARKET_IMAGE = "bounding_box_train/0002_c1s1_000451_01.jpg"


def noisy_image_bytes(suffix: str) -> bytes:
    """A photo-like image (noise compresses badly, so a cut really truncates pixel data)."""
    pixels = np.random.default_rng(0).integers(0, 255, (64, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG" if suffix == ".jpg" else "PNG")
    return buffer.getvalue()


def market_with(tmp_path: Path, relative: str, content: bytes) -> Path:
    """A valid Market-1501 tree whose `relative` file holds `content`; returns that file."""
    market_tree(tmp_path / "data")
    path = tmp_path / "data" / relative
    path.write_bytes(content)
    return path


def truncated(suffix: str):
    def make(tmp_path):
        whole = noisy_image_bytes(suffix)
        relative = MARKET_IMAGE.replace(".jpg", suffix)
        return market_with(tmp_path, relative, whole[: len(whole) // 2])
    return make


# name -> (make the broken tree and return the culprit, ingest with verify?, words in the error)
INGEST_CASES = {
    "truncated jpeg": (truncated(".jpg"), True, "unreadable image"),
    "truncated png": (truncated(".png"), True, "unreadable image"),
    "zero-byte file": (lambda tmp: market_with(tmp, MARKET_IMAGE, b""), False, "unreadable"),
    "not an image": (lambda tmp: market_with(tmp, MARKET_IMAGE, b"<html>"), False, "unreadable"),
    "name that does not parse": (
        lambda tmp: market_with(tmp, "bounding_box_train/person_2.jpg",
                                noisy_image_bytes(".jpg")), False, "pattern"),
}


@pytest.mark.parametrize("case", sorted(INGEST_CASES))
def test_broken_image_files_are_named_and_nothing_is_written(tmp_path, case):
    make, verify, words = INGEST_CASES[case]
    culprit = make(tmp_path)
    out = tmp_path / "tables" / "images.parquet"
    with pytest.raises(DatasetError, match=re.escape(culprit.name)) as caught:
        ingest("market1501", tmp_path / "data", out, progress=False, verify=verify)
    assert words in str(caught.value)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_wrong_layout_names_the_missing_folder(tmp_path):
    sysu_tree(tmp_path)  # a SYSU-MM01 tree read as Market-1501
    with pytest.raises(DatasetError, match="bounding_box_train: missing folder"):
        ingest("market1501", tmp_path, tmp_path / "images.parquet", progress=False)


def test_id_list_naming_a_missing_person(tmp_path):
    tree = sysu_tree(tmp_path)
    tree.lines("exp/test_id.txt", ["4,5,99"])
    with pytest.raises(DatasetError, match=r"test_id\.txt.*person 99"):
        ingest("sysu_mm01", tmp_path, tmp_path / "images.parquet", progress=False)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image_met_during_training_is_named(tmp_path, suffix):
    whole = noisy_image_bytes(suffix)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(whole[: len(whole) // 2])
    with Image.open(path) as image:  # the header alone looks fine
        assert image.size == (32, 64)
    with pytest.raises(ImageFileError, match=re.escape(str(path))):
        load_rgb(path)


@pytest.mark.parametrize("text, words", [
    ("images: i.parquet\nepoch: 3\n", ["epoch", "Extra inputs"]),
    ("images: i.parquet\nepochs: many\n", ["epochs", "'many'"]),
    ("images: i.parquet\nlr: -1\n", ["lr", "-1"]),
    ("images: i.parquet\nmodel: resnet\n", ["model", "'resnet'"]),
    ("epochs: 3\n", ["images", "Field required"]),
    ("- a list\n", ["expected a mapping"]),
    ("epochs: [1\n", ["not valid YAML"]),
])
def test_bad_configs_name_file_field_and_value(tmp_path, text, words):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(TrainConfig, path)
    assert str(path) in str(caught.value)
    for word in words:
        assert word in str(caught.value)


def test_model_path_that_does_not_exist(tmp_path):
    from factory.diffusion.loader import load_pipeline

    missing = tmp_path / "no-such-model"
    with pytest.raises((FileNotFoundError, ValueError), match=re.escape(str(missing))):
        load_pipeline("text2img", missing)


@pytest.mark.parametrize("content", [None, "{not json", '{"format": "someone-else"}'])
def test_reid_checkpoint_that_is_missing_or_foreign(tmp_path, content):
    from factory.reid.checkpoint import load_checkpoint

    if content is not None:
        (tmp_path / "config.json").write_text(content)
    with pytest.raises((FileNotFoundError, ValueError), match=re.escape(str(tmp_path))):
        load_checkpoint(tmp_path)


def python_sources() -> list[Path]:
    root = Path(__file__).resolve().parents[1]
    return [path for folder in ("factory", "jobs", "bench", "schemas")
            for path in (root / folder).rglob("*.py")]


def call_text(text: str, start: int) -> str:
    """The source of the call whose opening parenthesis is at or after `start`."""
    depth, index = 0, text.index("(", start)
    for end in range(index, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end + 1]
    raise AssertionError("unbalanced parentheses")


def test_checkpoints_load_only_through_safe_loaders():
    """torch.load always with weights_only=True; pickle never (safetensors elsewhere)."""
    for path in python_sources():
        text = path.read_text()
        for found in re.finditer(r"torch\.load\(", text):
            call = call_text(text, found.start())
            assert "weights_only=True" in call, f"{path}: {call}"
        assert "import pickle" not in text, path


def test_servers_bind_to_localhost_only():
    for path in python_sources():
        assert "0.0.0.0" not in path.read_text(), f"{path} binds a server to every interface"


def test_image_written_before_a_failure_survives(tmp_path):
    """A good file already present is not touched by a failed ingest into the same path."""
    market_tree(tmp_path / "data")
    out = tmp_path / "images.parquet"
    ingest("market1501", tmp_path / "data", out, progress=False)
    before = out.read_bytes()
    write_image(tmp_path / "data" / "bounding_box_train/x.jpg")
    with pytest.raises(DatasetError):
        ingest("market1501", tmp_path / "data", out, progress=False)
    assert out.read_bytes() == before


def error_line(stderr: str) -> str:
    """The CLI's error line (a progress bar may have drawn on stderr before it)."""
    return next(line for line in stderr.splitlines() if line.startswith("factory "))


# --- configs under --smoke and --set null ---------------------------------------------------
# case -> (command, config text with a value the smoke preset would replace, the field at fault)
SMOKE_HIDES = {
    "train epochs 0": ("train", "images: i.parquet\nepochs: 0\n", "epochs"),
    "train arch": ("train", "images: i.parquet\narch: resnet5\n", "arch"),
    "train height": ("train", "images: i.parquet\nheight: 8\n", "height"),
    "train gpus": ("train", "images: i.parquet\ngpus_per_worker: -1\n", "gpus_per_worker"),
    "adapt steps 0": ("adapt", "images: i.parquet\nout: o\nsteps: 0\n", "steps"),
    "adapt rank": ("adapt", "images: i.parquet\nout: o\nrank: 0\n", "rank"),
    "tune samples": ("tune", "train: {images: i.parquet}\nsamples: 0\n", "samples"),
    "tune base epochs": ("tune", "train: {images: i.parquet, epochs: 0}\n", "train.epochs"),
    "plan max identities": ("plan", "method: dlcr\nimages: i\nprompts: p\nout: o\nmodel: m\n"
                            "plan: {max_identities: 0}\n", "plan.max_identities"),
    "generate actors": ("generate", "method: dlcr\nimages: i\nprompts: p\nout: o\nmodel: m\n"
                        "generate: {actors: 0}\n", "generate.actors"),
}


@pytest.mark.parametrize("case", sorted(SMOKE_HIDES))
def test_smoke_never_hides_a_broken_config(tmp_path, capsys, case):
    command, text, field = SMOKE_HIDES[case]
    path = tmp_path / "job.yaml"
    path.write_text(text)
    from factory.cli import main

    assert main([command, str(path), "--smoke"]) == 2
    error = capsys.readouterr().err
    assert str(path) in error.splitlines()[0] and f"field {field!r}" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.yaml"]


COMMAND_CONFIGS = {"train": TrainConfig, "tune": SweepConfig, "adapt": AdaptConfig}
# case -> (command, config text setting the field, the dotted field a --set nulls)
NULLS = {
    "train synthetic": ("train", "images: i\nsynthetic: s\nscores: c\n", "synthetic"),
    "train scores": ("train", "images: i\nscores: c\n", "scores"),
    "train filter threshold": ("train", "images: i\nfilter_threshold: 0.5\n", "filter_threshold"),
    "train pretrained": ("train", "images: i\npretrained: imagenet\n", "pretrained"),
    "train triplet margin": ("train", "images: i\n", "triplet_margin"),
    "train protocol": ("train", "images: i\nprotocol: market1501\n", "protocol"),
    "tune lr": ("tune", "train: {images: i, protocol: market1501}\n", "lr"),
    "tune base synthetic": ("tune", "train: {images: i, protocol: market1501, synthetic: s}\n",
                            "train.synthetic"),
    "adapt token lr": ("adapt", "images: i\nout: o\ntoken_lr: 0.001\n", "token_lr"),
    "adapt identities": ("adapt", "images: i\nout: o\nidentities: [1, 2]\n", "identities"),
}


@pytest.mark.parametrize("case", sorted(NULLS))
@pytest.mark.parametrize("smoke", [False, True])
def test_set_null_reaches_the_config(tmp_path, case, smoke):
    from factory.cli import build_parser, load_command_config

    command, text, field = NULLS[case]
    path = tmp_path / "job.yaml"
    path.write_text(text)
    args = build_parser().parse_args([command, str(path), "--set", f"{field}=null"] +
                                     ["--smoke"] * smoke)
    config = load_command_config(COMMAND_CONFIGS[command], args)
    for part in field.split("."):
        config = getattr(config, part)
    assert config is None


# --- files written atomically take the process umask -----------------------------------------
def _write_table_file(path: Path) -> Path:
    from factory.table_io import write_table
    from schemas.tables import schema_for

    write_table(schema_for("scores").empty_table(), path, "scores")
    return path


def _atomic_folder(path: Path) -> Path:
    from factory.atomic import atomic_folder

    with atomic_folder(path) as staging:
        (staging / "weights").write_bytes(b"w")
    return path


def _text_file(path: Path) -> Path:
    from factory.atomic import write_text

    write_text(path, "report")
    return path


@pytest.mark.parametrize("write", [_write_table_file, _atomic_folder, _text_file])
@pytest.mark.parametrize("umask, file_mode, folder_mode", [(0o022, 0o644, 0o755),
                                                           (0o077, 0o600, 0o700),
                                                           (0o002, 0o664, 0o775)])
def test_atomic_writes_take_the_process_umask(tmp_path, write, umask, file_mode, folder_mode):
    import os

    old = os.umask(umask)
    try:
        written = write(tmp_path / "out")
        written_again = write(tmp_path / "out")  # a replacement too
    finally:
        os.umask(old)
    mode = written_again.stat().st_mode & 0o777
    assert written == written_again
    assert mode == (folder_mode if written.is_dir() else file_mode), oct(mode)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp file or folder left


# --- export decodes what it writes -------------------------------------------------------------
@pytest.fixture
def exportable(tmp_path):
    """A Market-1501 tree, its images table, and empty generated/scores tables."""
    from factory.table_io import write_table
    from schemas.tables import schema_for

    market_tree(tmp_path / "data")
    tables = {"images": tmp_path / "images.parquet"}
    ingest("market1501", tmp_path / "data", tables["images"], progress=False)
    for name in ("generated", "scores"):
        tables[name] = tmp_path / f"{name}.parquet"
        write_table(schema_for(name).empty_table(), tables[name], name)
    return tables


@pytest.mark.parametrize("damage", ["truncated jpeg", "zero bytes", "not an image", "gone"])
def test_export_refuses_a_corrupt_image_naming_it(exportable, tmp_path, capsys, damage):
    from factory.cli import main

    culprit = tmp_path / "data" / MARKET_IMAGE
    whole = noisy_image_bytes(".jpg")
    if damage == "gone":
        culprit.unlink()
    else:
        culprit.write_bytes({"truncated jpeg": whole[: len(whole) // 2], "zero bytes": b"",
                             "not an image": b"<html>"}[damage])
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["export", "--images", str(exportable["images"]), "--generated",
                 str(exportable["generated"]), "--scores", str(exportable["scores"]),
                 "--out", str(tmp_path / "export")])
    first_line = error_line(capsys.readouterr().err)
    assert code == 2 and str(culprit) in first_line and "cannot export" in first_line
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no export, no staging folder


# --- ingest: every image decoded by default, cameras within the dataset's ---------------------
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_ingest_decodes_every_image_by_default(tmp_path, suffix, capsys):
    from factory.cli import main

    culprit = truncated(suffix)(tmp_path)
    out = tmp_path / "images.parquet"
    assert main(["ingest", "market1501", str(tmp_path / "data"), "--out", str(out)]) == 2
    assert str(culprit) in error_line(capsys.readouterr().err)
    assert not out.exists()
    assert main(["ingest", "market1501", str(tmp_path / "data"), "--out", str(out),
                 "--no-verify"]) == 0  # for people who know: headers only


OUTSIDE_MARKET = "outside market1501's cameras 1..6"


@pytest.mark.parametrize("name, words", [
    ("bounding_box_train/0002_c0s1_000001_01.jpg", "column 'camera': value 0 is below 1"),
    ("bounding_box_train/0002_c7s1_000001_01.jpg", f"camera 7 is {OUTSIDE_MARKET}"),
    ("query/0002_c9s1_000001_01.jpg", f"camera 9 is {OUTSIDE_MARKET}"),
])
def test_a_camera_outside_the_dataset_is_named(tmp_path, name, words):
    market_tree(tmp_path)
    culprit = write_image(tmp_path / name)
    with pytest.raises(DatasetError, match=re.escape(f"{culprit}: {words}")):
        ingest("market1501", tmp_path, tmp_path / "images.parquet", progress=False)
    assert not (tmp_path / "images.parquet").exists()


# --- tables: what joins rely on ---------------------------------------------------------------
def _images_rows(tmp_path) -> list[dict]:
    market_tree(tmp_path / "data")
    return ingest("market1501", tmp_path / "data", tmp_path / "good.parquet",
                  progress=False).to_pylist()


# case -> (change the rows, the column and words the error names)
TABLE_BREAKS = {
    "duplicate image_id": (lambda rows: rows + [rows[0]], "image_id", "is also in row 0"),
    "negative width": (lambda rows: [dict(rows[0], width=-4)] + rows[1:], "width", "below 1"),
    "zero height": (lambda rows: rows[:1] + [dict(rows[1], height=0)] + rows[2:], "height",
                    "below 1"),
    "camera 0": (lambda rows: rows[:2] + [dict(rows[2], camera=0)] + rows[3:], "camera",
                 "below 1"),
    "camera 7 in Market-1501": (lambda rows: [dict(rows[0], camera=7)] + rows[1:], "camera",
                                OUTSIDE_MARKET),
    "unknown role": (lambda rows: [dict(rows[0], role="probe")] + rows[1:], "role", "not in"),
    "null pid": (lambda rows: [dict(rows[0], pid=None)] + rows[1:], "pid", "null value"),
}


@pytest.mark.parametrize("case", sorted(TABLE_BREAKS))
def test_validate_checks_keys_sizes_and_cameras(tmp_path, capsys, case):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from factory.cli import main

    change, column, words = TABLE_BREAKS[case]
    path = tmp_path / "images.parquet"
    pq.write_table(pa.Table.from_pylist(change(_images_rows(tmp_path))), path)
    before = path.read_bytes()
    assert main(["validate", "images", str(path)]) == 2
    first_line = capsys.readouterr().err.splitlines()[0]
    assert str(path) in first_line and words in first_line
    assert f"column {column!r}" in first_line or "camera 7" in first_line
    assert path.read_bytes() == before
    assert main(["validate", "images", str(tmp_path / "good.parquet")]) == 0


@pytest.mark.parametrize("table, key", [("tasks", "task_id"), ("parsing_masks", "image_id"),
                                        ("toy_truth", "image_id")])
def test_key_columns_are_unique_in_every_keyed_table(tmp_path, table, key):
    import pyarrow as pa

    from factory.table_io import write_table
    from schemas.tables import schema_for
    from schemas.validate import SchemaError

    schema = schema_for(table)
    row = {field.name: _sample(field.type) for field in schema}
    if "method" in row:
        row["method"], row["target_modality"] = "dlcr", "rgb"
    if "modality" in row:
        row["modality"] = "rgb"
    rows = pa.Table.from_pylist([row, dict(row, **{key: "other"}), row], schema=schema)
    with pytest.raises(SchemaError, match=rf"{tmp_path}.*column '{key}', row 2: .*also in row 0"):
        write_table(rows, tmp_path / "t.parquet", table)
    assert not (tmp_path / "t.parquet").exists()


def _sample(kind):
    import pyarrow as pa

    if pa.types.is_string(kind):
        return "x"
    if pa.types.is_binary(kind):
        return b"x"
    return 1


# --- OS faults: one line naming the path, the traceback only with --verbose -------------------
def _market_root(tmp_path) -> str:
    market_tree(tmp_path / "data")
    return str(tmp_path / "data")


def _a_file(tmp_path) -> Path:
    (tmp_path / "file").write_text("not a folder")
    return tmp_path / "file"


def _a_folder(tmp_path) -> Path:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "kept").write_text("kept")
    return tmp_path / "folder"


# case -> (arguments given tmp_path, the path the first line must name, words in it)
OS_FAULTS = {
    "ingest --out is a folder": (
        lambda tmp: ["ingest", "market1501", _market_root(tmp), "--out", str(_a_folder(tmp))],
        lambda tmp: tmp / "folder", "is a folder"),
    "ingest --out under a file": (
        lambda tmp: ["ingest", "market1501", _market_root(tmp), "--out",
                     str(_a_file(tmp) / "images.parquet")], lambda tmp: tmp / "file", "is a file"),
    "ingest root is a file": (
        lambda tmp: ["ingest", "market1501", str(_a_file(tmp)), "--out", str(tmp / "i.parquet")],
        lambda tmp: tmp / "file", "missing folder"),
    "validate a folder": (lambda tmp: ["validate", "images", str(_a_folder(tmp))],
                          lambda tmp: tmp / "folder", "not a readable Parquet table"),
    "validate a text file": (lambda tmp: ["validate", "images", str(_a_file(tmp))],
                             lambda tmp: tmp / "file", "not a readable Parquet table"),
    "validate a missing file": (lambda tmp: ["validate", "images", str(tmp / "gone.parquet")],
                                lambda tmp: tmp / "gone.parquet", "no such table file"),
    "train config is a folder": (lambda tmp: ["train", str(_a_folder(tmp))],
                                 lambda tmp: tmp / "folder", "is a folder, not a config file"),
    "train config missing": (lambda tmp: ["train", str(tmp / "gone.yaml")],
                             lambda tmp: tmp / "gone.yaml", "no such config file"),
    "export --out exists": (
        lambda tmp: ["export", "--images", "i", "--generated", "g", "--scores", "s", "--out",
                     str(_a_folder(tmp))], lambda tmp: tmp / "folder", "already exists"),
    "audit a missing folder": (lambda tmp: ["audit", str(tmp / "gone")],
                               lambda tmp: tmp / "gone", "no such generation output folder"),
    "filter with a missing scorer": (
        lambda tmp: ["filter", str(_job_file(tmp, scorer=tmp / "no-scorer"))],
        lambda tmp: tmp / "no-scorer", ""),
    "generate before plan": (lambda tmp: ["generate", str(_job_file(tmp))],
                             lambda tmp: tmp / "job" / "tasks.parquet", "run `factory plan`"),
    "train on a missing images table": (
        lambda tmp: ["train", str(_yaml(tmp, images=tmp / "gone.parquet"))],
        lambda tmp: tmp / "gone.parquet", "field 'images'"),
    "plan with a config that is a file of bytes": (
        lambda tmp: ["plan", str(_binary_file(tmp))], lambda tmp: tmp / "bytes.yaml",
        "not a text file"),
}


def _yaml(tmp_path, **fields) -> Path:
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({key: str(value) for key, value in fields.items()}))
    return path


def _job_file(tmp_path, **fields) -> Path:
    """A DiVE job on a real (tiny) Market-1501 images table, with a local model folder."""
    market_tree(tmp_path / "data")
    ingest("market1501", tmp_path / "data", tmp_path / "images.parquet", progress=False)
    (tmp_path / "model").mkdir()
    return _yaml(tmp_path, method="dive", images=tmp_path / "images.parquet",
                 prompts=tmp_path / "prompts.parquet", out=tmp_path / "job",
                 model=tmp_path / "model", **fields)


def _binary_file(tmp_path) -> Path:
    (tmp_path / "bytes.yaml").write_bytes(b"\xff\xfe\x00\x01")
    return tmp_path / "bytes.yaml"


@pytest.mark.parametrize("case", sorted(OS_FAULTS))
@pytest.mark.parametrize("verbose", [False, True])
def test_os_faults_are_one_line_naming_the_path(tmp_path, capsys, case, verbose):
    from factory.cli import main

    arguments, culprit, words = OS_FAULTS[case]
    argv = arguments(tmp_path)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert main(argv + ["--verbose"] * verbose) == 2
    stderr = capsys.readouterr().err
    first_line = error_line(stderr)
    assert str(culprit(tmp_path)) in first_line and words in first_line, first_line
    assert ("Traceback" in stderr) == verbose
    assert not verbose or stderr.rstrip().endswith(first_line)  # the line comes last
    after = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert after == before  # nothing written, nothing changed, no temp file left


# --- strays a copy picks up never stop a stage --------------------------------------------------
# case -> (dataset, tree builder, stray path relative to the root, file or folder)
INGEST_STRAYS = {
    ".DS_Store beside Market images": ("market1501", market_tree,
                                       "bounding_box_train/.DS_Store", "file"),
    "macOS ._ copy of an image": ("market1501", market_tree,
                                  "bounding_box_train/._0002_c1s1_000451_01.jpg", "file"),
    "hidden folder among person folders": ("prcc", prcc_tree, "rgb/train/.ipynb_checkpoints",
                                           "folder"),
    "hidden folder among SYSU cameras' people": ("sysu_mm01", sysu_tree, "cam1/.AppleDouble",
                                                 "folder"),
}


@pytest.mark.parametrize("case", sorted(INGEST_STRAYS))
def test_ingest_steps_over_strays(tmp_path, case):
    dataset, tree, relative, kind = INGEST_STRAYS[case]
    expected = tree(tmp_path).read_and_check(dataset)  # the table without the stray
    stray = tmp_path / relative
    if kind == "folder":
        stray.mkdir()
        (stray / "0001.jpg").write_bytes(b"not an image")
    else:
        stray.write_bytes(b"\0\0\0\1Bud1")  # what a .DS_Store or an AppleDouble file holds
    assert ingest(dataset, tmp_path, tmp_path / "images.parquet", progress=False).equals(expected)


@pytest.fixture(params=["full", "read-only"])
def bad_disk(request, tmp_path):
    """A 64 KiB file system holding one file, nearly full or read-only (a tmpfs: needs root;
    skipped elsewhere, and as root a chmod would not stop a write)."""
    import subprocess

    folder = tmp_path / "disk"
    folder.mkdir()

    def mount(options: str) -> bool:
        return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                              capture_output=True).returncode == 0

    if not mount("size=64k"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        (folder / "filler").write_bytes(b"\0" * 60_000)
        if request.param == "read-only":
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder, {"full": "No space left", "read-only": "Read-only file system"}[
            request.param]
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_or_read_only_disk_is_one_line_naming_the_file(tmp_path, bad_disk, capsys):
    from factory.cli import main

    disk, cause = bad_disk
    out = disk / "images.parquet"
    assert main(["ingest", "market1501", _market_root(tmp_path), "--out", str(out)]) == 2
    first_line = error_line(capsys.readouterr().err)
    assert first_line.startswith(f"factory ingest: error: {out}: ") and cause in first_line
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # no temp file left
