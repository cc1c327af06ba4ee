"""DLCR x DiVE on the toy world: DiVE draws identity-consistent RGB and IR people of toy SYSU-MM01
with identity tokens and a modality LoRA, then DLCR changes their clothes (toy LTCC's outfit
prompts) with the inpainting model carrying the same adapter set: clothes-changing
cross-modality data whose lineage names both the adapter set and the outfit."""

import polars as pl
import pytest

from factory.adapt.stage import run_adapt
from factory.diffusion.loader import checked_adapters, model_fingerprint
from factory.image_files import load_rgb
from factory.job import run_job
from factory.laptop.stand_ins.parser import build_tiny_parser
from factory.laptop.toy_jobs import TINY_RECIPE, toy_job
from factory.laptop.toy_sd.build import toy_sd_path
from factory.parsing.parser import SegmentationParser
from factory.table_io import read_table
from schemas.diffusion_configs import AdaptConfig
from schemas.generation_configs import GenerationJobConfig


@pytest.fixture(scope="module")
def composed(ray_cluster, toy_images, toy_sd, tmp_path_factory):
    root = tmp_path_factory.mktemp("compose")
    sysu = toy_images("sysu_mm01")
    adapters, _ = run_adapt(AdaptConfig(
        model=str(toy_sd_path(toy_sd, "text2img")), images=sysu, out=root / "adapters",
        storage_path=root / "runs", codes={"ir": "infrared", "rgb": "visible"},
        identities=[1, 2], steps=1, batch_size=2, height=64, width=32, rank=4,
        report_identities=0))
    dive = toy_job("dive", sysu, toy_sd, root / "dive", adapters=adapters.path,
                   plan={"max_identities": 2, "dive": {"targets": ["rgb", "ir"],
                                                       "images_per_target": 1}})
    run_job(dive, ("describe", "plan", "generate"))
    ltcc = toy_job("dlcr", toy_images("ltcc"), toy_sd, root / "ltcc")  # its outfit prompts
    job = GenerationJobConfig(
        method="dlcr", images=sysu, prompts=ltcc.prompts, out=root / "composed",
        model=str(toy_sd_path(toy_sd, "inpaint")), adapters=adapters.path,
        parser=str(partial_parser(root / "parsers", dive.out / "generated")),
        source_generated=dive.out / "generated",
        plan={"recipe": TINY_RECIPE, "dlcr": {"targets_per_image": 2}})
    run_job(job, ("plan", "generate"))
    return adapters, dive, job


def partial_parser(folder, generated):
    """A tiny random LIP parser (the stand-in's architecture) whose clothes masks on the DiVE
    images are neither empty nor everything. A random parser's masks are arbitrary: on some
    images one seed calls every pixel clothes, which DLCR rightly refuses to inpaint."""
    rows = pl.from_arrow(read_table(generated, "generated"))
    images = [load_rgb(path) for path in rows["path"]]
    for seed in range(32):
        path = build_tiny_parser(folder / f"seed{seed}", labels="lip", seed=seed)
        masks = SegmentationParser(str(path), "cpu")(images, rows["image_id"].to_list())
        if all(mask.any() and not mask.all() for mask in masks):  # DLCR's check_coverage
            return path
    raise AssertionError("no random parser seed gives partial masks on the DiVE images")


def test_dlcr_changes_the_clothes_of_dive_people_with_their_adapter_set(composed):
    adapters, dive, job = composed
    sources = pl.from_arrow(read_table(dive.out / "generated", "generated"))
    tasks = pl.read_parquet(job.out / "tasks.parquet")
    assert tasks.height == sources.height * 2  # two new outfits per DiVE image
    written = pl.from_arrow(read_table(job.out / "generated", "generated"))
    failed = pl.from_arrow(read_table(job.out / "failed", "generated")) \
        if (job.out / "failed").exists() else written.clear()
    assert written.height + failed.height == tasks.height and written.height > 0
    by_id = dict(sources.select("image_id", "prompt").iter_rows())
    outfits = set(pl.from_arrow(read_table(job.prompts, "prompts")).filter(
        pl.col("kind") == "clothing")["key"])
    for row in written.iter_rows(named=True):
        [parent] = row["parents"]  # a DiVE image: its person, modality and token
        assert row["adapter_fingerprint"] == adapters.fingerprint
        assert row["outfit"] in outfits and row["prompt"].startswith(by_id[parent] + ", ")
        assert row["pid"] == sources.filter(pl.col("image_id") == parent)["pid"][0]
    assert set(written["modality"]) <= {"rgb", "ir"}


def test_inpainting_takes_an_adapter_set_only_through_a_shared_text_encoder(composed,
                                                                             toy_sd, tmp_path):
    adapters, _, _ = composed
    inpaint = toy_sd_path(toy_sd, "inpaint")
    assert adapters.text_encoder == model_fingerprint(inpaint / "text_encoder")
    assert checked_adapters(adapters.path, inpaint, "inpaint").path == adapters.path
    with pytest.raises(ValueError, match="adapters were trained on a base model"):
        checked_adapters(adapters.path, inpaint, "text2img")


def test_the_filter_compares_an_outfit_change_with_its_persons_dive_images(composed,
                                                                            toy_scorer):
    _, _, job = composed
    judged = job.model_copy(update={
        "scorer": toy_scorer, "filter": job.filter.model_copy(update={"reference": "sources"})})
    run_job(judged, ("filter",))
    scores = pl.from_arrow(read_table(job.out / "scores", "scores"))
    written = pl.from_arrow(read_table(job.out / "generated", "generated"))
    assert set(scores["image_id"]) == set(written["image_id"])
    assert scores["similarity"].null_count() == 0  # every person has DiVE images to compare
    fields = judged.model_dump(mode="json") | {"source_generated": None}
    with pytest.raises(ValueError, match="set `source_generated`"):
        GenerationJobConfig.model_validate(fields)
