import math

import pytest
import torch
import torch.nn.functional as F

from factory.reid.losses import (
    ClothesAdversarialLoss,
    CosineCrossEntropy,
    CrossEntropyLabelSmooth,
    TripletLoss,
    WeightedRegularizedTriplet,
    euclidean_distances,
    hard_example_mining,
    pid_clothes_matrix,
)

torch.set_num_threads(2)


def test_label_smoothing_on_a_hand_case():
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    log_norm = math.log(math.exp(1) + math.exp(2) + math.exp(3))
    log_p = [1 - log_norm, 2 - log_norm, 3 - log_norm]
    # target 0: weight 1 - 0.1 + 0.1 / 3 on it, 0.1 / 3 on the others
    expected = -((0.9 + 0.1 / 3) * log_p[0] + 0.1 / 3 * (log_p[1] + log_p[2]))
    loss = CrossEntropyLabelSmooth(epsilon=0.1)(logits, torch.tensor([0]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_matches_the_bot_formula():
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 5), torch.randint(0, 5, (6,))
    smoothed = 0.9 * F.one_hot(targets, 5) + 0.1 / 5
    bot = (-smoothed * F.log_softmax(logits, dim=1)).mean(0).sum()
    torch.testing.assert_close(CrossEntropyLabelSmooth()(logits, targets), bot)


# Points on a line: identity 0 at 0, 1, 3; identity 1 at 4, 10, 6.
LINE = torch.tensor([[0.0], [1.0], [3.0], [4.0], [10.0], [6.0]])
LINE_LABELS = torch.tensor([0, 0, 0, 1, 1, 1])


def test_batch_hard_picks_the_farthest_positive_and_closest_negative():
    dist_ap, dist_an = hard_example_mining(euclidean_distances(LINE, LINE), LINE_LABELS)
    torch.testing.assert_close(dist_ap, torch.tensor([3.0, 2.0, 3.0, 6.0, 6.0, 4.0]))
    torch.testing.assert_close(dist_an, torch.tensor([4.0, 3.0, 1.0, 1.0, 7.0, 3.0]))
    expected = sum(max(0.0, ap - an + 0.3) for ap, an in [
        (3, 4), (2, 3), (3, 1), (6, 1), (6, 7), (4, 3)]) / 6
    assert TripletLoss(margin=0.3)(LINE, LINE_LABELS).item() == pytest.approx(expected, rel=1e-5)
    soft = sum(math.log1p(math.exp(ap - an)) for ap, an in [
        (3, 4), (2, 3), (3, 1), (6, 1), (6, 7), (4, 3)]) / 6
    assert TripletLoss(margin=None)(LINE, LINE_LABELS).item() == pytest.approx(soft, rel=1e-5)


def test_triplet_handles_unequal_identity_counts_and_gives_finite_gradients():
    features = torch.randn(5, 4, requires_grad=True)
    labels = torch.tensor([0, 0, 0, 1, 2])
    TripletLoss()(features, labels).backward()
    assert torch.isfinite(features.grad).all()


def wrt_by_hand(features, labels, alpha=1.0, gamma=1.0, squared=False):
    n = len(labels)
    dist = [[math.dist(features[i].tolist(), features[j].tolist()) for j in range(n)]
            for i in range(n)]
    total = 0.0
    for i in range(n):
        positives = [j for j in range(n) if labels[j] == labels[i]]
        negatives = [j for j in range(n) if labels[j] != labels[i]]
        pos_norm = sum(math.exp(alpha * dist[i][j]) for j in positives)
        neg_norm = sum(math.exp(-alpha * dist[i][j]) for j in negatives)
        fp = sum(math.exp(alpha * dist[i][j]) / pos_norm * dist[i][j] for j in positives)
        cn = sum(math.exp(-alpha * dist[i][j]) / neg_norm * dist[i][j] for j in negatives)
        if squared:
            y = -1.0 if fp > cn else 1.0
            total += math.log1p(math.exp(-y * min(gamma * (fp - cn) ** 2, 88.0)))
        else:
            total += math.log1p(math.exp(-gamma * (cn - fp)))
    return total / n


def test_wrt_matches_the_direct_formula():
    torch.manual_seed(0)
    features = torch.randn(6, 3, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = WeightedRegularizedTriplet()(features, labels)
    # rel 1e-6: the reference's distance clamp makes d(i, i) = 1e-6 instead of 0
    assert loss.item() == pytest.approx(wrt_by_hand(features, labels), rel=1e-6)
    adp = WeightedRegularizedTriplet(alpha=2.0, gamma=0.5, squared=True)(features, labels)
    expected = wrt_by_hand(features, labels, alpha=2.0, gamma=0.5, squared=True)
    assert adp.item() == pytest.approx(expected, rel=1e-6)


def test_wrt_stays_exact_for_large_distances():
    features = 50.0 * LINE.double()
    loss = WeightedRegularizedTriplet()(features, LINE_LABELS)
    assert loss.item() == pytest.approx(wrt_by_hand(features, LINE_LABELS), rel=1e-6)


def cal_reference(cosines, clothes_ids, positive_mask, scale=16.0, epsilon=0.1):
    """Simple-CCReID's ClothesBasedAdversarialLoss.forward, on CPU."""
    inputs = scale * cosines
    negative_mask = 1 - positive_mask
    identity_mask = F.one_hot(clothes_ids, inputs.shape[1]).float()
    exp_logits = torch.exp(inputs)
    log_sum = torch.log((exp_logits * negative_mask).sum(1, keepdim=True) + exp_logits)
    log_prob = inputs - log_sum
    spread = epsilon / positive_mask.sum(1, keepdim=True) * positive_mask
    mask = (1 - epsilon) * identity_mask + spread
    return (-mask * log_prob).sum(1).mean()


def test_cal_loss_on_a_hand_case():
    # One sample wearing clothes 0; its identity owns clothes 0 and 1, others own 2 and 3.
    cosines = torch.tensor([[0.5, 0.2, 0.1, -0.3]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    s = [16 * c for c in (0.5, 0.2, 0.1, -0.3)]
    negatives = math.exp(s[2]) + math.exp(s[3])
    log_p0 = s[0] - math.log(negatives + math.exp(s[0]))
    log_p1 = s[1] - math.log(negatives + math.exp(s[1]))
    expected = -(0.95 * log_p0 + 0.05 * log_p1)
    loss = ClothesAdversarialLoss()(cosines, torch.tensor([0]), mask)
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_cal_loss_matches_the_reference_and_pushes_away_other_identities_clothes():
    torch.manual_seed(0)
    pid2clothes = pid_clothes_matrix(torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 1, 2, 3, 4]))
    assert pid2clothes.tolist() == [[True, True, False, False, False],
                                    [False, False, True, True, False],
                                    [False, False, False, False, True]]
    pids, clothes_ids = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 2, 4, 0])
    positive_mask = pid2clothes[pids]
    cosines = torch.rand(4, 5) * 2 - 1
    loss = ClothesAdversarialLoss()(cosines, clothes_ids, positive_mask)
    torch.testing.assert_close(loss, cal_reference(cosines, clothes_ids, positive_mask.float()))

    closer_negative = cosines.clone()
    closer_negative[0, 3] += 0.5  # sample 0 (identity 0) looks more like identity 1's clothes
    assert ClothesAdversarialLoss()(closer_negative, clothes_ids, positive_mask) > loss
    other_own_clothes = cosines.clone()
    other_own_clothes[0, 0] += 0.5  # ...or more like its identity's other outfit: loss falls
    assert ClothesAdversarialLoss()(other_own_clothes, clothes_ids, positive_mask) < loss


def test_cosine_cross_entropy_is_scaled_cross_entropy():
    cosines, targets = torch.tensor([[0.2, -0.1, 0.7]]), torch.tensor([2])
    torch.testing.assert_close(CosineCrossEntropy(16.0)(cosines, targets),
                               F.cross_entropy(16.0 * cosines, targets))
