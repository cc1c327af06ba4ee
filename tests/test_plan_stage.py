"""The planner on the toy world: deterministic ids sensitive to every input, each method's draws."""

import dataclasses
import json

import numpy as np
import polars as pl
import pytest
from generation_inputs import toy_job

from factory.diffusion.adapters import AdapterSet
from factory.plan.rows import distinct_draws, load_inputs
from factory.plan.stage import plan_tasks, read_tasks, run_plan
from factory.table_io import read_table
from schemas.generation_configs import GenerationJobConfig


@pytest.fixture(scope="module")
def dlcr(toy_images, toy_sd, tmp_path_factory):
    return toy_job("dlcr", toy_images("ltcc"), toy_sd, tmp_path_factory.mktemp("dlcr"),
                   plan={"dlcr": {"targets_per_image": 3}})


@pytest.fixture(scope="module")
def sysu(toy_images, toy_sd, tmp_path_factory):
    return toy_job("dive", toy_images("sysu_mm01"), toy_sd, tmp_path_factory.mktemp("sysu"),
                   plan={"dive": {"images_per_target": 3, "targets": ["rgb", "ir3", "ir6"]},
                         "diffusion_reid": {"images_per_identity": 5}})


def with_method(config: GenerationJobConfig, method: str, **plan) -> GenerationJobConfig:
    section = config.plan.model_copy(update=plan)
    return config.model_copy(update={"method": method, "plan": section})


def test_distinct_draws_never_repeat_and_stay_below_the_population():
    lanes = np.arange(1000, dtype=np.uint64) * np.uint64(7919)
    population = np.where(np.arange(1000) % 2 == 0, 12, 10)
    drawn = distinct_draws(lanes, population, 10)
    assert all(len(set(row)) == 10 for row in drawn.tolist())
    assert (drawn < population[:, None]).all() and (drawn >= 0).all()
    assert len({tuple(row) for row in drawn.tolist()}) > 500  # draws differ between rows


def test_dlcr_targets_are_other_outfits_with_prompts(dlcr):
    tasks = plan_tasks(dlcr)
    images = pl.from_arrow(read_table(dlcr.images, "images"))
    sources = images.filter(pl.col("split") == "train", pl.col("role") == "train")
    assert tasks.height == sources.height * 3
    joined = tasks.join(images.select(pl.col("image_id").alias("source_image_id"), "outfit"),
                        on="source_image_id")
    assert (joined["outfit"] != joined["target_outfit"]).all()
    assert joined.group_by("source_image_id").agg(pl.col("target_outfit").n_unique())[
        "target_outfit"].to_list() == [3] * sources.height
    prompts = pl.from_arrow(read_table(dlcr.prompts, "prompts")).filter(kind="clothing")
    expected = dict(zip(prompts["key"], prompts["items"].list.join(", ").str.to_lowercase(),
                        strict=True))
    assert all(expected[o] == p for o, p in zip(tasks["target_outfit"], tasks["prompt"],
                                                 strict=True))
    params = json.loads(tasks["params"][0])
    assert params["strength"] == 1.0 and params["height"] == 64 and params["parser"]
    assert tasks["task_id"].n_unique() == tasks.height


def test_task_ids_are_deterministic_and_sensitive_to_each_input(dlcr):
    inputs = load_inputs(dlcr)
    base = plan_tasks(dlcr, inputs)
    assert plan_tasks(dlcr, load_inputs(dlcr)).equals(base)
    changed = {
        "model": plan_tasks(dlcr, dataclasses.replace(inputs, model_fingerprint="other")),
        "parser": plan_tasks(dlcr, dataclasses.replace(inputs, parser_fingerprint="other")),
        "recipe": plan_tasks(dlcr.model_copy(update={"plan": dlcr.plan.model_copy(update={
            "recipe": dlcr.plan.recipe.model_copy(update={"steps": 3})})}), inputs),
        "negative": plan_tasks(dlcr.model_copy(update={"plan": dlcr.plan.model_copy(update={
            "recipe": dlcr.plan.recipe.model_copy(update={"negative_prompt": "blurry"})})}),
            inputs),
        "seed": plan_tasks(with_method(dlcr, "dlcr", seed=1), inputs),
    }
    for name, tasks in changed.items():
        assert not set(tasks["task_id"]) & set(base["task_id"]), name
    # One outfit's prompt changes: exactly the tasks that target it get new ids.
    outfit = base["target_outfit"][0]
    clothing = inputs.clothing.with_columns(
        pl.when(pl.col("key") == outfit).then(pl.lit("a green coat")).otherwise("prompt")
        .alias("prompt"))
    reworded = plan_tasks(dlcr, dataclasses.replace(inputs, clothing=clothing))
    moved = base["task_id"] != reworded["task_id"]
    assert (moved == (base["target_outfit"] == outfit)).all()


def test_rejected_clothing_prompts_are_never_targets(dlcr, tmp_path):
    prompts = pl.from_arrow(read_table(dlcr.prompts, "prompts"))
    bad = prompts.filter(kind="clothing")["key"][0]
    marked = prompts.with_columns(pl.when(pl.col("key") == bad).then(pl.lit("not JSON"))
                                  .otherwise(pl.col("error")).alias("error"))
    path = tmp_path / "prompts.parquet"
    marked.write_parquet(path)
    config = dlcr.model_copy(update={"prompts": path, "out": tmp_path})
    summary = run_plan(config)
    tasks = read_tasks(config)
    assert summary["rejected_prompts"]["clothing"] == 1 and summary["tasks"] == tasks.height
    assert bad not in set(tasks["target_outfit"])


def test_dive_pairs_share_seed_and_identity(sysu):
    tasks = plan_tasks(sysu)
    assert tasks.height == 8 * 3 * 3  # identities x targets x images per target
    by_pair = tasks.with_columns(variant=pl.col("params").str.json_path_match("$.code")).group_by(
        "pid", "seed").agg(pl.len(), pl.col("target_modality").unique().sort())
    assert by_pair["len"].to_list() == [3] * by_pair.height
    assert by_pair["target_modality"].to_list()[0] == ["ir", "rgb"]
    assert tasks["source_image_id"].is_null().all()
    assert tasks.filter(pl.col("params").str.contains('"code": "ir3"'))["prompt"][0].startswith(
        "a infrared camera 3 photo of a person, ")


def test_dive_with_adapters_uses_identity_tokens(sysu, tmp_path):
    inputs = load_inputs(sysu)
    adapters = AdapterSet(path=tmp_path, tokens={1: "<id_1>", 2: "<id_2>"},
                          codes={"rgb": "visible", "ir3": "thermal three", "ir6": "thermal six"},
                          base_fingerprint=inputs.model_fingerprint, fingerprint="a1", lora={})
    tasks = plan_tasks(sysu, dataclasses.replace(inputs, adapters=adapters))
    assert set(tasks["pid"]) == {1, 2} and set(tasks["adapter_fingerprint"]) == {"a1"}
    assert "a thermal three photo of a <id_2> person" in set(tasks["prompt"])
    other = plan_tasks(sysu, dataclasses.replace(
        inputs, adapters=dataclasses.replace(adapters, fingerprint="a2")))
    assert not set(other["task_id"]) & set(tasks["task_id"])
    missing = dataclasses.replace(adapters, codes={"rgb": "visible"})
    with pytest.raises(ValueError, match="no code 'ir3' in the adapter set"):
        plan_tasks(sysu, dataclasses.replace(inputs, adapters=missing))


@pytest.mark.parametrize("mode", ["img2img", "text2img"])
def test_diffusion_reid_prompts_and_diversity(sysu, mode):
    config = with_method(sysu, "diffusion_reid", diffusion_reid=sysu.plan.diffusion_reid
                         .model_copy(update={"mode": mode}))
    tasks = plan_tasks(config)
    settings = config.plan.diffusion_reid
    assert tasks.height == 8 * 5
    for prompt in tasks["prompt"]:
        assert prompt.startswith("a photo of a person, a ")
        assert any(word in prompt for word in settings.viewpoints)
        assert any(word in prompt for word in settings.illuminations)
    params = [json.loads(text) for text in tasks["params"]]
    if mode == "img2img":
        images = pl.from_arrow(read_table(config.images, "images"))
        owners = dict(zip(images["image_id"], images["pid"], strict=True))
        assert all(owners[s] == p for s, p in zip(tasks["source_image_id"], tasks["pid"],
                                                   strict=True))
        assert {p["strength"] for p in params} <= set(settings.strengths)
        assert len({p["strength"] for p in params}) > 1
    else:
        assert tasks["source_image_id"].is_null().all()
        assert all(0.95 <= p["noise_scale"] <= 1.05 for p in params)
    assert tasks["prompt"].n_unique() > 10  # diversity injection varies the words
