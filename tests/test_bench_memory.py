"""bench/memory.py measures an adapt and a ReID step on CPU (tiny SD stand-in, small ResNet)."""

import math

import pytest

from bench.memory import grid, measure_in_fresh_process, run_point
from factory.laptop.stand_ins.diffusion import build_tiny_sd


@pytest.mark.slow  # a fresh process and the tiny SD: about 20 s on 2 free cores
def test_points_measure_a_peak_and_a_finite_loss(tmp_path):
    sd = build_tiny_sd(tmp_path / "sd-text2img")
    adapt = next(point for point in grid(None, sd) if point["stage"] == "adapt")
    assert (adapt["size"], adapt["batch"], adapt["precision"]) == ((64, 32), 1, "fp32")
    reid = {"stage": "reid", "model": "resnet18", "size": (64, 32), "batch": 8,
            "precision": "fp32", "gradient_checkpointing": False}
    for result in (run_point(adapt), measure_in_fresh_process(reid)):
        assert "error" not in result, result
        assert 0 < result["peak_gib"] < 4 and math.isfinite(result["loss"])
        assert result["device"] == "cpu"


def test_gpu_grid_is_sd15_shaped(tmp_path):
    points = grid(tmp_path / "sd15", None)
    adapt = [point for point in points if point["stage"] == "adapt"]
    assert {point["model"] for point in adapt} == {"sd15"} and {p["rank"] for p in adapt} == {128}
    assert {(512, 256), (512, 512)} <= {point["size"] for point in adapt}
    assert {"fp32", "bf16", "fp16"} == {point["precision"] for point in points}
