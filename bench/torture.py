"""Crash-and-resume torture: kill the generate stage, a ReID training run and a Tune sweep at
seeded random moments, re-run, repeat; one last uninterrupted run must then leave exactly-once
results (ARCHITECTURE.md: "killing any worker or the job at any moment and re-running must end
with exactly one committed image per task").

    python bench/torture.py --what all --rounds 10 --seed 0 --out bench/results/torture.json

Kill moments: a quarter of the rounds kill during start-up (a random time after the launch); the
rest a random time after an event: the round's first new commit (a block's manifest, a
checkpoint) or, for generate, a generator actor being alive; so rounds are cut mid-run however
fast the machine is (see WINDOWS).

generate: a planned DiVE job (96 tasks, 64 steps, blocks of 2, two actors) on a toy SYSU-MM01
  world with the smoke toy SD. Each round runs the generate stage in a driver subprocess attached
  to a local Ray this script started, then SIGKILLs either the driver or one generator actor (its
  pid from `ray.util.state.list_actors`); after an actor kill the driver is left to commit one
  more block (Ray Data replaces the actor), then killed too, so each round leaves work for the
  next. A final run, and `audit_run` must find nothing wrong.
train: `factory train --smoke` with more epochs, in its own Ray (`RAY_ADDRESS=local`), SIGKILLed
  each round with every process of its session (Ray's too); the final run must end with a
  history of epochs 1..N, each once.
sweep: `factory tune` (`Tuner.restore` on re-run) the same way; the final run must list every
  trial without error, each trial's history running 1..k once each, k its epochs in the table.

Writes JSON (per round: what was killed, when, progress before and after) and prints a table.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Drivers of the generate stage join the script's Ray by its GCS address (argv[1]).
DRIVER = """import json, sys, ray
from factory.generate.stage import run_generate
from schemas.generation_configs import GenerationJobConfig
ray.init(address=sys.argv[1], log_to_driver=False)
print(json.dumps(run_generate(GenerationJobConfig.model_validate_json(sys.stdin.read()))))
"""
GENERATOR_CLASS = "DiveGenerator"
# A ReID run as small as the slow training tests' (seconds per epoch on a CPU).
TRAIN = {"arch": "resnet10", "height": 64, "width": 32, "p": 4, "k": 2, "warmup_epochs": 0,
         "max_steps_per_epoch": 3, "eval_every": 1, "protocol": "market1501"}
SEED_OFFSETS = {"generate": 0, "train": 1, "sweep": 2}  # each part's own random stream
# part -> phase -> (share of the rounds, latest kill in seconds after the phase's event): the
# launch ("startup"), a generator actor alive ("generating"), the round's first new commit.
WINDOWS = {
    "generate": {"startup": (0.25, 15.0), "generating": (0.35, 10.0), "committing": (0.4, 2.0)},
    "train": {"startup": (0.25, 30.0), "committing": (0.75, 3.0)},
    "sweep": {"startup": (0.25, 30.0), "committing": (0.75, 4.0)},
}
# Longest wait for a round's first commit (or a live actor) before the round gives up on it.
PROGRESS_TIMEOUT = 300.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", choices=["generate", "train", "sweep", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=10, help="killed runs before the last one")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments and choices")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/torture.json")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for worlds, models and runs (default: a temp dir)")
    parser.add_argument("--identities", type=int, default=8, help="generate: identities planned")
    parser.add_argument("--images-per-target", type=int, default=6,
                        help="generate: images per identity and modality (tasks = ids x 2 x this)")
    parser.add_argument("--steps", type=int, default=64,
                        help="generate: denoising steps (enough that blocks commit over time)")
    parser.add_argument("--epochs", type=int, default=20, help="train: epochs of the run")
    parser.add_argument("--trials", type=int, default=4, help="sweep: trials")
    parser.add_argument("--sweep-epochs", type=int, default=6, help="sweep: epochs of a trial")
    return parser.parse_args(argv)


def environment(**values: str) -> dict:
    """This process's environment, read now: `ray.init` adds its auth settings to it, which
    drivers joining its Ray need."""
    return os.environ | {"HF_HUB_OFFLINE": "1"} | values


def session_pids(session: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and os.getsid(int(name)) == session:
                pids.append(int(name))
        except OSError:  # gone meanwhile
            continue
    return pids


def kill_session(process: subprocess.Popen) -> bool:
    """SIGKILL a process started in a session of its own and every process of that session:
    the Ray a job started (GCS, raylet, and workers, which make process groups of their own).
    Returns whether the process was still running."""
    running = process.poll() is None
    for attempt in range(100):
        pids = [pid for pid in session_pids(process.pid) if pid != process.pid or attempt == 0]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()
        time.sleep(0.1)
    return running


def wait_until(done, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(step)
    return done()


def kill_moment(rng: random.Random, windows: dict) -> tuple[str, float]:
    """(phase, delay): the kill comes `delay` s after the phase's event (see WINDOWS)."""
    phases = list(windows)
    phase = rng.choices(phases, weights=[windows[name][0] for name in phases])[0]
    return phase, round(rng.uniform(0.5 if phase == "startup" else 0.0, windows[phase][1]), 2)


def wait_for_moment(process: subprocess.Popen, record: dict, events: dict, start: float) -> None:
    """Sleep until the round's kill moment (or the process's end): `events[phase]()` says
    whether the phase's event has happened (the launch needs none); notes when it did."""
    if record["phase"] in events:
        happened = events[record["phase"]]
        wait_until(lambda: process.poll() is not None or happened(), PROGRESS_TIMEOUT)
        record["event_s"] = round(time.monotonic() - start, 2)
    wait_until(lambda: process.poll() is not None, record["delay_s"])


def never_lost(records: list[dict]) -> bool:
    """Whether no round ended with less done than it started with, nor than the round before."""
    counts = [count for record in records
              for count in (record["progress_before"], record["progress_after"])]
    return counts == sorted(counts)


def report(part: str, records: list[dict], final: dict, columns: list[str]) -> dict:
    final["progress_never_lost"] = never_lost(records)
    final["ok"] = final["ok"] and final["progress_never_lost"]
    print(f"\n{part}: " + " | ".join(columns))
    for row in records:
        print("  " + " | ".join(str(row.get(column, "")) for column in columns))
    shown = {key: value for key, value in final.items() if key not in ("log", "trials")}
    print(f"{part} final: {json.dumps(shown, default=str)[:600]}", flush=True)
    return {"rounds": records, "final": final, "ok": final["ok"], "kills": kill_counts(records)}


def kill_counts(records: list[dict]) -> dict:
    """Rounds that killed a generator actor (then the driver), only the driver or job, or
    nothing (it ended first)."""
    actor = sum(1 for record in records if record.get("actor_pid"))
    job = sum(1 for record in records if record["killed"] and not record.get("actor_pid"))
    return {"actor": actor, "driver_or_job": job, "none": len(records) - actor - job,
            "rounds": len(records)}


# --- generate ---------------------------------------------------------------------------------

def prepare_generate(work: Path, identities: int, images_per_target: int, steps: int):
    """A planned DiVE job on a toy SYSU-MM01 world with the smoke toy SD: small blocks, so
    commits come often, enough steps that they come over time, and two actors, so an actor
    kill leaves one working."""
    from factory.laptop.toy_jobs import toy_job, toy_world_images
    from factory.laptop.toy_sd.build import build_toy_sd
    from factory.plan.stage import run_plan

    images = toy_world_images("sysu_mm01", work / "world", identities=identities,
                              images_per_camera=1)
    toy_sd = build_toy_sd(work / "toy-sd", size="smoke", seed=0, progress=False)
    config = toy_job("dive", images, toy_sd, work / "job",
                     plan={"max_identities": identities,
                           "recipe": {"height": 64, "width": 32, "steps": steps},
                           "dive": {"images_per_target": images_per_target}},
                     generate={"batch_size": 2, "manifest_rows": 2, "actors": 2,
                               "cpus_per_actor": 0.5})
    run_plan(config)
    return config


def local_ray() -> tuple[str, bool]:
    """(GCS address of this process's Ray, whether this call started it)."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, log_to_driver=False,
                 runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}})
    return ray.get_runtime_context().gcs_address, started


def generator_pids(address: str) -> list[int]:
    from ray.util.state import list_actors

    actors = list_actors(address=address, filters=[("state", "=", "ALIVE")], detail=True)
    return sorted(actor.pid for actor in actors
                  if GENERATOR_CLASS in actor.class_name and actor.pid)


def start_driver(config, address: str, log: Path) -> subprocess.Popen:
    """The generate stage in a driver process of its own (output to `log`, so no pipe fills)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as output:
        driver = subprocess.Popen([sys.executable, "-c", DRIVER, address], stdin=subprocess.PIPE,
                                  stdout=output, stderr=subprocess.STDOUT, cwd=ROOT,
                                  env=environment(), start_new_session=True)
    driver.stdin.write(config.model_dump_json().encode())
    driver.stdin.close()
    return driver


def committed(config) -> int:
    from factory.generate.manifest import committed_task_ids

    return committed_task_ids(Path(config.out)).height


def kill_an_actor(driver, address: str, rng: random.Random, *, wait: bool) -> int | None:
    """SIGKILL a random generator actor, waiting for one to be alive if `wait` (None when
    there is none: the driver ended, or its actors finished their tasks)."""
    alive = []

    def found() -> bool:
        alive[:] = generator_pids(address)
        return driver.poll() is not None or bool(alive)

    wait_until(found, PROGRESS_TIMEOUT if wait else 0.0, step=0.5)
    if not alive or driver.poll() is not None:
        return None
    pid = rng.choice(alive)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:  # it ended between the listing and the kill
        return None
    return pid


def kill_actor_then_driver(config, driver, address: str, rng: random.Random, record: dict,
                           start: float) -> None:
    record["actor_pid"] = kill_an_actor(driver, address, rng,
                                        wait=record["phase"] == "startup")
    record["actor_killed_at_s"] = round(time.monotonic() - start, 2)
    if record["actor_pid"] is not None:
        at_kill = committed(config)
        record["committed_after_actor_kill"] = wait_until(
            lambda: driver.poll() is not None or committed(config) > at_kill, PROGRESS_TIMEOUT)


def generate_round(config, address: str, rng: random.Random, number: int) -> dict:
    target = rng.choice(["driver", "actor"])
    phase, delay = kill_moment(rng, WINDOWS["generate"])
    record = {"round": number, "target": target, "phase": phase, "delay_s": delay,
              "progress_before": committed(config)}
    start = time.monotonic()
    driver = start_driver(config, address, Path(config.out).parent / f"logs/round-{number}.log")
    try:
        events = {"generating": lambda: bool(generator_pids(address)),
                  "committing": lambda: committed(config) > record["progress_before"]}
        wait_for_moment(driver, record, events, start)
        if target == "actor":
            kill_actor_then_driver(config, driver, address, rng, record, start)
    finally:
        record["killed"] = kill_session(driver)
    record["driver_ended_s"] = round(time.monotonic() - start, 2)
    # The dead driver's actors go with it; wait, so the next round starts with a free cluster.
    record["actors_gone"] = wait_until(lambda: not generator_pids(address), 60, step=0.5)
    record["progress_after"] = committed(config)
    return record


def final_generate(config, address: str) -> dict:
    from factory.generate.audit import audit_run

    log = Path(config.out).parent / "logs/final.log"
    driver = start_driver(config, address, log)
    driver.wait(timeout=900)
    if driver.returncode != 0:
        return {"exit": driver.returncode, "log": log.read_text()[-2000:], "ok": False}
    summary = next(json.loads(line) for line in reversed(log.read_text().splitlines())
                   if line.startswith('{"planned"'))
    audit = audit_run(config.out)
    ok = audit.ok and audit.planned == audit.committed == summary["committed"]
    return {"exit": 0, "summary": summary, "audit": audit.as_dict(), "ok": ok}


def torture_generate(work: Path, *, rounds: int, seed: int, identities: int = 8,
                     images_per_target: int = 6, steps: int = 64) -> dict:
    """Kill and re-run the generate stage `rounds` times, then run it to the end and audit."""
    import ray

    rng = random.Random(seed + SEED_OFFSETS["generate"])
    config = prepare_generate(work, identities, images_per_target, steps)
    address, started = local_ray()
    records = []
    try:
        for number in range(1, rounds + 1):
            records.append(record := generate_round(config, address, rng, number))
            actor = f"actor {record['actor_pid']} killed at {record['actor_killed_at_s']} s, " \
                if record.get("actor_pid") else ""
            print(f"generate round {number}/{rounds} ({record['phase']}): {actor}driver "
                  f"{'killed' if record['killed'] else 'had ended'} at {record['driver_ended_s']}"
                  f" s, committed {record['progress_before']} -> {record['progress_after']}",
                  flush=True)
        final = final_generate(config, address)
    finally:
        if started:
            ray.shutdown()
    return report("generate", records, final, [
        "round", "target", "phase", "delay_s", "event_s", "actor_pid", "driver_ended_s",
        "progress_before", "progress_after"])


# --- train and sweep: a `factory` command in its own Ray, killed with its whole session -------

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
    from factory.train.loop import HISTORY

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


PARTS = {"generate": torture_generate, "train": torture_train, "sweep": torture_sweep}


def run_parts(what: str, work: Path, args: argparse.Namespace) -> dict:
    sizes = {"generate": {"identities": args.identities,
                          "images_per_target": args.images_per_target, "steps": args.steps},
             "train": {"epochs": args.epochs},
             "sweep": {"trials": args.trials, "epochs": args.sweep_epochs}}
    results = {}
    for part in PARTS if what == "all" else [what]:
        start = time.perf_counter()
        results[part] = PARTS[part](work / part, rounds=args.rounds, seed=args.seed,
                                    **sizes[part])
        results[part]["seconds"] = round(time.perf_counter() - start, 1)
    return results


def main(argv=None) -> int:
    import tempfile

    from factory.atomic import write_text

    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="torture-") as temporary:
        work = args.work or Path(temporary)
        results = run_parts(args.what, work, args)
    for result in results.values():
        result |= {"seed": args.seed, "rounds_asked": args.rounds}
    # One part run alone replaces that part in an earlier file; the others stay.
    earlier = json.loads(args.out.read_text()) if args.what != "all" and args.out.is_file() \
        else {}
    parts = earlier.get("parts", {}) | results
    summary = {"rounds": args.rounds, "seed": args.seed,
               "ok": all(part["ok"] for part in parts.values()),
               "parts": parts}
    write_text(args.out, json.dumps(summary, indent=1, default=str))
    print(f"wrote {args.out}: " + ", ".join(f"{part} {'ok' if result['ok'] else 'FAILED'}"
                                            for part, result in parts.items()))
    return 0 if all(result["ok"] for result in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
