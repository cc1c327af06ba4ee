"""The loss of each ReID model, on one batch (BoT, CAJ and CAL as their papers train them)."""

import torch
from torch import Tensor

from factory.reid.losses import (
    ClothesAdversarialLoss,
    CosineCrossEntropy,
    CrossEntropyLabelSmooth,
    TripletLoss,
    WeightedRegularizedTriplet,
    pid_clothes_matrix,
)
from factory.train.data import TrainingSet
from schemas.configs import TrainConfig


class Objective:
    """identity cross-entropy (label-smoothed) + metric loss (batch-hard triplet; WRT for CAJ);
    CAL adds the clothes classifier's loss and, from `cal_start_epoch`, the clothes-adversarial
    loss, both on real images only (DLCR: generated images carry no clothes label)."""

    def __init__(self, config: TrainConfig, data: TrainingSet):
        self.model, self.cal_start_epoch = config.model, config.cal_start_epoch
        self.identity = CrossEntropyLabelSmooth(config.label_smoothing)
        self.metric = (WeightedRegularizedTriplet() if config.model == "caj"
                       else TripletLoss(config.triplet_margin))
        if config.model == "cal":
            real = slice(0, data.num_real)
            self.pid2clothes = pid_clothes_matrix(
                torch.from_numpy(data.labels[real]), torch.from_numpy(data.clothes[real]),
                data.num_classes, data.num_clothes)
            self.clothes = CosineCrossEntropy()
            self.adversarial = ClothesAdversarialLoss()

    def forward(self, model, batch: dict):
        if self.model == "caj":
            return model(batch["image"], batch["modality"])
        return model(batch["image"])

    def __call__(self, model, batch: dict, epoch: int) -> tuple[Tensor, dict[str, float]]:
        output = self.forward(model, batch)
        labels = batch["label"]
        parts = {"id_loss": self.identity(output.logits, labels),
                 "metric_loss": self.metric(output.features, labels)}
        if self.model == "cal":
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
