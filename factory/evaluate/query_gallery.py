"""What every evaluation protocol shares: test rows, their distances, junk rules and metrics.

A protocol reads the `images` table (schemas/tables.py) as a pyarrow Table, the schema the stages
exchange; a polars DataFrame (or anything with `.to_arrow()`) is converted. Rows whose role is
`train` are ignored, so a whole dataset's table can be passed; the others must come from one split.
The embedding is either a feature matrix aligned with the rows (one row of features per table row,
numpy or torch; cosine distance, computed a block of queries at a time on the features' device,
never as a full matrix: `features.feature_distance_rows`) or a `Distance`:
`distance(query_rows, gallery_rows)` gives the distance matrix between the table rows at those
positions (smaller = more similar), asked for a block of query rows at a time, so each query's
row must depend on that query alone (not on which other queries are asked with it). The DLCR
refinement (`refinement.refined_distance`: a query's versions and top-K are its own) and any
other such metric plug in there.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from factory.evaluate.features import feature_distance_rows
from factory.evaluate.rank import DistanceRows, RankMetrics, rank_metrics_by_rows

RANKS = (1, 5, 10)
COLUMNS = ("split", "role", "pid", "camera", "modality", "outfit", "path")
Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Side:
    """The query or the gallery rows of one setting: table positions and the columns rules read."""

    index: np.ndarray  # positions in the table, the rows the embedding is aligned with
    pid: np.ndarray
    camera: np.ndarray
    outfit: np.ndarray  # outfit codes; -1 where the outfit is null
    path: np.ndarray

    def __getitem__(self, rows) -> "Side":
        return Side(self.index[rows], self.pid[rows], self.camera[rows], self.outfit[rows],
                    self.path[rows])

    def __len__(self) -> int:
        return len(self.index)


# A junk rule: for a block of queries and the gallery, the (query x gallery) items to drop.
Rule = Callable[[Side, Side], np.ndarray]


class QueryGallery:
    """The query/gallery rows of a table with their embedding; makes `Side`s and distances."""

    def __init__(self, rows, embedding):
        table = rows.to_arrow() if hasattr(rows, "to_arrow") else rows
        if not isinstance(table, pa.Table):
            raise TypeError(f"rows must be a pyarrow Table or a polars DataFrame, got {type(rows)}")
        missing = [name for name in COLUMNS if name not in table.column_names]
        if missing:
            raise ValueError(f"rows lack the `images` columns {missing}")
        self.columns = {name: table.column(name).to_numpy(zero_copy_only=False)
                        for name in table.column_names if name in (*COLUMNS, "trial")}
        self.tested = self.columns["role"] != "train"
        splits = sorted(set(self.columns["split"][self.tested].tolist()))
        if not splits:
            raise ValueError("rows hold no query or gallery rows (every role is `train`)")
        if len(splits) > 1:
            raise ValueError(f"query/gallery rows must come from one split, found {splits}")
        self.distance = embedding if callable(embedding) else None
        self.features = None if callable(embedding) else _features(embedding, table.num_rows)
        known = ~table.column("outfit").is_null().to_numpy(zero_copy_only=False)
        self.outfit_codes = np.full(table.num_rows, -1, dtype=np.int64)
        self.outfit_codes[known] = np.unique(self.columns["outfit"][known].astype(str),
                                             return_inverse=True)[1]

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise ValueError(f"rows lack the column {name!r}")
        return self.columns[name]

    def side(self, selected: np.ndarray) -> Side:
        """The tested rows where `selected` (a bool array over the table) is true."""
        index = np.flatnonzero(selected & self.tested)
        return Side(index, self.columns["pid"][index].astype(np.int64),
                    self.columns["camera"][index].astype(np.int64), self.outfit_codes[index],
                    self.columns["path"][index].astype(str))

    def distances(self, query: Side, gallery: Side) -> DistanceRows:
        """The (query x gallery) distances, handed out a block of query rows at a time."""
        if self.features is not None:
            return feature_distance_rows(self.features[torch.as_tensor(query.index)],
                                         self.features[torch.as_tensor(gallery.index)])

        def distance_rows(rows: slice) -> np.ndarray:
            block = np.asarray(self.distance(query.index[rows], gallery.index))
            if block.shape != (len(query.index[rows]), len(gallery)):
                raise ValueError(f"the distance function returned shape {block.shape} for "
                                 f"{len(query.index[rows])} queries and {len(gallery)} gallery "
                                 "rows")
            return block

        return distance_rows


def gallery_subset(distances: DistanceRows, columns: np.ndarray) -> DistanceRows:
    """The same distances restricted to some gallery columns (a trial's single-shot gallery)."""
    return lambda rows: distances(rows)[:, columns]


def _features(embedding, num_rows: int) -> torch.Tensor:
    features = torch.as_tensor(embedding).float()
    if features.ndim != 2 or len(features) != num_rows:
        raise ValueError(f"features must be a (rows x dim) matrix aligned with the {num_rows} "
                         f"table rows, got shape {tuple(features.shape)}")
    return features


def same_pid_same_camera(query: Side, gallery: Side) -> np.ndarray:
    return (query.pid[:, None] == gallery.pid) & (query.camera[:, None] == gallery.camera)


def same_pid_same_outfit(query: Side, gallery: Side) -> np.ndarray:
    _require_outfits(query, gallery)
    return (query.pid[:, None] == gallery.pid) & (query.outfit[:, None] == gallery.outfit)


def same_pid_other_outfit(query: Side, gallery: Side) -> np.ndarray:
    _require_outfits(query, gallery)
    return (query.pid[:, None] == gallery.pid) & (query.outfit[:, None] != gallery.outfit)


def any_of(*rules: Rule) -> Rule:
    """A rule dropping what any of `rules` drops."""
    return lambda query, gallery: np.logical_or.reduce([rule(query, gallery) for rule in rules])


def _require_outfits(query: Side, gallery: Side) -> None:
    if (query.outfit < 0).any() or (gallery.outfit < 0).any():
        raise ValueError("the outfit column is null for some query/gallery rows; the same-clothes "
                         "and clothes-changing settings need every test image's outfit")


def score(setting: str, distances: DistanceRows, query: Side, gallery: Side, rule: Rule | None,
          *, distinct_ids: bool = False) -> RankMetrics:
    """Rank metrics of one setting; errors name the setting."""
    junk = None if rule is None else (lambda rows: rule(query[rows], gallery))
    try:
        return rank_metrics_by_rows(distances, query.pid, gallery.pid, junk, max_rank=max(RANKS),
                                    distinct_ids=distinct_ids)
    except ValueError as error:
        raise ValueError(f"{setting}: {error}") from error


def summary(results: list[RankMetrics]) -> dict[str, float]:
    """Rank-k, mAP and mINP averaged over trials (one result per trial), with the counts."""
    metrics = {f"rank{k}": float(np.mean([result.cmc[k - 1] for result in results]))
               for k in RANKS}
    metrics["mAP"] = float(np.mean([result.mAP for result in results]))
    metrics["mINP"] = float(np.mean([result.mINP for result in results]))
    metrics["queries"] = float(np.mean([result.num_valid for result in results]))
    metrics["trials"] = len(results)
    return metrics
