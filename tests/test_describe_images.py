"""DLCR's first step for real: the tiny random Idefics3 (factory/laptop/stand_ins/vlm.py) under
transformers' `generate()` answers questions about the images of a tiny tree in PRCC's own
layout (no toy files), into the per-image `descriptions` table, then the prompts."""

import base64
import io
import json
import re
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_trees import prcc_tree, write_image
from hub_cache import COMMIT, cache_model, use_hub_cache
from PIL import Image

from factory.describe import run_describe
from factory.describe.images import (
    IDENTITY_QUESTION,
    OUTFIT_QUESTION,
    AnswersTable,
    questions_needed,
)
from factory.describe.requests import caption_requests, describe, read_descriptions
from factory.describe.vlm import _http_row
from factory.laptop.stand_ins.vlm import build_tiny_vlm
from factory.pretrained.lock import ModelNotPulled, record
from factory.table_io import read_table, write_table
from schemas.config_base import ConfigError, make_config
from schemas.describe_config import DescribeConfig
from schemas.tables import DESCRIPTIONS


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory) -> str:
    return str(build_tiny_vlm(tmp_path_factory.mktemp("models") / "tiny-vlm"))


def prcc_images(root) -> tuple:
    """A PRCC tree (real layout, no toy files) and its `images` table."""
    tree = prcc_tree(root / "prcc")
    images = root / "images.parquet"
    write_table(tree.read_and_check("prcc"), images, "images")
    return tree, images


def _config(vlm: str, **fields) -> DescribeConfig:
    settings = {"vlm_backend": "transformers", "vlm": vlm, "gpus_per_engine": 0.0,
                "vlm_max_tokens": 24, "kinds": ["caption"], "images_per_identity": 2}
    return DescribeConfig(**{**settings, **fields})


def test_the_transformers_vlm_describes_a_real_layout_tree_then_captions_follow(
        ray_cluster, tiny_vlm, tmp_path):
    _, images = prcc_images(tmp_path)
    prompts_path = tmp_path / "prompts.parquet"
    config = _config(tiny_vlm, backend="attributes")  # captions: the VLM's words as they are
    prompts = pl.from_arrow(run_describe(config, images, prompts_path))
    answers = pl.from_arrow(read_table(tmp_path / "prompts.descriptions.parquet",
                                       "descriptions"))
    train = pl.read_parquet(images).filter(pl.col("split") == "train")
    # pid 1 has three training images (two described), pid 2 one: all asked both questions.
    assert answers.height == 3 and set(answers["image_id"]) <= set(train["image_id"])
    assert answers["identity_text"].null_count() == 0 and answers["outfit_text"].null_count() == 0
    assert set(answers["model"]) == {tiny_vlm} and answers["revision"].null_count() == 3
    assert set(answers["prompt"]) == {f"{OUTFIT_QUESTION}\n{IDENTITY_QUESTION}"}
    assert set(answers["seed"]) == {0} and (answers["items"].list.len() == 0).all()
    assert sorted(prompts["key"]) == ["1", "2"] and set(prompts["kind"]) == {"caption"}
    assert set(prompts["model"]) == {str(tmp_path / "prompts.descriptions.parquet")}
    # A random model's words may name no person: then the row says so, it never passes silently.
    for text, error in prompts.select("text", "error").iter_rows():
        assert (error is None and text) or (error.startswith("caption describes no person")
                                            and text == "")


def test_a_hub_vlm_is_loaded_at_its_pinned_revision_and_says_so_in_every_answer(
        ray_cluster, tiny_vlm, tmp_path, monkeypatch):
    _, images = prcc_images(tmp_path)
    cache = use_hub_cache(monkeypatch, tmp_path)
    config = _config("org/tiny-vlm", backend="attributes")
    with pytest.raises(ModelNotPulled, match="field 'describe.vlm': model org/tiny-vlm has no "
                                             "pinned revision"):
        run_describe(config, images, tmp_path / "prompts.parquet")
    cache_model(cache, "org/tiny-vlm", Path(tiny_vlm))
    record("hub", "org/tiny-vlm", COMMIT)  # what `factory models pull` writes
    run_describe(config, images, tmp_path / "prompts.parquet")
    answers = pl.from_arrow(read_table(tmp_path / "prompts.descriptions.parquet",
                                       "descriptions"))
    assert set(answers["model"]) == {"org/tiny-vlm"} and set(answers["revision"]) == {COMMIT}


def test_a_rerun_asks_only_the_images_not_answered(ray_cluster, tiny_vlm, tmp_path, capsys):
    _, images = prcc_images(tmp_path)
    prompts_path, answers_path = tmp_path / "prompts.parquet", tmp_path / "answers.parquet"
    config = _config(tiny_vlm, backend="attributes", answers=answers_path)
    run_describe(config, images, prompts_path)
    first = pl.read_parquet(answers_path).sort("image_id")
    assert "VLM attempt 1: 6 answers, 0 to redo" in capsys.readouterr().out
    # Prompts gone, answers kept: nothing is asked again, the answers file is not rewritten.
    prompts_path.unlink()
    written = answers_path.stat().st_mtime_ns
    run_describe(config, images, prompts_path)
    assert answers_path.stat().st_mtime_ns == written
    assert "VLM attempt" not in capsys.readouterr().out
    # One image's answers lost: only its two questions are asked, the same seeds give the same
    # answers.
    prompts_path.unlink()
    write_table(read_table(answers_path, "descriptions").slice(1), answers_path, "descriptions")
    run_describe(config, images, prompts_path)
    assert "VLM attempt 1: 2 answers, 0 to redo" in capsys.readouterr().out
    assert pl.read_parquet(answers_path).sort("image_id").equals(first)


def test_an_image_that_cannot_be_decoded_is_named_before_any_model_starts(tiny_vlm, tmp_path):
    tree, images = prcc_images(tmp_path)
    broken = tree.root / "rgb/train/002/B_cropped_rgb005.jpg"
    broken.write_bytes(b"not a JPEG at all")
    with pytest.raises(ValueError, match=re.escape(str(broken)) + " \\(image_id '[0-9a-f]+'\\): "
                                         "cannot be decoded as an image"):
        run_describe(_config(tiny_vlm, backend="attributes"), images, tmp_path / "p.parquet")
    assert not (tmp_path / "p.descriptions.parquet").exists()


def test_clothing_asks_every_image_and_captions_a_seeded_few_per_identity(tmp_path):
    _, images_path = prcc_images(tmp_path)
    images = pl.read_parquet(images_path).filter(pl.col("split") == "train")
    config = DescribeConfig(images_per_identity=2)
    outfits = {(outfit, "clothing") for outfit in images["outfit"]}
    asked = questions_needed(images, config, outfits)
    assert asked == [(image_id, "outfit_text") for image_id in images["image_id"]]
    only = questions_needed(images, config, {("1_2", "clothing")})
    assert [image_id for image_id, _ in only] == images.filter(
        pl.col("outfit") == "1_2")["image_id"].to_list()
    captions = questions_needed(images, config, {("1", "caption"), ("2", "caption")})
    chosen = {image_id for image_id, _ in captions}
    assert len(chosen) == 3 and len(captions) == 6  # pid 1: 2 of 3 images; pid 2: its only one
    assert questions_needed(images, config, {("1", "caption")}) == [
        question for question in captions if question[0] in set(
            images.filter(pl.col("pid") == 1)["image_id"])]
    reseeded = questions_needed(images, config.model_copy(update={"seed": 1}),
                                {("1", "caption")})
    assert len(reseeded) == 4  # another seed may choose other images, never more


def test_an_image_whose_clothes_answer_was_rejected_keeps_its_identity_answer(tmp_path):
    _, images_path = prcc_images(tmp_path)
    images = pl.read_parquet(images_path).filter(pl.col("pid") == 2)
    answers = AnswersTable(tmp_path / "answers.parquet", DescribeConfig(vlm="tiny-vlm"))
    image_id = images["image_id"][0]
    answers.add(image_id, "identity_text", "a tall person with short hair")
    answers.commit()  # its clothes question still unanswered: a null, not a broken table
    reread = AnswersTable(tmp_path / "answers.parquet", DescribeConfig(vlm="tiny-vlm"))
    assert reread.has(image_id, "identity_text") and not reread.has(image_id, "outfit_text")
    [request] = caption_requests(describe(images, reread.frame()), DescribeConfig())
    assert request.unanswerable.startswith("no image of identity 2 was described")


def test_a_real_dataset_without_a_vlm_or_descriptions_says_how_to_describe_it(tmp_path):
    _, images = prcc_images(tmp_path)
    with pytest.raises(FileNotFoundError, match="set `describe.vlm_backend` to a VLM"):
        run_describe(DescribeConfig(kinds=["caption"]), images, tmp_path / "p.parquet")


def test_copied_items_need_the_datasets_own_descriptions():
    with pytest.raises(ConfigError, match="backend 'attributes' copies the dataset's own "
                                          "clothing items"):
        make_config(DescribeConfig, {"vlm_backend": "vllm", "kinds": ["clothing"]})
    assert make_config(DescribeConfig, {"vlm_backend": "vllm", "kinds": ["caption"]})


def test_a_version_1_descriptions_table_reads_with_null_lineage(tmp_path):
    rows = {"image_id": ["a"], "identity_text": ["a tall person"],
            "outfit_text": ["a red coat"], "items": [["red coat"]]}
    old = DESCRIPTIONS.remove_metadata()
    fields = [old.field(name) for name in rows]
    schema = pa.schema(fields, metadata={b"reid_factory.table": b"descriptions",
                                         b"reid_factory.version": b"1"})
    pq.write_table(pa.Table.from_pydict(rows, schema=schema), tmp_path / "d.parquet")
    frame = read_descriptions(tmp_path / "d.parquet")
    assert frame.row(0, named=True) == {**{key: value[0] for key, value in rows.items()},
                                        "model": None, "revision": None, "prompt": None,
                                        "seed": None}


@pytest.mark.parametrize(("suffix", "mime"), [(".jpg", "image/jpeg"), (".png", "image/png"),
                                              (".bmp", "image/png")])
def test_http_sends_each_image_as_a_data_url_with_the_answer_schema(tmp_path, suffix, mime):
    path = write_image(tmp_path / f"person{suffix}", (6, 12))
    config = DescribeConfig(vlm="served-vlm")
    row = {"key": "x/outfit_text", "question": OUTFIT_QUESTION, "seed": 7,
           "image": path.read_bytes()}
    payload = _http_row(row, config=config)["payload"]
    image_part, text_part = payload["messages"][0]["content"]
    header, encoded = image_part["image_url"]["url"].split(",", 1)
    assert header == f"data:{mime};base64"
    sent = base64.b64decode(encoded)
    if mime != "image/png" or suffix == ".png":
        assert sent == path.read_bytes()  # the file's own bytes, not re-encoded
    assert Image.open(io.BytesIO(sent)).size == (6, 12)
    assert text_part["text"].startswith(OUTFIT_QUESTION) and '{"answer"' in text_part["text"]
    assert payload["temperature"] == 0.2 and payload["seed"] == 7
    schema = payload["response_format"]["json_schema"]["schema"]
    assert json.dumps(schema["required"]) == '["answer"]'
