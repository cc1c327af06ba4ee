"""Evaluation: rank metrics (CMC, mAP, mINP) and each dataset's protocol; numpy only, no torch."""

from factory.evaluate.protocols import PROTOCOLS, protocol_for
from factory.evaluate.rank import RankMetrics, evaluate_rank, rank_metrics

__all__ = ["PROTOCOLS", "RankMetrics", "evaluate_rank", "protocol_for", "rank_metrics"]
