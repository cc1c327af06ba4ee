"""The train and sweep parts: `factory train --smoke` and `factory tune`, each in its own Ray
(`RAY_ADDRESS=local`), SIGKILLed with every process of its session and re-run."""

import json
import random
import subprocess
import sys
import time
from pathlib import Path

from bench.torture.kills import (
    ROOT,
    SEED_OFFSETS,
    WINDOWS,
    environment,
    kill_moment,
    kill_session,
    report,
    wait_for_moment,
)
from factory.laptop.presets import smoke_preset

# A ReID run as small as the slow training tests' (seconds per epoch on a CPU).
TRAIN = smoke_preset("train") | {"max_steps_per_epoch": 3, "protocol": "market1501"}


def factory_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "factory.cli", *args]


def kill_rounds(part: str, command: list[str], progress, *, rounds: int,
                rng: random.Random) -> list[dict]:
    """Start `command` and SIGKILL its session at a random moment, `rounds` times.
    `progress()` counts what is committed (epochs in checkpoints); no round may lower it."""
    records = []
    for number in range(1, rounds + 1):
        phase, delay = kill_moment(rng, WINDOWS[part])
        record = {"round": number, "phase": phase, "delay_s": delay,
                  "progress_before": progress()}
        start = time.monotonic()
        job = subprocess.Popen(command, cwd=ROOT, env=environment(RAY_ADDRESS="local"),
                               start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            events = {"committing": lambda before=record["progress_before"]: progress() > before}
            wait_for_moment(job, record, events, start)
        finally:
            record["killed"] = kill_session(job)
        record["ended_s"] = round(time.monotonic() - start, 2)
        record["progress_after"] = progress()
        records.append(record)
        print(f"{part} round {number}/{rounds} ({phase}): "
              f"{'killed' if record['killed'] else 'had ended'} at {record['ended_s']} s, "
              f"epochs {record['progress_before']} -> {record['progress_after']}", flush=True)
    return records


def history(run: Path) -> list[dict]:
    """The epoch rows of a Ray Train run's last whole checkpoint ([] before the first)."""
    from factory.ray_training import HISTORY

    for checkpoint in sorted(run.glob("checkpoint_*"), reverse=True):
        try:  # a checkpoint being copied in may not hold its history yet
            return json.loads((checkpoint / HISTORY).read_text())
        except (OSError, ValueError):
            continue
    return []


def final_run(command: list[str]) -> dict:
    result = subprocess.run(command, cwd=ROOT, env=environment(RAY_ADDRESS="local"),
                            capture_output=True, text=True, timeout=1800)
    return {"exit": result.returncode, "log": result.stderr[-2000:] if result.returncode else ""}


def torture_train(work: Path, *, rounds: int, seed: int, epochs: int = 20) -> dict:
    """Kill `factory train --smoke` `rounds` times, finish it, check its history."""
    import yaml

    from factory.laptop.toy_jobs import toy_world_images

    rng = random.Random(seed + SEED_OFFSETS["train"])
    images = toy_world_images("market1501", work / "world")
    config = work / "train.yaml"
    config.write_text(yaml.safe_dump(TRAIN | {"images": str(images), "epochs": epochs,
                                              "storage_path": str(work), "name": "torture"}))
    command = factory_command("train", str(config), "--smoke", "--set", f"epochs={epochs}",
                              "--set", f"max_steps_per_epoch={TRAIN['max_steps_per_epoch']}")
    run = work / "torture"
    records = kill_rounds("train", command, lambda: len(history(run)), rounds=rounds, rng=rng)
    final = final_run(command)
    final["epochs"] = [row["epoch"] for row in history(run)]
    final["ok"] = final["exit"] == 0 and final["epochs"] == list(range(1, epochs + 1))
    return report("train", records, final, ["round", "phase", "delay_s", "event_s",
                                            "ended_s", "killed", "progress_before",
                                            "progress_after"])


def sweep_histories(folder: Path) -> dict[str, list[int]]:
    """Each trial's epochs, from its Ray Train run's last checkpoint."""
    return {run.name: [row["epoch"] for row in history(run)]
            for run in folder.glob("*/train/*") if run.is_dir()}


def check_sweep(folder: Path, trials: int) -> list[str]:
    """Problems of a finished sweep: missing or failed trials, epochs lost or run twice."""
    import polars as pl

    if not (folder / "results.csv").is_file():
        return ["no results.csv"]
    table = pl.read_csv(folder / "results.csv")
    problems = [] if table.height == trials else [f"{table.height} trials, not {trials}"]
    problems += [f"trial {row['trial']}: {row['error']}" for row in
                 table.filter(pl.col("error").fill_null("") != "").iter_rows(named=True)]
    histories = sweep_histories(folder)
    for row in table.iter_rows(named=True):
        epochs = histories.get(row["trial"])
        if epochs != list(range(1, row["epochs"] + 1)):
            problems.append(f"trial {row['trial']}: table says {row['epochs']} epochs, its "
                            f"checkpoint history has {epochs}")
    return problems


def torture_sweep(work: Path, *, rounds: int, seed: int, trials: int = 4,
                  epochs: int = 6) -> dict:
    """Kill `factory tune` `rounds` times, finish it (Tuner.restore), check every trial."""
    import yaml

    from factory.laptop.toy_jobs import toy_world_images

    rng = random.Random(seed + SEED_OFFSETS["sweep"])
    images = toy_world_images("market1501", work / "world")
    train = TRAIN | {"images": str(images), "epochs": epochs, "max_steps_per_epoch": 2}
    config = work / "sweep.yaml"
    config.write_text(yaml.safe_dump({"train": train, "samples": trials, "name": "sweep",
                                      "storage_path": str(work)}))
    command = factory_command("tune", str(config))
    folder = work / "sweep"
    records = kill_rounds("sweep", command,
                          lambda: sum(map(len, sweep_histories(folder).values())),
                          rounds=rounds, rng=rng)
    final = final_run(command)
    final["problems"] = check_sweep(folder, trials)
    final["trials"] = sweep_histories(folder)
    final["ok"] = final["exit"] == 0 and not final["problems"]
    return report("sweep", records, final, ["round", "phase", "delay_s", "event_s",
                                            "ended_s", "killed", "progress_before",
                                            "progress_after"])
