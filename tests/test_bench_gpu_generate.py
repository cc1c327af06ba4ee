"""bench/gpu_generate.py keeps working on a CPU with the tiny stand-ins (its --smoke setting)."""

import json

import pyarrow as pa
import pytest

from bench.gpu_generate import main, task_batch, variants
from schemas.tables import TASKS
from schemas.validate import validate


@pytest.mark.slow  # 7 s on an idle 2-core machine, 30 s on a busy one: 5 pipeline loads
def test_smoke_run_measures_each_setting_and_the_actor(tmp_path):
    out = tmp_path / "gpu_generate.json"
    assert main(["--smoke", "--batch-sizes", "1", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert [(row["attention"], row["channels_last"], row["batch"]) for row in rows] == \
        [("sdpa", False, 1), ("classic", False, 1), ("sdpa", True, 1), ("sdpa", False, 2)]
    assert all(row["images_per_s"] > 0 and row["unet_tflop_per_image"] > 0 for row in rows)
    assert result["device"] == "cpu" and rows[0]["peak_share"] is None
    (comparison,) = result["actor_vs_bare"]
    assert comparison["actor_errors"] == [] and comparison["ratio_actor_to_bare"] > 0


def test_sweep_changes_one_setting_at_a_time():
    from bench.gpu_generate import parse_args

    settings = variants(parse_args(["--dtypes", "bfloat16", "float16", "--batch-sizes", "4", "8"]))
    base = settings[0]
    assert base == {"dtype": "bfloat16", "attention": "sdpa", "channels_last": False,
                    "compile": False, "batch": 4}
    assert all(sum(setting[key] != base[key] for key in base) == 1 for setting in settings[1:])
    assert {"compile": True} | {k: v for k, v in base.items() if k != "compile"} in settings


def test_actor_batch_is_a_valid_tasks_table():
    rows = validate(pa.Table.from_pydict(task_batch(3, 512, 256, 20), schema=TASKS), "tasks")
    assert rows.num_rows == 3 and json.loads(rows["params"][0].as_py())["height"] == 512
