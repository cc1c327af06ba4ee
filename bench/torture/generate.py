"""The generate part: a planned DiVE job whose generate stage runs in driver processes joined to
a local Ray, killed (the driver, or a generator actor and then the driver) and re-run; then,
finished, damaged (corrupt and deleted images, strays, a temp file), repaired with `factory
audit --repair` and re-run, ending on a clean audit."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.torture.kills import (
    PROGRESS_TIMEOUT,
    ROOT,
    SEED_OFFSETS,
    WINDOWS,
    environment,
    kill_moment,
    kill_session,
    report,
    wait_for_moment,
    wait_until,
)

# Drivers of the generate stage join the script's Ray by its GCS address (argv[1]).
DRIVER = """import json, sys, ray
from factory.generate.stage import run_generate
from schemas.generation_configs import GenerationJobConfig
ray.init(address=sys.argv[1], log_to_driver=False)
print(json.dumps(run_generate(GenerationJobConfig.model_validate_json(sys.stdin.read()))))
"""
GENERATOR_CLASS = "DiveGenerator"


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


def plant_damage(out: Path) -> int:
    """What a disk or a person does to a finished job: two committed images cut short, one
    deleted, strays (a `.DS_Store` at every level, a file in a part folder) and a temp file.
    Returns the number of images broken."""
    images = sorted((out / "images").rglob("*.jpg"))
    for image in images[:2]:
        image.write_bytes(image.read_bytes()[:100])
    images[2].unlink()
    for folder in (out / "images", images[3].parent.parent, images[3].parent, out / "generated"):
        (folder / ".DS_Store").write_bytes(b"\0")
    (out / "failed" / "notes.txt").parent.mkdir(exist_ok=True)
    (out / "failed" / "notes.txt").write_text("a person's note")
    (out / ".tasks.parquet.0000.tmp").write_bytes(b"half")
    return 3


def repair_and_regenerate(config, address: str) -> dict:
    """Plant damage, `factory audit --repair` it, run generate again: it must make exactly the
    broken images again and end with a clean audit."""
    from factory.generate.audit import repair_run

    broken = plant_damage(Path(config.out))
    repaired = repair_run(config.out)
    final = final_generate(config, address)
    remade = final.get("summary", {}).get("pending")
    final["ok"] = final["ok"] and repaired["uncommitted"] == remade == broken
    return final | {"repair": repaired, "broken": broken}


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
        final["after_damage"] = repair_and_regenerate(config, address)
        final["ok"] = final["ok"] and final["after_damage"]["ok"]
    finally:
        if started:
            ray.shutdown()
    return report("generate", records, final, [
        "round", "target", "phase", "delay_s", "event_s", "actor_pid", "driver_ended_s",
        "progress_before", "progress_after"])
