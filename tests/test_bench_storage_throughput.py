"""bench/storage_throughput.py runs end to end on a tiny job: both sides generate the same images,
the disk side sends the S3 server nothing and the s3 side puts every image and part file."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # its own Ray and S3 server: 130 s on this 2-core host at load ~30
def test_tiny_run_compares_disk_and_bucket(tmp_path):
    out = tmp_path / "storage_throughput.json"
    command = [sys.executable, "-m", "bench.storage_throughput", "--out", str(out),
               "--work", str(tmp_path / "work"), "--identities", "2",
               "--images-per-identity", "5", "--batch-size", "2", "--height", "64",
               "--width", "32", "--steps", "2", "--repeats", "1", "--poll", "0.05"]
    # a process of its own: the bench points AWS_ENDPOINT_URL at its server and starts its Ray
    run = subprocess.run(command, cwd=ROOT, env=os.environ | {"RAY_ADDRESS": "local"},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["images"] == 10 and len(result["round_ratios"]) == 1
    assert result["median_round_ratio"] > 0
    assert all(rate > 0 for rate in result["median_images_per_second"].values())
    written = result["written_per_run"]
    assert written["disk"]["objects"] == written["s3"]["objects"] == 10 + 5  # images + parts
    assert result["where"]["s3"].startswith("s3://") and result["requests_per_run"]["disk"] == {}
    assert result["requests_per_run"]["s3"]["PUT"] >= 15
    assert result["inputs"]["disk"]["objects"] == result["inputs"]["s3"]["objects"]
