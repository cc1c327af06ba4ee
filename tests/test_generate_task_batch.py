"""What every method class shares: per-row failures, bad outputs, seeded and batch-independent
generation (the DiVE and Diffusion-ReID classes called directly, without Ray)."""

import json

import numpy as np
import pyarrow as pa
import pytest
from generation_inputs import toy_job

from factory.generate.diffusion_reid import DiffusionReidGenerator
from factory.generate.dive import DiveGenerator
from factory.generate.image_stages import decode_sources, from_pixels
from factory.generate.task_batch import OUTPUT_SCHEMA, ActorClock, TaskBatch, output_problem
from factory.plan.stage import plan_tasks


def test_nan_and_black_outputs_are_failed_rows(toy_images, toy_sd, tmp_path):
    config = toy_job("dive", toy_images("sysu_mm01"), toy_sd, tmp_path,
                     plan={"max_identities": 1, "dive": {"images_per_target": 2}})
    rows = plan_tasks(config).head(4).to_arrow()
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    rows = rows.set_column(rows.schema.get_field_index("source_path"), "source_path",
                           pa.array([None, None, None, str(empty)], pa.string()))
    clock = ActorClock()
    tasks = TaskBatch(decode_sources(rows), clock)
    good = np.full((8, 4, 3), 0.5, dtype=np.float32)
    tasks.finish(0, good)
    tasks.finish(1, np.full_like(good, np.nan))
    tasks.finish(2, np.zeros_like(good))
    assert tasks.each(tasks.source, [3]) == {}  # its source did not decode
    table = tasks.output()
    assert table.schema.equals(OUTPUT_SCHEMA)
    errors = table.column("error").to_pylist()
    assert errors[0] is None and (from_pixels(table.column("pixels")[0].as_py()) == 128).all()
    assert errors[1] == "generated image has NaN or infinite values"
    assert errors[2] == "generated image is all black"
    assert "empty.jpg" in errors[3] and table.column("pixels")[3].as_py() is None
    assert output_problem(good) is None
    # every row carries its decode time and its share of the actor's busy and idle time
    timings = [dict(row) for row in table.column("timings").to_pylist()]
    assert all(set(row) == {"decode", "actor_busy", "actor_idle"} for row in timings)
    assert clock.free_since >= tasks.started


def decoded(table, row):
    return from_pixels(table.column("pixels")[row].as_py()).astype(int)


def test_dive_images_depend_on_their_task_only(toy_images, toy_sd, tmp_path):
    config = toy_job("dive", toy_images("sysu_mm01"), toy_sd, tmp_path,
                     plan={"max_identities": 2, "dive": {"images_per_target": 2}},
                     generate={"image_format": "png"})
    tasks = plan_tasks(config).to_arrow()
    generator = DiveGenerator(config)
    batch = generator(tasks.slice(0, 4))
    alone = generator(tasks.slice(2, 1))
    assert np.abs(decoded(batch, 2) - decoded(alone, 0)).max() <= 1
    assert np.abs(decoded(batch, 0) - decoded(batch, 1)).max() > 10  # other seed, other image


@pytest.mark.parametrize("mode", ["text2img"])
def test_diffusion_reid_noise_factor_changes_the_image(toy_images, toy_sd, tmp_path, mode):
    config = toy_job("diffusion_reid", toy_images("sysu_mm01"), toy_sd, tmp_path,
                     plan={"max_identities": 1,
                           "diffusion_reid": {"images_per_identity": 1, "mode": mode}},
                     generate={"image_format": "png"})
    task = plan_tasks(config).to_arrow()
    params = json.loads(task.column("params")[0].as_py())
    louder = task.set_column(task.schema.get_field_index("params"), "params",
                             [[json.dumps(params | {"noise_scale": params["noise_scale"] + 0.3})]])
    generator = DiffusionReidGenerator(config)
    first, second, again = generator(task), generator(louder), generator(task)
    assert np.abs(decoded(first, 0) - decoded(again, 0)).max() == 0
    assert np.abs(decoded(first, 0) - decoded(second, 0)).max() > 5
