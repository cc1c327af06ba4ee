"""The README's demo at quick size, and the notebook that explores its output."""

import json
import os

import polars as pl
import pytest

from factory.demo import run_demo
from factory.laptop.toyworld.layouts import PLANS
from schemas.configs import DemoConfig

METHODS = {"DLCR", "DiVE", "Diffusion-ReID"}


@pytest.fixture(scope="module")
def quick_demo(ray_cluster, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(DemoConfig(out=out, quick=True))


def test_quick_demo_runs_every_method_and_reports(quick_demo):
    out, report = quick_demo
    text = report.read_text()
    for layout in PLANS:
        assert pl.read_parquet(out / "tables" / f"{layout}.images.parquet").height > 0
    metrics = json.loads((out / "metrics.json").read_text())
    runs = pl.DataFrame(metrics["runs"])
    assert set(runs["method"]) == METHODS
    for method in METHODS:
        # real only, + the method's images (or why it has none) and + the oracle's
        arms = set(runs.filter(pl.col("method") == method)["arm"])
        missing = metrics["arms_without_runs"][method]
        assert arms | set(missing) == {"real", "method", "oracle"}, (method, arms, missing)
        assert {"real", "oracle"} <= arms
        assert f"**{method}**" in text
        for reason in missing.values():
            assert f"+ {method}: {reason}" in text
    dlcr = runs.filter(pl.col("method") == "DLCR")
    assert dlcr["refinement"].to_list().count(True) == dlcr["arm"].n_unique()
    assert text.index("figures/headline.png") < text.index("## What the synthetic data bought")
    for figure in ("headline", "dlcr_grid", "dive_grid", "diffusion_reid_grid", "filter_scores",
                   "cmc", "contact_sheet"):
        assert (out / "figures" / f"{figure}.png").stat().st_size > 0
        assert f"figures/{figure}.png" in text
    for job in ("dlcr", "dive", "diffusion_reid"):
        assert list((out / "generation" / job / "generated").glob("*.parquet"))


def test_notebook_runs_against_the_demo_output(quick_demo):
    import nbformat
    from nbclient import NotebookClient

    out, _ = quick_demo
    notebook = nbformat.read("notebooks/explore.ipynb", as_version=4)
    os.environ["REID_FACTORY_RUN"] = str(out)
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": "notebooks"}}).execute()
    finally:
        del os.environ["REID_FACTORY_RUN"]
    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any("image/png" in output.get("data", {}) for output in outputs)
