"""Each model's objective runs on real loader batches (no Ray): finite losses, every part used."""

import pytest
import torch

from factory.laptop.presets import smoke_preset
from factory.train.data import load_training_set
from factory.train.loop import build_loader, build_reid_model, learning_rate
from factory.train.objectives import Objective
from schemas.configs import TrainConfig

PARTS = {"bot": {"id_loss", "metric_loss"}, "caj": {"id_loss", "metric_loss"},
         "cal": {"id_loss", "metric_loss", "clothes_loss", "adversarial_loss"}}
LAYOUTS = {"bot": "market1501", "caj": "sysu_mm01", "cal": "ltcc"}


@pytest.mark.parametrize("model_name", sorted(PARTS))
def test_two_steps_lower_nothing_to_nan(toy_images, model_name):
    torch.manual_seed(0)
    config = TrainConfig(images=toy_images(LAYOUTS[model_name]), model=model_name,
                         cal_start_epoch=0, **smoke_preset("train"))
    data = load_training_set(config)
    model = build_reid_model(config, data)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    objective = Objective(config, data)
    loader = build_loader(config, data, rank=0, world=1)
    loader.batch_sampler.set_epoch(0)
    model.train()
    for step, batch in zip(range(2), loader, strict=False):
        if model_name == "caj":
            assert set(batch["modality"].tolist()) == {0, 1}
        loss, parts = objective(model, batch, epoch=0)
        assert set(parts) == PARTS[model_name] and torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not unused, f"parameters without gradient at step {step}: {unused[:3]}"
        optimizer.step()


def test_bot_learning_rate_schedule():
    config = TrainConfig(images="x.parquet", lr=1e-3, warmup_epochs=10, milestones=[40, 70])
    assert learning_rate(config, 0) == pytest.approx(1e-4)
    assert learning_rate(config, 5) == pytest.approx(5.5e-4)
    assert learning_rate(config, 10) == learning_rate(config, 39) == pytest.approx(1e-3)
    assert learning_rate(config, 40) == pytest.approx(1e-4)
    assert learning_rate(config, 70) == pytest.approx(1e-5)
