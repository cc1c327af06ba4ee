"""Killing a run at a seeded random moment and waiting for events: what every part of the
torture shares, and its report."""

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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
