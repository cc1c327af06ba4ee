"""Every shipped real generation config runs end to end on its dataset's own layout.

Per config: a small tree in the dataset's real layout (toy renders with the toy world's own files
removed: no descriptions, masks or truth), `factory ingest`, the runs the config names (DiVE's
adapt, the scorer) from the shipped training configs, then describe -> plan -> generate -> filter
with every model swapped for the tiny random stand-ins (`jobs/generate.py --stand-ins`), then the
shipped training config that uses the method's data, evaluated with the dataset's protocol, and
its report read. Only model paths and sizes change (`--smoke`, `--stand-ins`); every path is the
config's own, relative to the working folder, as under `ray job submit`.

The default run asks the tiny VLM under transformers instead of the configs' vLLM VLM (and, for
captions, copies them from its answers instead of asking the vLLM LLM); `slow` runs every config's
own describe backends. The stand-ins' answers are random text: a prompt the checks reject is a
recorded row, as a real model's rejected reply is.
"""

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from generation_inputs import generate_main

from factory.cli import main as factory
from factory.source_identities import SOURCE_PID_OFFSET
from factory.table_io import read_table
from schemas.configs import ToyWorldConfig

REPO = Path(__file__).parent.parent
CONFIGS = REPO / "jobs" / "configs"
# Keeps every generated image: the stand-ins' pictures are noise, which a real scorer rejects.
KEEP_ALL = "filter_threshold=0"
# Describe in the main environment: the tiny VLM under transformers, captions copied from it.
FAST_CAPTIONS = ["describe.vlm_backend=transformers", "describe.backend=attributes"]
FAST_CLOTHING = ["describe.vlm_backend=transformers"]  # the vLLM LLM still extracts items


@dataclass
class Case:
    dataset: str
    scorer: str  # the shipped training config of the generation config's scorer
    method_runs: list[list[str]]  # `factory train` argument lists after the generation job
    adapt: str | None = None
    source: str | None = None  # DiVE's expansion: the RGB-only dataset whose people are added
    fast_describe: list[str] = field(default_factory=list)
    headline: str = ""  # a protocol setting the method's report must give
    # Training identities of the toy tree. Diffusion-ReID plans only identities whose caption
    # names a person, which the random VLM's text does by chance: 4 identities left none.
    identities: int = 4


CASES = {
    "dlcr_prcc": Case("prcc", "train_cal_prcc", [["train_cal_prcc_dlcr.yaml", KEEP_ALL]],
                      fast_describe=FAST_CLOTHING, headline="clothes_changing"),
    "dlcr_ltcc": Case("ltcc", "train_cal_ltcc", [["train_cal_ltcc_dlcr.yaml", KEEP_ALL]],
                      fast_describe=FAST_CLOTHING, headline="clothes_changing"),
    "dive_llcm": Case("llcm", "train_caj_llcm", [["train_caj_llcm_dive.yaml", KEEP_ALL]],
                      adapt="adapt_llcm", fast_describe=FAST_CAPTIONS,
                      headline="visible_to_infrared"),
    "dive_sysu_mm01": Case("sysu_mm01", "train_caj_sysu_mm01",
                           [["train_caj_sysu_mm01_dive.yaml", KEEP_ALL]],
                           adapt="adapt_sysu_mm01", fast_describe=FAST_CAPTIONS,
                           headline="all_search"),
    "dive_llcm_market1501": Case("llcm", "train_caj_llcm",
                                 # every image: the stand-ins' are noise, and the
                                 # scorer has no class for an added person
                                 [["train_caj_llcm_dive_market1501.yaml", "scores=null"]],
                                 adapt="adapt_llcm_market1501", source="market1501",
                                 headline="visible_to_infrared"),
    "diffusion_reid_market1501": Case(
        "market1501", "train_bot_market1501",
        [["pretrain_bot_diffusion_reid_market1501.yaml", KEEP_ALL, "p=2"],
         ["train_bot_market1501_pretrained.yaml",
          "pretrained=runs/bot-diffusion-reid-market1501/model"]],  # --smoke sets it null
        adapt="adapt_market1501", fast_describe=FAST_CAPTIONS, headline="standard",
        identities=8),
}


def _real_layout_tree(dataset: str, root: Path, identities: int = 4) -> Path:
    from factory.laptop.toyworld.layouts import render_layout

    render_layout(ToyWorldConfig(layout=dataset, train_identities=identities, test_identities=4,
                                 outfits=2, workers=1), root)
    shutil.rmtree(root / "_toy")  # only what the real dataset has
    assert not [p for p in root.rglob("*") if p.suffix in (".parquet", ".json")]
    return root


def _sets(values: list[str]) -> list[str]:
    return [part for value in values for part in ("--set", value)]


def _train(config: str, sets: list[str]) -> str:
    command = "pretrain" if config.startswith("pretrain_") else "train"  # generated ids alone
    assert factory([command, str(CONFIGS / config), "--smoke", *_sets(sets)]) == 0
    name = re.search(r"^name: (\S+)", (CONFIGS / config).read_text(), re.M).group(1)
    return (Path("runs") / name / "report.md").read_text()


def _run_case(name: str, case: Case, stand_ins: dict, tmp_path: Path, *, fast: bool) -> dict:
    models = next(iter(stand_ins.values())).parent
    root = _real_layout_tree(case.dataset, tmp_path / "data" / case.dataset, case.identities)
    seconds = {}
    started = time.monotonic()
    for dataset in filter(None, (case.dataset, case.source)):
        tree = root if dataset == case.dataset else \
            _real_layout_tree(dataset, tmp_path / "data" / dataset)
        assert factory(["ingest", dataset, str(tree),
                        "--out", f"tables/{dataset}.images.parquet"]) == 0
    if case.adapt:  # DiVE's identity tokens and modality LoRA, on the stand-in SD-1.5
        few = ["--set", "source_min_images=2"] if case.source else []  # a toy person has few
        assert factory(["adapt", str(CONFIGS / f"{case.adapt}.yaml"), "--smoke",
                        "--set", f"model={stand_ins['text2img']}", *few]) == 0
    scorer_report = _train(f"{case.scorer}.yaml", [])
    assert "## Evaluation after epoch" in scorer_report
    seconds["ingest, adapt, scorer"] = time.monotonic() - started
    started = time.monotonic()
    describe = case.fast_describe if fast else []
    # Every identity (not the smoke preset's two), so DLCR's query images get outfit changes.
    assert generate_main()([str(CONFIGS / f"{name}.yaml"), "--stand-ins", str(models),
                             *_sets(["plan.max_identities=null", *describe])]) == 0
    seconds["describe, plan, generate, filter"] = time.monotonic() - started
    started = time.monotonic()
    reports = [_train(config, sets) for config, *sets in case.method_runs]
    seconds["train with the method's data"] = time.monotonic() - started
    return {"reports": reports, "seconds": seconds}


def _check_generation(name: str, case: Case, stand_ins: dict) -> None:
    job = Path("out") / "generation" / name
    assert factory(["audit", str(job)]) == 0  # one committed image or failure per task
    generated = pl.from_arrow(read_table(job / "generated", "generated"))
    scores = pl.from_arrow(read_table(job / "scores", "scores"))
    assert generated.height > 0 and set(scores["image_id"]) == set(generated["image_id"])
    images = pl.read_parquet(f"tables/{case.dataset}.images.parquet")
    if case.source:  # the added people only, pids moved up
        added = pl.read_parquet(f"tables/{case.source}.images.parquet")["pid"] + SOURCE_PID_OFFSET
        assert set(generated["pid"]) <= set(added) and set(generated["modality"]) == {"ir"}
    else:
        assert set(generated["pid"]) <= set(images["pid"])
    if case.source:  # nothing described: every planned person has a token
        return
    prompts = pl.from_arrow(read_table(f"tables/{case.dataset}.prompts.parquet", "prompts"))
    written = prompts.filter(pl.col("error").is_null())
    assert written.height > 0 and (prompts["error"].drop_nulls().str.len_chars() > 0).all()
    if name.startswith("diffusion_reid"):  # an identity generates only from its caption
        assert set(generated["pid"]) <= set(written["key"].cast(pl.Int64))
    answers = pl.from_arrow(read_table(f"tables/{case.dataset}.descriptions.parquet",
                                       "descriptions"))
    assert set(answers["model"]) == {str(stand_ins["vlm"])}  # a VLM looked at the images
    if name.startswith("dlcr"):  # lossless composites, and the queries' outfit changes
        assert set(Path(p).suffix for p in generated["path"]) == {".png"}
        queries = set(images.filter(pl.col("role") == "query")["image_id"])
        assert queries & set(generated["parents"].list.first())


@pytest.mark.parametrize("fast", [True, pytest.param(False, marks=pytest.mark.slow)],
                         ids=["fast-describe", "own-describe"])
@pytest.mark.parametrize("name", list(CASES))
def test_shipped_config_runs_end_to_end_on_its_datasets_layout(
        name, fast, ray_cluster, stand_ins, tmp_path, monkeypatch):
    case = CASES[name]
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # the configs' relative paths start here
    result = _run_case(name, case, stand_ins, tmp_path, fast=fast)
    print(name, {step: f"{s:.0f} s" for step, s in result["seconds"].items()})
    _check_generation(name, case, stand_ins)
    report = result["reports"][-1]
    assert re.search(rf"^\| {case.headline} \| [0-9.]+ \|", report, re.M), report
    assert "synthetic images: 0 " not in "".join(result["reports"])
