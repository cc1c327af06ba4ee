"""The adapt stage on the smoke toy SD and a small toy SYSU-MM01 world, on a real local Ray."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from factory.adapt.data import load_pixels, select_images, step_batch
from factory.adapt.model import build_parts, denoising_loss
from factory.adapt.stage import run_adapt
from factory.diffusion.loader import load_pipeline
from factory.laptop.toy_sd.build import toy_sd_path
from factory.ray_training import HISTORY
from factory.report.adapt import LOSS_PNG, REPORT, SAMPLES_PNG
from factory.run_record import RUN_RECORD
from schemas.configs import AdaptConfig, ConfigError, load_config

JOBS = Path(__file__).parent.parent / "jobs"
TINY = {"steps": 2, "batch_size": 2, "height": 64, "width": 32, "rank": 4,
        "checkpoint_every": 1, "report_identities": 2, "report_steps": 2, "lr": 1e-3,
        "token_lr": 1e-2}


@pytest.fixture(scope="module")
def sysu(toy_images):
    return toy_images("sysu_mm01")


def adapt_config(toy_sd, sysu, tmp_path, **changes) -> AdaptConfig:
    return AdaptConfig(**{"model": str(toy_sd_path(toy_sd, "text2img")), "images": sysu,
                          "out": tmp_path / "adapters", "storage_path": tmp_path / "runs",
                          "codes": {"ir": "infrared"}, **TINY, **changes})


def test_images_codes_and_batches(toy_sd, sysu, tmp_path):
    images = select_images(adapt_config(toy_sd, sysu, tmp_path, identities=[2, 5]))
    assert set(images.pids) == {2, 5} and images.tokens == {2: "<id_2>", 5: "<id_5>"}
    assert images.codes == {"ir": "infrared", "rgb": "rgb"}
    config = adapt_config(toy_sd, sysu, tmp_path, batch_size=8)
    images = select_images(config)
    rows, prompts = step_batch(images, config, 3)
    again, _ = step_batch(images, config, 3)
    assert np.array_equal(rows, again)  # a pure function of (seed, step)
    halves = [step_batch(images, config, 3, rank=rank, world=2) for rank in (0, 1)]
    assert sorted(np.concatenate([half[0] for half in halves])) == sorted(rows)
    for row, prompt in zip(rows, prompts, strict=True):
        code = images.codes[images.code_names[row]]
        assert prompt in (code, f"a {code} photo of a <id_{images.pids[row]}> person")
    never = adapt_config(toy_sd, sysu, tmp_path, identity_prompt_probability=0.0)
    assert all("<id_" not in prompt for prompt in step_batch(images, never, 0)[1])
    cameras = select_images(adapt_config(toy_sd, sysu, tmp_path, code_by="camera", codes={}))
    assert set(cameras.codes) == {"rgb1", "rgb2", "ir3", "rgb4", "rgb5", "ir6"}


def test_bad_identities_and_codes_are_named(toy_sd, sysu, tmp_path):
    with pytest.raises(ValueError, match=r"pids \[999\] have no training images"):
        select_images(adapt_config(toy_sd, sysu, tmp_path, identities=[1, 999]))
    with pytest.raises(ValueError, match=r"'codes': \['ir7'\] name no camera"):
        select_images(adapt_config(toy_sd, sysu, tmp_path, code_by="camera", codes={"ir7": "x"}))
    with pytest.raises(ValueError, match="'ir3' is not a modality name"):
        adapt_config(toy_sd, sysu, tmp_path, codes={"ir3": "x"})
    with pytest.raises(ValueError, match="multiple of 8"):
        adapt_config(toy_sd, sysu, tmp_path, height=60)
    with pytest.raises(ConfigError, match="'model': out/no/sd is neither a model folder"):
        run_adapt(adapt_config(toy_sd, sysu, tmp_path, model="out/no/sd"))


def test_only_identity_rows_and_lora_train(toy_sd, sysu, tmp_path):
    config = adapt_config(toy_sd, sysu, tmp_path, identities=[1, 2])
    images = select_images(config)
    parts = build_parts(config, images.tokens)
    frozen = {name: p.detach().clone() for name, p in parts.model.named_parameters()}
    rows, lora = parts.trainable()
    optimizer = torch.optim.AdamW([*rows, *lora], lr=1e-2, weight_decay=0.1)
    for step in range(2):
        batch, prompts = step_batch(images, config, step)
        pixels = load_pixels([images.paths[row] for row in batch], config.height, config.width)
        loss = denoising_loss(parts, parts.model, pixels, prompts,
                              torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    changed = {name for name, p in parts.model.named_parameters()
               if not torch.equal(p, frozen[name])}
    rows_name = next(name for name in changed if name.endswith("token_embedding.rows"))
    lora_names = changed - {rows_name}
    assert lora_names and all(".lora_" in name for name in lora_names)
    assert parts.embedding.rows.shape[0] == 2  # one row per adapted identity


def test_adapt_on_ray_resumes_and_reports(ray_cluster, toy_sd, sysu, tmp_path):
    config = adapt_config(toy_sd, sysu, tmp_path, name="tiny")
    adapters, report = run_adapt(config)
    run = tmp_path / "runs" / "tiny"
    assert adapters.path == tmp_path / "adapters" and len(adapters.tokens) == 8
    assert {LOSS_PNG, SAMPLES_PNG, REPORT} <= {p.name for p in adapters.path.iterdir()}
    assert "![samples](samples.png)" in report.read_text()
    assert "images in fp32." in report.read_text()  # precision auto, on CPU
    first = json.loads(_last_history(run))
    assert len(first) == 2
    # More steps, same run: continues from step 2 (the first two losses are kept, not redone).
    more, _ = run_adapt(config.model_copy(update={"steps": 4, "report_identities": 0}))
    history = json.loads(_last_history(run))
    assert len(history) == 4 and history[:2] == first
    assert more.fingerprint != adapters.fingerprint
    # The adapted pipeline keeps the base vocabulary's rows exactly.
    base = load_pipeline("text2img", config.model)
    adapted = load_pipeline("text2img", config.model, adapters=more.path)
    vocabulary = base.text_encoder.get_input_embeddings().weight.shape[0]
    table = adapted.text_encoder.get_input_embeddings().weight
    assert torch.equal(table[:vocabulary], base.text_encoder.get_input_embeddings().weight)
    assert not torch.equal(table[adapted.tokenizer.convert_tokens_to_ids("<id_1>")],
                           table[adapted.tokenizer.convert_tokens_to_ids("<id_2>")])
    # A re-run that would train something else is refused before Ray starts.
    with pytest.raises(ConfigError, match=r"another config \(rank: 4 -> 8\)"):
        run_adapt(config.model_copy(update={"rank": 8}))
    assert (run / RUN_RECORD).is_file()


def _last_history(run: Path) -> str:
    checkpoints = sorted((p for p in run.glob("checkpoint_*") if p.is_dir()),
                         key=lambda p: p.stat().st_mtime)
    return (checkpoints[-1] / HISTORY).read_text()


def test_shipped_configs_and_job_script(tmp_path):
    for name in ("adapt_sysu_toy", "adapt_sysu_mm01", "adapt_llcm"):
        config = load_config(AdaptConfig, JOBS / "configs" / f"{name}.yaml")
        if name != "adapt_sysu_toy":
            assert (config.rank, config.lr, config.batch_size) == (128, 5e-5, 16)
            assert (config.height, config.width) == (512, 256)
    script = str(JOBS / "adapt.py")
    help_text = subprocess.run([sys.executable, script, "--help"], capture_output=True,
                               text=True, check=True).stdout
    assert "--smoke" in help_text and "--set" in help_text
    bad = tmp_path / "bad.yaml"
    bad.write_text("images: x.parquet\nout: o\nrank: 0\n")
    result = subprocess.run([sys.executable, script, str(bad)], capture_output=True, text=True)
    assert result.returncode == 2 and "field 'rank'" in result.stderr


@pytest.mark.slow
def test_killed_job_resumes_exactly(toy_sd, sysu, tmp_path):
    """Kill `jobs/adapt.py` after its first checkpoint; the re-run finishes with the losses an
    unbroken run has (batches and noise are functions of the step)."""
    def config_file(name: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        config = adapt_config(toy_sd, sysu, tmp_path, name=name, steps=12, checkpoint_every=3,
                              out=tmp_path / name, report_identities=0)
        path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        return path

    command = [sys.executable, str(JOBS / "adapt.py"), str(config_file("killed"))]
    job = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((tmp_path / "runs" / "killed").glob("checkpoint_*/history.json")):
        assert job.poll() is None and time.monotonic() < deadline
        time.sleep(0.5)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    subprocess.run(command, check=True, capture_output=True)
    subprocess.run([sys.executable, str(JOBS / "adapt.py"), str(config_file("unbroken"))],
                   check=True, capture_output=True)
    resumed = json.loads(_last_history(tmp_path / "runs" / "killed"))
    unbroken = json.loads(_last_history(tmp_path / "runs" / "unbroken"))
    assert len(resumed) == 12 and np.allclose(resumed, unbroken, rtol=1e-5)
