"""The README's demo, quick size: every toy layout rendered, read back, reported with a picture."""

import polars as pl

from factory.demo import run_demo
from factory.toyworld.layouts import PLANS
from schemas.configs import DemoConfig


def test_quick_demo_writes_tables_and_a_report(ray_cluster, tmp_path):
    report = run_demo(DemoConfig(out=tmp_path, quick=True))
    text = report.read_text()
    assert "![" in text and (tmp_path / "contact_sheet.png").stat().st_size > 0
    for layout in PLANS:
        table = pl.read_parquet(tmp_path / "tables" / f"{layout}.images.parquet")
        assert table.height > 0 and f"| {layout} |" in text
    assert "rank-1 **" in text and (tmp_path / "runs" / "bot-market1501" / "curves.png").exists()
