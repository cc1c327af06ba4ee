"""Evaluation: rank metrics (CMC, mAP, mINP) and each dataset's protocol. Ranks are counted in
numpy; distances from features are computed a block of queries at a time with torch."""

from factory.evaluate.features import evaluate_features
from factory.evaluate.protocols import PROTOCOLS, protocol_for
from factory.evaluate.rank import RankMetrics, evaluate_rank, rank_metrics

__all__ = ["PROTOCOLS", "RankMetrics", "evaluate_features", "evaluate_rank", "protocol_for",
           "rank_metrics"]
