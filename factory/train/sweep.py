"""ASHA sweeps on Ray Tune: every trial builds a Ray Train `TorchTrainer` (Train V2 + Tune).

An interrupted sweep resumes with `Tuner.restore`; each unfinished trial's Ray Train run then
resumes from its own last checkpoint (same storage path and name). `Tuner.restore` keeps the
search space and trials it was started with, so a sweep re-run with another config is refused
(`factory.run_record`) rather than resumed as the old one.
"""

from pathlib import Path

import numpy as np
import polars as pl
from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback
from ray.tune.schedulers import ASHAScheduler
from ray.util import placement_group_table, remove_placement_group

from factory.local_ray import init_ray
from factory.report.training import plt, save_figure
from factory.run_record import check_run_record, run_record
from factory.storage import storage_path
from factory.train.trainer import build_trainer, resolved
from schemas.configs import SweepConfig, TrainConfig

SWEPT = ("lr", "weight_decay", "synthetic_ratio", "filter_threshold")


def search_space(config: SweepConfig) -> dict:
    space = {}
    for name in ("lr", "weight_decay"):
        if getattr(config, name) is not None:
            space[name] = tune.loguniform(*getattr(config, name))
    for name in ("synthetic_ratio", "filter_threshold"):
        if getattr(config, name) is not None:
            space[name] = tune.choice(getattr(config, name))
    return space


def _trial(params: dict) -> None:
    base, sweep_folder = params.pop("base"), params.pop("sweep_folder")
    trial = tune.get_context()
    # Beside the trial's Tune files in the sweep's storage (the trial folder Tune gives is a
    # local staging folder when that storage is a bucket).
    config = TrainConfig.model_validate(base | params | {
        "name": trial.get_trial_id(),
        "storage_path": f"{sweep_folder}/{Path(trial.get_trial_dir()).name}/train",
        "eval_every": 1,  # ASHA compares every rung, so every epoch reports the metric
    })
    build_trainer(config, callbacks=[TuneReportCallback()]).fit()


def _tuner_args(config: SweepConfig) -> dict:
    # The trial function only drives its Ray Train run; the run's workers hold the resources.
    trainable = tune.with_resources(_trial, {"CPU": 0.01})
    # max_t one past the last epoch: a trial that trains to the end returns by itself. Stopped
    # by the scheduler at max_t instead, its actor would be killed before its Ray Train
    # controller removes the workers' placement group, which then holds their CPUs until the
    # driver exits (ray-project/ray#54305) and can starve the next trial.
    scheduler = ASHAScheduler(time_attr="epoch", max_t=config.train.epochs + 1,
                              grace_period=config.grace_period,
                              reduction_factor=config.reduction_factor)
    return {"trainable": trainable, "scheduler": scheduler}


def run_sweep(config: SweepConfig, *, restart: bool = False) -> tune.ResultGrid:
    """Run the sweep, or resume it if one of the same name exists under storage_path (refused
    if it was started with another config; `restart`: start it over)."""
    path = storage_path(config.storage_path).resolve() / config.name
    args = _tuner_args(config)
    check_run_record(path, run_record(config), restart=restart, name=config.name,
                     started=tune.Tuner.can_restore(str(path)))
    if tune.Tuner.can_restore(str(path)):
        tuner = tune.Tuner.restore(str(path), trainable=args["trainable"], resume_errored=True)
    else:
        np.random.seed(config.seed)
        tuner = tune.Tuner(
            args["trainable"],
            param_space={"base": resolved(config.train).model_dump(mode="json"),
                         "sweep_folder": str(path),
                         **search_space(config)},
            tune_config=tune.TuneConfig(metric=config.metric, mode="max",
                                        num_samples=config.samples, scheduler=args["scheduler"],
                                        max_concurrent_trials=config.max_concurrent),
            run_config=tune.RunConfig(name=config.name, storage_path=str(path.parent)),
        )
    init_ray()  # what Tuner.fit would do; the groups are counted first
    before = set(placement_group_table())
    try:
        return tuner.fit()
    finally:
        _remove_leaked_placement_groups(before)


def _remove_leaked_placement_groups(before: set[str]) -> None:
    """Remove the workers' placement groups of trials the scheduler stopped early (their Ray
    Train controllers died with the trial actors before removing them, ray-project/ray#54305):
    every group made during the sweep and still there once it is over."""
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup

    for group_id, group in placement_group_table().items():
        if group_id not in before and group["state"] == "CREATED":
            remove_placement_group(PlacementGroup(PlacementGroupID(bytes.fromhex(group_id))))


def _trial_name(result) -> str:
    return result.metrics.get("trial_id") or Path(result.path).name


def sweep_table(results: tune.ResultGrid, metric: str) -> pl.DataFrame:
    """One row per trial: swept values, epochs run and the best metric, best first."""
    rows = []
    for result in results:
        history = result.metrics_dataframe
        row = {"trial": _trial_name(result)}
        row |= {name: result.config.get(name) for name in SWEPT if name in result.config}
        row["epochs"] = int(history["epoch"].max()) if history is not None else 0
        best = history[metric].max() if history is not None and metric in history else None
        row[f"best_{metric}"] = float(best) if best is not None else None
        row["error"] = str(result.error)[:80] if result.error else ""
        rows.append(row)
    return pl.DataFrame(rows).sort(f"best_{metric}", descending=True, nulls_last=True)


def plot_sweep(results: tune.ResultGrid, metric: str, path: Path) -> Path:
    """The metric of every trial against epoch (ASHA's early stops show as short lines)."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for result in results:
        history = result.metrics_dataframe
        if history is None or metric not in history:
            continue
        known = history[["epoch", metric]].dropna()
        swept = ", ".join(f"{name}={result.config[name]:.2g}" for name in SWEPT
                          if name in result.config)
        axis.plot(known["epoch"], known[metric], marker="o",
                  label=f"{_trial_name(result)} ({swept})")
    axis.set_xlabel("epoch")
    axis.set_ylabel(metric)
    axis.legend(fontsize="small")
    axis.set_title(f"sweep: {metric} per trial")
    return save_figure(figure, path)
