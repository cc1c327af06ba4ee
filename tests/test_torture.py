"""The crash-and-resume torture (bench/torture/), small: the generate stage killed ten times
(driver or a generator actor), a training run and a sweep three times each; the last run must
leave exactly-once results."""

import pytest

from bench.torture import torture_generate, torture_sweep, torture_train
from factory.generate.audit import audit_run


@pytest.mark.slow
def test_generate_survives_ten_kills(ray_cluster, tmp_path):
    result = torture_generate(tmp_path, rounds=10, seed=0)
    final = result["final"]
    assert result["ok"], final
    assert final["audit"]["problems"] == [] and final["progress_never_lost"]
    assert final["audit"]["planned"] == final["audit"]["committed"] == 8 * 2 * 6
    assert audit_run(tmp_path / "job").ok
    kills = result["kills"]
    assert kills["rounds"] == 10 and kills["actor"] >= 1 and kills["driver_or_job"] >= 1
    # Rounds were cut mid-job: some committed part of the job, not all of it.
    cut = [r for r in result["rounds"] if r["progress_before"] < r["progress_after"] < 96]
    assert len(cut) >= 3, result["rounds"]


@pytest.mark.slow
def test_training_resumes_after_three_kills(tmp_path):
    result = torture_train(tmp_path, rounds=3, seed=0, epochs=6)
    assert result["ok"], result["final"]
    assert result["final"]["epochs"] == [1, 2, 3, 4, 5, 6]
    assert result["kills"]["driver_or_job"] >= 1


@pytest.mark.slow
def test_sweep_restores_after_three_kills(tmp_path):
    result = torture_sweep(tmp_path, rounds=3, seed=0, trials=2, epochs=2)
    assert result["ok"], result["final"]
    assert len(result["final"]["trials"]) == 2 and result["kills"]["driver_or_job"] >= 1
