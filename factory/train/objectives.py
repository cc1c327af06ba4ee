"""The loss of a ReID model on one batch (BoT, CAJ and CAL as their papers train them)."""

from functools import cached_property

import torch
from torch import Tensor

from factory.reid.losses import (
    ClothesAdversarialLoss,
    CosineCrossEntropy,
    CrossEntropyLabelSmooth,
    pid_clothes_matrix,
)
from factory.reid.models import model_class
from factory.train.data import TrainingSet
from schemas.configs import TrainConfig


class Objective:
    """identity cross-entropy (label-smoothed) + the model's metric loss (batch-hard triplet;
    WRT for CAJ); a model that returns clothes logits (CAL) adds the clothes classifier's loss
    and, from `cal_start_epoch`, the clothes-adversarial loss, both on real images only (DLCR:
    generated images carry no clothes label)."""

    def __init__(self, config: TrainConfig, data: TrainingSet):
        self.cal_start_epoch = config.cal_start_epoch
        self.identity = CrossEntropyLabelSmooth(config.label_smoothing)
        self.metric = model_class(config.model).metric_loss(config.triplet_margin)
        self.data = data
        self.clothes = CosineCrossEntropy()
        self.adversarial = ClothesAdversarialLoss()

    @cached_property
    def pid2clothes(self) -> Tensor:
        """CAL's identity x clothes-class matrix, from the real rows."""
        real = slice(0, self.data.num_real)
        return pid_clothes_matrix(
            torch.from_numpy(self.data.labels[real]), torch.from_numpy(self.data.clothes[real]),
            self.data.num_classes, self.data.num_clothes)

    def __call__(self, model, batch: dict, epoch: int) -> tuple[Tensor, dict[str, float]]:
        output = model(batch["image"], batch["modality"], logits=True)
        labels = batch["label"]
        parts = {"id_loss": self.identity(output.logits, labels),
                 "metric_loss": self.metric(output.pooled, labels)}
        if output.clothes_logits is not None:
            real = ~batch["synthetic"]
            clothes = batch["clothes"][real]
            parts["clothes_loss"] = self.clothes(output.clothes_logits[real], clothes)
            mask = self.pid2clothes.to(labels.device)[labels[real]]
            # Kept at weight 0 before the start epoch so DDP sees every parameter used.
            weight = 1.0 if epoch >= self.cal_start_epoch else 0.0
            parts["adversarial_loss"] = weight * self.adversarial(
                output.adversarial_clothes_logits[real], clothes, mask)
        loss = sum(parts.values())
        return loss, {name: float(value.detach()) for name, value in parts.items()}
