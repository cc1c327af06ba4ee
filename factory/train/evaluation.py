"""Score a ReID model on the test split of its dataset with the dataset's own protocol."""

from pathlib import Path

import polars as pl
import torch

from factory.evaluate import protocol_for
from factory.evaluate.refinement import VERSIONS, refined_distance
from factory.reid.features import extract_features
from factory.table_io import read_table
from factory.train.data import evaluation_rows, with_source_rows


def query_versions(generated: pl.DataFrame, rows: pl.DataFrame, count: int) -> pl.DataFrame:
    """The generated rows whose first parent is one of `rows` (with its `source_row`), at most
    `count` per parent: the first by seed, then image id, whatever order the table holds."""
    return (with_source_rows(generated, rows).sort("source_row", "seed", "image_id")
            .filter(pl.int_range(pl.len()).over("source_row") < count))


def _refined(model, rows: pl.DataFrame, features, versions: Path, *, count: int, size, device):
    """DLCR test-time refinement: a protocol distance that also sees up to `count` generated
    outfit changes of each query (`generated` rows whose first parent is a query image)."""
    generated = query_versions(pl.from_arrow(read_table(versions, "generated")), rows, count)
    if generated.is_empty():
        raise ValueError(f"refine_with {versions}: no generated image has a test image as its "
                         "source; plan the queries' outfit changes (DLCR: plan.splits with test, "
                         "plan.dlcr.source_roles with query)")
    version_features = extract_features(model, generated["path"].to_list(),
                                        generated["modality"].to_list(), size=size,
                                        device=device).features
    return refined_distance(features, rows["pid"].to_numpy(), version_features,
                            generated["source_row"].to_numpy())


def evaluate_model(model, images: Path, protocol: str, *, size: tuple[int, int], device,
                   refine_with: Path | None = None,
                   refine_versions: int = VERSIONS) -> dict[str, float]:
    """Flat metrics `<setting>/<metric>`, plus `rank1` and `mAP` of the headline setting (what a
    sweep optimises): clothes-changing where the protocol has it (as CAL and DLCR report), else
    the protocol's first setting. `refine_with`: a `generated` table of the queries' outfit
    changes, for DLCR's test-time prediction refinement with `refine_versions` of each."""
    rows = evaluation_rows(images)
    features = extract_features(model, rows["path"].to_list(), rows["modality"].to_list(),
                                size=size, device=device).features
    # plain features: the protocol computes distances a block of queries at a time on `device`
    embedding = torch.from_numpy(features).to(device) if refine_with is None else \
        _refined(model, rows, features, refine_with, count=refine_versions, size=size,
                 device=device)
    return flat_metrics(protocol_for(protocol)(rows, embedding))


def flat_metrics(results: dict[str, dict]) -> dict[str, float]:
    """A protocol's {setting: metrics} as `<setting>/<metric>`, plus `rank1` and `mAP` of the
    headline setting (clothes-changing where there is one, else the first)."""
    flat = {f"{setting}/{name}": float(value)
            for setting, metrics in results.items() for name, value in metrics.items()}
    headline = results.get("clothes_changing") or next(iter(results.values()))
    flat.update(rank1=float(headline["rank1"]), mAP=float(headline["mAP"]))
    return flat
