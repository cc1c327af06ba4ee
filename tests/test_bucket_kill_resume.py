"""A full smoke job with every path in a bucket (issue 17, part 3): `jobs/generate.py --smoke
--out s3://...` as a user runs it (the toy world, its tables, the toy SD, the scorer's run, the
prompts, tasks, manifests and images all on the session's S3 server), SIGKILLed with its whole
session (its own Ray too) at a seeded random moment after its first committed block, run again,
which resumes, and audited: exactly one committed image per task, no orphans, nothing left over.
"""

import json
import random
import subprocess
import sys
import time

import pytest

from bench.torture.kills import (
    PROGRESS_TIMEOUT,
    ROOT,
    environment,
    kill_moment,
    kill_session,
    wait_for_moment,
)
from factory.generate.audit import audit_run
from factory.generate.manifest import committed_task_ids, read_manifest
from factory.storage import storage_path

METHOD = "diffusion_reid"
# 24 tasks of 64 steps in blocks of 2: generation takes a while (~30 s) and commits as it goes.
JOB_OVERRIDES = ["plan.max_identities=3", "plan.diffusion_reid.images_per_identity=8",
                 "plan.recipe.steps=64", "generate.batch_size=2", "generate.manifest_rows=2"]
# The kill comes 0-4 s after the first block is committed.
KILL_WINDOW = {"committing": (1.0, 4.0)}
SEED = 17


def start_job(out: str, log) -> subprocess.Popen:
    """The smoke job in a session of its own, with a Ray of its own (RAY_ADDRESS=local)."""
    command = [sys.executable, "jobs/generate.py", "--smoke", "--out", out,
               f"jobs/configs/{METHOD}_toy.yaml", "--stages", "describe", "plan", "generate"]
    for override in JOB_OVERRIDES:
        command += ["--set", override]
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env=environment(RAY_ADDRESS="local"), start_new_session=True)


def committed(job) -> int:
    return committed_task_ids(job).height if (job / "tasks.parquet").exists() else 0


@pytest.mark.slow
def test_a_smoke_job_in_a_bucket_killed_and_resumed_ends_audited_clean(bucket, tmp_path):
    out = f"{bucket}/smoke"
    job = storage_path(out) / "generation" / METHOD
    phase, delay = kill_moment(random.Random(SEED), KILL_WINDOW)
    record = {"phase": phase, "delay_s": delay}
    started = time.monotonic()
    with open(tmp_path / "killed.log", "wb") as log:
        process = start_job(out, log)
        try:
            wait_for_moment(process, record, {"committing": lambda: committed(job) > 0}, started)
        finally:
            running = kill_session(process)
    record["committed_when_killed"] = committed(job)
    log_text = (tmp_path / "killed.log").read_text()[-3000:]
    assert running, f"the job ended before it was killed:\n{log_text}"
    assert record["event_s"] < PROGRESS_TIMEOUT, f"nothing committed:\n{log_text}"

    with open(tmp_path / "resumed.log", "wb") as log:
        resumed = start_job(out, log)
        try:
            resumed.wait(timeout=900)
        finally:
            kill_session(resumed)
    log_text = (tmp_path / "resumed.log").read_text()
    assert resumed.returncode == 0, log_text[-3000:]
    summary, _ = json.JSONDecoder().raw_decode(log_text[log_text.rindex('{\n  "config"'):])

    audit = audit_run(job)
    seconds = round(time.monotonic() - started, 1)
    print(json.dumps(record | {"resumed": summary["generate"], "seconds": seconds}))
    assert audit.ok, audit.problems
    assert audit.planned == 24 and 0 < record["committed_when_killed"] < audit.planned
    assert summary["generate"]["pending"] == audit.planned - record["committed_when_killed"]
    assert audit.planned == audit.committed == audit.generated == audit.image_files
    assert audit.failed == 0 and committed_task_ids(job).height == audit.planned
    assert all(path.startswith(f"{job}/images/")
               for path in read_manifest(job).column("path").to_pylist())
