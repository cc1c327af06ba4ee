"""FACTORY_STORAGE_ROOT: a shipped config's relative paths taken under a cluster's shared
folder, so `ray job submit` (whose working folder is a throwaway copy of the repository) runs it
unedited."""

from pathlib import Path

from factory.pretrained.config_models import read_job_config
from schemas.config_base import STORAGE_ROOT, load_config
from schemas.configs import TrainConfig
from schemas.generation_configs import GenerationJobConfig

CONFIGS = Path(__file__).resolve().parent.parent / "jobs" / "configs"


def test_relative_paths_given_or_default_go_under_the_storage_root(monkeypatch, tmp_path):
    monkeypatch.setenv(STORAGE_ROOT, str(tmp_path))
    job = load_config(GenerationJobConfig, CONFIGS / "dlcr_prcc.yaml",
                      ["masks=/elsewhere/masks.parquet"])
    assert job.images == tmp_path / "tables" / "prcc.images.parquet"
    assert job.out == tmp_path / "out" / "generation" / "dlcr_prcc"
    assert job.scorer == tmp_path / "runs" / "cal-prcc" / "model"
    assert job.describe.answers == tmp_path / "tables" / "prcc.descriptions.parquet"
    assert job.masks == Path("/elsewhere/masks.parquet")  # absolute: as given
    assert job.model == "stable-diffusion-v1-5/stable-diffusion-inpainting"  # a hub id, no path
    train = load_config(TrainConfig, CONFIGS / "train_cal_prcc_dlcr.yaml", [])
    assert train.storage_path == tmp_path / "runs"  # the default, rooted as well
    assert train.synthetic == tmp_path / "out" / "generation" / "dlcr_prcc" / "generated"
    _, pretrained = read_job_config(CONFIGS / "train_bot_market1501_pretrained.yaml")
    assert pretrained.pretrained == tmp_path / "runs" / "bot-diffusion-reid-market1501" / "model"


def test_without_a_storage_root_relative_paths_stay_relative(monkeypatch):
    monkeypatch.delenv(STORAGE_ROOT, raising=False)
    job = load_config(GenerationJobConfig, CONFIGS / "dlcr_prcc.yaml")
    assert job.images == Path("tables/prcc.images.parquet")
    assert load_config(TrainConfig, CONFIGS / "train_cal_prcc.yaml").storage_path == Path("runs")
