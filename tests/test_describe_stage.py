"""The describe stage with the offline `attributes` backend on a toy clothes-changing world."""

from pathlib import Path

import polars as pl
import pytest

from factory.describe import run_describe
from factory.describe.llm import request_seed
from factory.laptop.toyworld.writer import world_root, world_tables
from factory.table_io import read_table
from schemas.describe_config import DescribeConfig


@pytest.fixture(scope="module")
def toy_ltcc(toy_images):
    return toy_images("ltcc")


def _descriptions(images_path) -> Path:
    return world_tables(world_root(pl.read_parquet(images_path)["path"][0]))["descriptions"]


def _config(images_path, **fields) -> DescribeConfig:
    return DescribeConfig(descriptions=_descriptions(images_path), **fields)


def _annotations(images_path) -> pl.DataFrame:
    images = pl.read_parquet(images_path)
    return images.join(pl.read_parquet(_descriptions(images_path)), on="image_id")


def test_attributes_backend_writes_one_clothing_prompt_per_outfit_and_a_caption_per_pid(
        toy_ltcc, tmp_path):
    out = tmp_path / "prompts.parquet"
    table = run_describe(_config(toy_ltcc), toy_ltcc, out)
    assert read_table(out, "prompts").equals(table)
    prompts = pl.from_arrow(table)
    truth = _annotations(toy_ltcc).filter(pl.col("split") == "train")
    clothing = prompts.filter(pl.col("kind") == "clothing")
    assert sorted(clothing["key"]) == sorted(truth["outfit"].unique())
    assert clothing["error"].null_count() == clothing.height
    expected = {outfit: items for outfit, items in truth.select("outfit", "items").iter_rows()}
    for key, text, items in clothing.select("key", "text", "items").iter_rows():
        assert items == [item.lower() for item in expected[key]]
        assert text == ", ".join(items)  # DLCR: the items joined, no template
    captions = prompts.filter(pl.col("kind") == "caption")
    assert sorted(captions["key"]) == sorted(str(pid) for pid in truth["pid"].unique())
    identity = dict(truth.select(pl.col("pid").cast(str), "identity_text").iter_rows())
    for key, text in captions.select("key", "text").iter_rows():
        assert text.startswith(identity[key] + ", wearing ")
    assert set(prompts["backend"]) == {"attributes"}
    assert set(prompts["model"]) == {str(_descriptions(toy_ltcc))}


def test_a_rerun_skips_keys_already_written(toy_ltcc, tmp_path):
    out = tmp_path / "prompts.parquet"
    run_describe(_config(toy_ltcc, kinds=["caption"]), toy_ltcc, out)
    written = out.stat().st_mtime_ns
    again = run_describe(_config(toy_ltcc, kinds=["caption"]), toy_ltcc, out)
    assert out.stat().st_mtime_ns == written  # nothing new: the file is not even rewritten
    both = run_describe(_config(toy_ltcc), toy_ltcc, out)
    assert both.num_rows > again.num_rows
    keys = pl.from_arrow(both).select("key", "kind")
    assert keys.is_unique().all()


def test_items_the_check_rejects_are_recorded_as_failed_rows_not_passed_on(toy_ltcc, tmp_path):
    out = tmp_path / "prompts.parquet"
    table = run_describe(_config(toy_ltcc, kinds=["clothing"], max_item_chars=12), toy_ltcc, out)
    prompts = pl.from_arrow(table)
    failed = prompts.filter(pl.col("error").is_not_null())
    assert failed.height > 0
    assert (failed["text"] == "").all() and (failed["items"].list.len() == 0).all()
    assert failed["error"].str.contains("characters long \\(most 12\\)").all()
    # redo_failed asks again for exactly the failed keys (here with limits they pass).
    redone = pl.from_arrow(run_describe(_config(toy_ltcc, kinds=["clothing"], redo_failed=True),
                                        toy_ltcc, out))
    assert redone["error"].null_count() == redone.height
    assert sorted(redone["key"]) == sorted(prompts["key"])


def test_a_dataset_without_descriptions_is_named_in_the_error(toy_ltcc, tmp_path):
    with pytest.raises(FileNotFoundError, match="no per-image descriptions of dataset 'ltcc'"):
        run_describe(DescribeConfig(), toy_ltcc, tmp_path / "prompts.parquet")
    assert not (tmp_path / "prompts.parquet").exists()


def test_clothing_prompts_need_outfits(toy_market, tmp_path):
    with pytest.raises(ValueError, match="'market1501' records no outfits"):
        run_describe(_config(toy_market, kinds=["clothing"]), toy_market, tmp_path / "p.parquet")
    captions = run_describe(_config(toy_market, kinds=["caption"]), toy_market,
                            tmp_path / "p.parquet")
    assert captions.num_rows == pl.read_parquet(toy_market).filter(
        pl.col("split") == "train")["pid"].n_unique()


def test_each_retry_samples_with_a_new_seed_and_reruns_with_the_same():
    config = DescribeConfig()
    seeds = [request_seed(config, "3_1", "clothing", attempt) for attempt in range(3)]
    assert len(set(seeds)) == 3
    assert seeds == [request_seed(config, "3_1", "clothing", attempt) for attempt in range(3)]
    assert request_seed(config.model_copy(update={"seed": 1}), "3_1", "clothing", 0) != seeds[0]


def test_factory_describe_runs_the_describe_section_of_a_job_config(toy_ltcc, tmp_path, capsys):
    from factory.cli import main

    prompts = tmp_path / "prompts.parquet"
    job = tmp_path / "job.yaml"
    job.write_text(f"method: diffusion_reid\nimages: {toy_ltcc}\nprompts: {prompts}\n"
                   f"out: {tmp_path / 'job'}\nmodel: runwayml/stable-diffusion-v1-5\n"
                   f"describe:\n  kinds: [clothing]\n  descriptions: {_descriptions(toy_ltcc)}\n")
    assert main(["describe", str(job), "--set", "describe.max_item_chars=40"]) == 0
    table = pl.from_arrow(read_table(prompts, "prompts"))
    failed = table["error"].drop_nulls().len()
    assert set(table["kind"]) == {"clothing"} and 0 < failed < table.height
    assert f"{table.height} prompts, {failed} failed" in capsys.readouterr().out
    assert main(["describe", str(job), "--set", "describe.backend=gpt"]) == 2
    assert "field 'describe.backend'" in capsys.readouterr().err
