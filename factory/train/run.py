"""Entry points shared by `factory train|tune` and `jobs/train.py|tune.py`: run, then report."""

from pathlib import Path

import pandas as pd

from factory.atomic import write_text
from factory.ray_training import read_history
from factory.report.markdown import markdown_table
from factory.report.training import write_train_report
from factory.train.sweep import plot_sweep, run_sweep, sweep_table
from factory.train.trainer import fit
from schemas.configs import SweepConfig, TrainConfig


def train(config: TrainConfig) -> tuple[Path, Path]:
    """Train (or resume) a run; returns its last checkpoint folder and its report."""
    result = fit(config)
    history = pd.DataFrame(read_history(result.checkpoint))
    report = write_train_report(history, Path(result.path), name=config.name,
                                checkpoint=result.checkpoint.path)
    return Path(result.checkpoint.path), report


def sweep(config: SweepConfig) -> Path:
    """Run (or resume) a sweep; returns its report (results table + plot)."""
    results = run_sweep(config)
    folder = Path(config.storage_path).resolve() / config.name
    table = sweep_table(results, config.metric)
    plot_sweep(results, config.metric, folder / "sweep.png")
    best = results.get_best_result(metric=config.metric, mode="max", filter_nan_and_inf=True)
    lines = [f"# Sweep `{config.name}`", "", f"ASHA over {config.samples} trials, maximising "
             f"`{config.metric}`.", "", "![sweep](sweep.png)", "", markdown_table(table), "",
             f"Best trial: `{best.path}`", ""]
    report = folder / "report.md"
    write_text(report, "\n".join(lines))
    table.write_csv(folder / "results.csv")
    return report
