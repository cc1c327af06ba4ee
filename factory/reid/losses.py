"""ReID losses, each checked against the released code of the paper that uses it.

- `CrossEntropyLabelSmooth`: reid-strong-baseline `layers/triplet_loss.py` (and Simple-CCReID
  `losses/cross_entropy_loss_with_label_smooth.py`): targets (1 - eps) * one_hot + eps / K.
- `TripletLoss`: batch-hard triplet (Hermans et al. 2017), reid-strong-baseline
  `layers/triplet_loss.py` (`hard_example_mining`, margin ranking or soft margin).
- `WeightedRegularizedTriplet`: AGW's WRT as used by CAJ, mangye16/Cross-Modal-Re-ID-baseline
  `ICCV21_CAJ/loss.py` (`TripletLoss_WRT`; with alpha/gamma/squared it is their `TripletLoss_ADP`,
  the "enhanced squared difference" of CAJ's README command).
- `ClothesAdversarialLoss`, `CosineCrossEntropy`: CAL, guxinqian/Simple-CCReID
  `losses/clothes_based_adversarial_loss.py` and `losses/cosface_loss.py` (margin 0).
Every loss returns a scalar tensor (mean over the batch).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def euclidean_distances(x: Tensor, y: Tensor) -> Tensor:
    """Pairwise Euclidean distances (M, N), clamped at 1e-12 before the square root as the
    reference code does (so identical points get distance 1e-6 and a zero gradient)."""
    squared = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2.0 * x @ y.t()
    return squared.clamp(min=1e-12).sqrt()


def _pair_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    return same, ~same


def hard_example_mining(distances: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """For each anchor, the distance to its farthest positive (itself included, as the reference)
    and to its closest negative; +inf where an anchor has no negative in the batch. Unlike the
    reference, identities may have different numbers of samples in the batch."""
    is_pos, is_neg = _pair_masks(labels)
    dist_ap = distances.masked_fill(~is_pos, float("-inf")).amax(dim=1)
    dist_an = distances.masked_fill(~is_neg, float("inf")).amin(dim=1)
    return dist_ap, dist_an


class CrossEntropyLabelSmooth(nn.Module):
    """Cross-entropy against (1 - epsilon) * one_hot + epsilon / num_classes (BoT: epsilon 0.1).
    Numerically the same as BoT's `(-targets * log_probs).mean(0).sum()`."""

    def __init__(self, epsilon: float = 0.1):
        super().__init__()
        self.epsilon = epsilon

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(logits, targets, label_smoothing=self.epsilon)


class TripletLoss(nn.Module):
    """Batch-hard triplet loss: mean of max(0, d(a, p_hardest) - d(a, n_hardest) + margin), or with
    `margin=None` the soft margin log(1 + exp(d_ap - d_an)). BoT uses margin 0.3 on the pooled
    feature; `normalize_feature` L2-normalises first."""

    def __init__(self, margin: float | None = 0.3, normalize_feature: bool = False):
        super().__init__()
        self.margin = margin
        self.normalize_feature = normalize_feature

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        if self.normalize_feature:
            features = F.normalize(features, dim=1)
        dist_ap, dist_an = hard_example_mining(euclidean_distances(features, features), labels)
        if self.margin is None:
            return F.softplus(dist_ap - dist_an).mean()
        return F.relu(dist_ap - dist_an + self.margin).mean()


def _masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Row-wise softmax of `scores` over the entries where `mask` is true; 0 elsewhere (and on
    rows with no true entry)."""
    masked = scores.masked_fill(~mask, float("-inf"))
    row_max = masked.amax(dim=1, keepdim=True).detach()
    exp = torch.exp(masked - torch.where(torch.isfinite(row_max), row_max, 0.0))
    return exp / exp.sum(dim=1, keepdim=True).clamp(min=1e-12)


class WeightedRegularizedTriplet(nn.Module):
    """AGW's weighted regularization triplet (WRT), the triplet term of CAJ's training.

    For anchor i: fp_i = sum_j softmax(alpha * d_ij | positives) * d_ij (farther positives weigh
    more; the anchor itself is a positive, as in the reference),
    cn_i = sum_j softmax(-alpha * d_ij | negatives) * d_ij;
    loss = mean log(1 + exp(-gamma * (cn_i - fp_i))). With `squared=True` it is
    `TripletLoss_ADP` with square=1: z = min(gamma * (fp_i - cn_i)^2, 88), y = -1 where fp_i > cn_i
    else 1, loss = mean log(1 + exp(-y * z)). Defaults give `TripletLoss_WRT`. No margin parameter.
    The reference's softmax adds 1e-6 to its normaliser and shifts by the max over the whole masked
    row (0 included), so its weights vanish once distances exceed ~14; we shift by the max over the
    selected entries, which is the exact softmax.
    """

    def __init__(self, alpha: float = 1.0, gamma: float = 1.0, squared: bool = False,
                 normalize_feature: bool = False):
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.squared = squared
        self.normalize_feature = normalize_feature

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        if self.normalize_feature:
            features = F.normalize(features, dim=1)
        distances = euclidean_distances(features, features)
        is_pos, is_neg = _pair_masks(labels)
        furthest_positive = (_masked_softmax(self.alpha * distances, is_pos) * distances).sum(1)
        closest_negative = (_masked_softmax(-self.alpha * distances, is_neg) * distances).sum(1)
        if not self.squared:
            return F.softplus(-self.gamma * (closest_negative - furthest_positive)).mean()
        squared_gap = (self.gamma * (furthest_positive - closest_negative).pow(2)).clamp(max=88.0)
        sign = torch.where(furthest_positive > closest_negative, -1.0, 1.0)
        return F.softplus(-sign * squared_gap).mean()


class CosineCrossEntropy(nn.Module):
    """Cross-entropy on scaled cosines: CAL's clothes classification loss (their `CosFaceLoss`
    with margin 0 and scale 16, on `NormalizedClassifier` outputs)."""

    def __init__(self, scale: float = 16.0):
        super().__init__()
        self.scale = scale

    def forward(self, cosines: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(self.scale * cosines, targets)


class ClothesAdversarialLoss(nn.Module):
    """CAL's clothes-based adversarial loss (Simple-CCReID `ClothesBasedAdversarialLoss`).

    Inputs: `cosines` (N, C) of the clothes classifier (CAL's `adversarial_clothes_logits`),
    `clothes_ids` (N,) and `positive_mask` (N, C), true for the clothes classes of the sample's own
    identity (see `pid_clothes_matrix`). With s = scale * cosines, for each clothes class j:
    log_prob_j = s_j - log(exp(s_j) + sum over the identity's negative classes of exp(s_k)), and
    loss = -mean_i sum_j target_ij log_prob_ij with target (1 - epsilon) on the sample's own clothes
    plus epsilon spread evenly over its identity's clothes classes. It pulls the feature towards
    all clothes of its identity and away from other identities' clothes, so the clothes classifier
    cannot tell one identity's outfits apart. Computed with log-sum-exp (theirs exponentiates
    directly).
    """

    def __init__(self, scale: float = 16.0, epsilon: float = 0.1):
        super().__init__()
        self.scale = scale
        self.epsilon = epsilon

    def forward(self, cosines: Tensor, clothes_ids: Tensor, positive_mask: Tensor) -> Tensor:
        scores = self.scale * cosines
        positive_mask = positive_mask.to(dtype=torch.bool, device=scores.device)
        negatives = torch.logsumexp(scores.masked_fill(positive_mask, float("-inf")), dim=1,
                                    keepdim=True)
        log_prob = scores - torch.logaddexp(negatives, scores)
        own = F.one_hot(clothes_ids, scores.shape[1]).to(scores.dtype)
        spread = positive_mask.to(scores.dtype)
        target = (1.0 - self.epsilon) * own + self.epsilon * spread / spread.sum(1, keepdim=True)
        return -(target * log_prob).sum(1).mean()


def pid_clothes_matrix(pids: Tensor, clothes_ids: Tensor, num_pids: int | None = None,
                       num_clothes: int | None = None) -> Tensor:
    """Boolean (num_pids, num_clothes) matrix, true where a clothes class belongs to an identity,
    from the training set's per-image (contiguous) pid and clothes ids: CAL's `pid2clothes`.
    A batch's `positive_mask` is `matrix[batch_pids]`."""
    num_pids = int(pids.max()) + 1 if num_pids is None else num_pids
    num_clothes = int(clothes_ids.max()) + 1 if num_clothes is None else num_clothes
    matrix = torch.zeros(num_pids, num_clothes, dtype=torch.bool)
    matrix[pids.long(), clothes_ids.long()] = True
    return matrix
