"""Entry points shared by `factory train|tune` and `jobs/train.py|tune.py`: run, then report."""

import shutil
from pathlib import Path

import pandas as pd
import ray.train

from factory.atomic import atomic_folder, write_text
from factory.ray_training import HISTORY, read_history, result_path
from factory.reid.checkpoint import CHECKPOINT_CONFIG, CHECKPOINT_WEIGHTS
from factory.report.markdown import markdown_table
from factory.report.training import write_train_report
from factory.storage import storage_path
from factory.train.data import load_training_set, training_summary
from factory.train.sweep import plot_sweep, run_sweep, sweep_table
from factory.train.trainer import fit
from schemas.configs import SweepConfig, TrainConfig

MODEL_DIR = "model"


def publish_model(checkpoint: ray.train.Checkpoint, folder: Path) -> Path:
    """Copy a checkpoint's model (weights, config, history; not the optimiser state) to
    `folder`, replacing it whole."""
    with checkpoint.as_directory() as source, atomic_folder(folder) as staging:
        for name in (CHECKPOINT_WEIGHTS, CHECKPOINT_CONFIG, HISTORY):
            shutil.copy2(Path(source) / name, staging / name)
    return folder


def train(config: TrainConfig, *, restart: bool = False) -> tuple[Path, Path]:
    """Train (or resume; `restart`: start over) a run; returns its model folder and its report.
    A run started with another config is refused, listing the differences. The model folder,
    `<storage_path>/<name>/model`, holds the last checkpoint's model at a path that does not
    change from run to run (what a job's `scorer` or a fine-tune names)."""
    result = fit(config, restart=restart)
    folder = result_path(config.storage_path, result.path)
    model = publish_model(result.checkpoint, folder / MODEL_DIR)
    history = pd.DataFrame(read_history(result.checkpoint))
    summary = training_summary(config, load_training_set(config))
    report = write_train_report(history, folder, name=config.name, checkpoint=model,
                                summary=summary)
    return model, report


def sweep(config: SweepConfig, *, restart: bool = False) -> Path:
    """Run (or resume; `restart`: start over) a sweep; returns its report (results table +
    plot)."""
    results = run_sweep(config, restart=restart)
    folder = storage_path(config.storage_path).resolve() / config.name
    table = sweep_table(results, config.metric)
    plot_sweep(results, config.metric, folder / "sweep.png")
    best = results.get_best_result(metric=config.metric, mode="max", filter_nan_and_inf=True)
    lines = [f"# Sweep `{config.name}`", "", f"ASHA over {config.samples} trials, maximising "
             f"`{config.metric}`.", "", "![sweep](sweep.png)", "", markdown_table(table), "",
             f"Best trial: `{result_path(config.storage_path, best.path)}`", ""]
    report = folder / "report.md"
    write_text(report, "\n".join(lines))
    write_text(folder / "results.csv", table.write_csv())
    return report
