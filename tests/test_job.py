"""The generation job: shipped configs, overrides, the CLI stages and jobs/generate.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from generation_inputs import toy_job

from factory.cli import main
from factory.job import run_job
from schemas.config_base import ConfigError, apply_overrides, load_config
from schemas.generation_configs import GenerationJobConfig

JOBS = Path(__file__).parent.parent / "jobs"
CONFIGS = sorted(p for method in ("dlcr", "dive", "diffusion_reid")
                 for p in (JOBS / "configs").glob(f"{method}_*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_are_valid(path):
    config = load_config(GenerationJobConfig, path)
    assert path.stem.startswith(config.method)
    if not path.stem.endswith("_toy"):  # real datasets name real models
        assert "/" in config.model and not config.model.startswith("out/")


def test_real_configs_follow_the_papers():
    dlcr = load_config(GenerationJobConfig, JOBS / "configs" / "dlcr_prcc.yaml")
    recipe = dlcr.plan.recipe
    assert (recipe.height, recipe.width, recipe.steps, recipe.guidance) == (768, 256, 50, 7.5)
    assert dlcr.plan.dlcr.targets_per_image == 10 and dlcr.plan.dlcr.strength == 1.0
    assert dlcr.model == "stable-diffusion-v1-5/stable-diffusion-inpainting"  # maintained
    dive = load_config(GenerationJobConfig, JOBS / "configs" / "dive_sysu_mm01.yaml")
    assert dive.plan.recipe.scheduler == "dpmsolver++" and dive.plan.recipe.steps == 50
    assert dive.plan.dive.images_per_target == 18 and dive.plan.dive.targets == ["ir3", "ir6"]


def test_overrides_by_path_are_validated(tmp_path):
    config = load_config(GenerationJobConfig, JOBS / "configs" / "dive_toy.yaml")
    changed = apply_overrides(GenerationJobConfig, config,
                              ["plan.max_identities=3", "generate.actors=2"], source="test")
    assert (changed.plan.max_identities, changed.generate.actors) == (3, 2)
    with pytest.raises(ConfigError, match="field 'plan.max_identities'.*got 0"):
        apply_overrides(GenerationJobConfig, config, ["plan.max_identities=0"], source="test")
    with pytest.raises(ConfigError, match="'plans.x=1'.*no section 'plans'"):
        apply_overrides(GenerationJobConfig, config, ["plans.x=1"], source="test")
    with pytest.raises(ConfigError, match="method 'dlcr' needs clothes masks"):
        apply_overrides(GenerationJobConfig, config, ["method=dlcr"], source="test")


def test_cli_plan_with_overrides(toy_images, toy_sd, tmp_path, capsys):
    config = toy_job("dive", toy_images("sysu_mm01"), toy_sd, tmp_path)
    path = tmp_path / "job.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json")))  # JSON is YAML
    assert main(["plan", str(path), "--smoke", "--set", "plan.dive.images_per_target=3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tasks"] == 2 * 2 * 3 and summary["identities"] == 2
    assert main(["plan", str(path), "--set", "plan.max_identities=-1"]) == 2
    assert "plan.max_identities" in capsys.readouterr().err


def test_job_without_a_scorer_stops_before_any_work(toy_images, toy_sd, tmp_path):
    config = toy_job("dive", toy_images("sysu_mm01"), toy_sd, tmp_path)
    with pytest.raises(ValueError, match="stage 'filter' needs `scorer`"):
        run_job(config)
    assert not (tmp_path / "tasks.parquet").exists()


def test_job_script_help_and_bad_config(tmp_path):
    script = str(JOBS / "generate.py")
    help_text = subprocess.run([sys.executable, script, "--help"], capture_output=True,
                               text=True, check=True).stdout
    assert "--smoke" in help_text and "--set" in help_text and "--stages" in help_text
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: dlcr\nimages: 3\n")
    result = subprocess.run([sys.executable, script, str(bad)], capture_output=True, text=True)
    assert result.returncode == 2 and str(bad) in result.stderr


@pytest.mark.slow
def test_smoke_job_runs_all_four_stages(tmp_path):
    script = str(JOBS / "generate.py")
    result = subprocess.run([sys.executable, script, "--smoke", "--out", str(tmp_path),
                             str(JOBS / "configs" / "dlcr_toy.yaml")],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    job = tmp_path / "generation" / "dlcr"
    summary = json.loads((job / "filter_summary.json").read_text())
    assert summary["methods"]["dlcr"]["scored"] > 0
    assert (job / "tasks.parquet").exists() and any((job / "generated").glob("part-*"))


def test_generate_refuses_tasks_planned_for_another_model(toy_images, toy_sd, tmp_path):
    from factory.generate.stage import run_generate
    from factory.laptop.toy_sd.build import toy_sd_path
    from factory.plan.stage import run_plan

    config = toy_job("dive", toy_images("sysu_mm01"), toy_sd, tmp_path,
                     plan={"max_identities": 1, "dive": {"images_per_target": 1}})
    run_plan(config)
    other = config.model_copy(update={"model": str(toy_sd_path(toy_sd, "inpaint"))})
    with pytest.raises(ValueError, match="planned for model fingerprint .* run `factory plan`"):
        run_generate(other)
    resampled = apply_overrides(GenerationJobConfig, config, ["plan.recipe.scheduler=euler"],
                                source="test")
    with pytest.raises(ValueError, match="tasks planned with scheduler 'ddim'"):
        run_generate(resampled)
