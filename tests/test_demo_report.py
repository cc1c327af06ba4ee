"""The demo's verdicts: real only, + method and + oracle per method, the headroom and the share a
method captured; a filter that kept nothing is a result in the report, not an error."""

import polars as pl
import pyarrow as pa
import pytest

from factory.demo.experiments import kept_problem
from factory.demo.figures import headline_bars
from factory.demo.report import headline_table, summary_table, verdicts
from factory.table_io import write_table
from schemas.tables import schema_for


def _runs(method: str, setting: str, metric: str, arms: dict[str, list[float]], *,
          refinement: bool = False) -> list[dict]:
    other = "mAP" if metric == "rank1" else "rank1"
    return [{"method": method, "protocol": "toy", "arm": arm, "training": arm,
             "refinement": refinement, "seed": seed, f"{setting}/{metric}": value,
             f"{setting}/{other}": value / 2}
            for arm, values in arms.items() for seed, value in enumerate(values)]


@pytest.fixture
def results() -> pl.DataFrame:
    return pl.DataFrame([
        *_runs("DLCR", "clothes_changing", "rank1", {"real": [0.10, 0.12], "oracle": [0.40, 0.44]}),
        # DLCR is judged as published: its arms with test-time refinement, real only without
        *_runs("DLCR", "clothes_changing", "rank1", {"real": [0.20, 0.22], "oracle": [0.50, 0.54]},
               refinement=True),
        *_runs("DiVE", "visible_to_infrared", "mAP",
               {"real": [0.20, 0.22], "method": [0.31, 0.33], "oracle": [0.41, 0.43]}),
        *_runs("Diffusion-ReID", "standard", "mAP",
               {"real": [0.50, 0.60], "method": [0.52, 0.58], "oracle": [0.53, 0.59]}),
    ])


def test_verdicts_give_headroom_and_share(results):
    missing = {"DLCR": {"method": "no images kept"}, "DiVE": {}, "Diffusion-ReID": {}}
    lines = verdicts(headline_table(results, missing))
    dlcr, dive, diffusion_reid = lines
    assert "real only 0.110 ± 0.010; + DLCR + TTPR: no images kept" in dlcr
    assert "+ oracle + TTPR 0.520 ± 0.020 (+0.410: a clear gain). Headroom +0.410" in dlcr
    assert "captured none of it" in dlcr
    assert "+ DiVE 0.320 ± 0.010 (+0.110: a clear gain)" in dive
    assert "Headroom +0.210; DiVE captured 52% of it." in dive
    # the oracle's gain is within the seeds' spread: the toy task shows nothing either way
    assert "No headroom" in diffusion_reid and "captured" not in diffusion_reid


def test_an_arm_without_runs_is_a_row_of_the_table_and_a_bar_of_the_lead(results, tmp_path):
    missing = {"DLCR": {"method": "no images kept"}}
    table = summary_table(results, missing)
    dlcr = table.filter(pl.col("method") == "DLCR")
    assert dlcr.filter(pl.col("training") == "+ DLCR")["rank1"].to_list() == ["no images kept"]
    assert dlcr.filter(pl.col("training") == "oracle")["Δ rank1"].to_list() == ["+0.310"]
    assert dlcr.filter(pl.col("training") == "oracle + TTPR")["Δ rank1"].to_list() == ["+0.410"]
    headlines = headline_table(results, missing)
    assert headlines.filter(pl.col("method") == "DLCR")["arm"].to_list() == [
        "real", "method", "oracle"]
    figure = headline_bars(headlines, tmp_path / "headline.png")
    assert figure.stat().st_size > 0


def _job(folder, kept: list[bool]):
    """A job folder whose `generated` and `scores` tables hold one image per verdict in `kept`."""
    generated = [{"task_id": f"t{n}", "image_id": f"i{n}", "path": f"/x/{n}.png",
                  "method": "diffusion_reid", "pid": n % 2, "modality": "rgb", "outfit": None,
                  "seed": n, "prompt": "a person", "model_fingerprint": "m",
                  "adapter_fingerprint": None, "timings": [], "parents": [], "error": None}
                 for n in range(len(kept))]
    scores = [{"image_id": f"i{n}", "method": "diffusion_reid", "pid": n % 2, "scorer": "s",
               "confidence": None, "rank": None, "similarity": 0.5, "kept": verdict,
               "error": None} for n, verdict in enumerate(kept)]
    for table, rows in (("generated", generated), ("scores", scores)):
        write_table(pa.Table.from_pylist(rows, schema=schema_for(table)),
                    folder / table / "part-0.parquet", table)
    return folder


def test_kept_problem_names_what_the_filter_left(tmp_path):
    assert kept_problem(_job(tmp_path / "none", [False, False])) == "no images kept"
    one = _job(tmp_path / "one", [True, False])  # pids 0 and 1; only pid 0's image kept
    assert kept_problem(one) is None
    assert kept_problem(one, min_identities=2) == (
        "kept images of 1 identity, too few (a PK batch needs 2)")
    assert kept_problem(_job(tmp_path / "two", [True, True]), min_identities=2) is None


def test_one_seed_is_not_judged(results):
    one_seed = results.filter(pl.col("seed") == 0)
    dlcr, dive, _ = verdicts(headline_table(one_seed, {}))
    assert "+ DLCR + TTPR: no runs" in dlcr
    assert "+ DiVE 0.310 (+0.110: one seed, no spread to judge it by)" in dive
    assert dive.endswith("DiVE captured 52% of it (one seed: not judged).")
