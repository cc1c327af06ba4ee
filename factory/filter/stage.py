"""The filter stage: a ReID model's verdict on every generated image (ARCHITECTURE.md).

The scorer is a ReID checkpoint trained on the real training split (`factory train`). Per image:
- confidence: the softmax probability of the image's intended pid among the scorer's classes,
  and that pid's rank (only where the pid is a class: DLCR and DiVE keep training identities);
- similarity: cosine similarity of the image's feature to the centroid (normalised mean unit
  feature) of the identity's real images, which works for identities the classifier never saw.
  Its threshold is absolute (`min_similarity`) or calibrated on the real images
  (`similarity_quantile`: an image must look at least as much like its identity as that
  quantile of the identity's own real images do, each held out from its centroid), since raw
  cosines differ from scorer to scorer.
An image is kept when every configured check that applies passes, and at least one applies; an
image that does not decode is a failed row (its `error` says why, never kept), not a failed job.
Scores are written per block to `<out>/scores/` and re-running skips scored images; the keep
rate of each method and the similarity threshold used go to `<out>/filter_summary.json`.
"""

import json
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from factory.atomic import write_text
from factory.diffusion.adapters import load_adapter_set
from factory.generate.manifest import (
    FILTER_SUMMARY,
    SCORES_DIR,
    PartSink,
    deduplicate_parts,
    read_manifest,
    read_parts,
)
from factory.generate.stage import IMAGE_STAGE_CPUS, absolute
from factory.generate.task_batch import pick_device
from factory.image_files import ImageFileError, decode_error
from factory.run_record import differences
from factory.source_identities import generated_sources, source_rows
from factory.storage import rmtree, storage_path
from factory.table_io import read_table
from schemas.config_base import ConfigError
from schemas.generation_configs import GenerationJobConfig

SUMMARY_FILE = FILTER_SUMMARY


def keep_flags(confidence: np.ndarray, similarity: np.ndarray, *, min_confidence,
               min_similarity) -> np.ndarray:
    """Kept: every applicable check passes and at least one applies (NaN = not applicable)."""
    checks = [(values, threshold) for values, threshold in
              ((confidence, min_confidence), (similarity, min_similarity)) if threshold is not None]
    applies = np.zeros(len(confidence), dtype=bool)
    passes = np.ones(len(confidence), dtype=bool)
    for values, threshold in checks:
        known = ~np.isnan(values)
        applies |= known
        passes &= ~known | (np.nan_to_num(values, nan=-np.inf) >= threshold)
    return applies & passes


class ScorerModel:
    """A ReID checkpoint ready to embed images: unit BN features and identity logits."""

    def __init__(self, checkpoint: Path):
        from factory.reid.checkpoint import load_checkpoint, load_checkpoint_config

        self.device = pick_device()
        self.model = load_checkpoint(checkpoint, device=self.device)
        trained = load_checkpoint_config(checkpoint)["config"]
        self.size = (trained.get("height", 256), trained.get("width", 128))

    def __call__(self, paths: list[str], modalities: list[str]) -> tuple[np.ndarray, np.ndarray]:
        from factory.reid.features import extract_features

        return extract_features(self.model, paths, modalities, size=self.size,
                                device=self.device, logits=True)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def identity_references(checkpoint: Path, references: dict) -> dict:
    """What the scorer makes of the identities' real images: each identity's centroid (the
    normalised mean of its images' unit features) and, for every real image of an identity with
    two or more, its cosine similarity to the centroid of the identity's other images (what a
    real image we had not seen would score: the calibration of `similarity_quantile`)."""
    features, _ = ScorerModel(checkpoint)(references["path"], references["modality"])
    pids = np.asarray(references["pid"])
    centroids, held_out = {}, []
    for pid in np.unique(pids):
        own = features[pids == pid]
        total = own.sum(axis=0)
        centroids[int(pid)] = _unit(total)
        if len(own) > 1:
            held_out.append(np.sum(_unit(total[None] - own) * own, axis=1))
    return {"centroids": centroids,
            "held_out": np.concatenate(held_out) if held_out else np.zeros(0)}


def similarity_threshold(settings, held_out: np.ndarray) -> float | None:
    """The similarity an image needs: the stricter of `min_similarity` and the
    `similarity_quantile` quantile of the real images' held-out similarities."""
    thresholds = [] if settings.min_similarity is None else [settings.min_similarity]
    if settings.similarity_quantile is not None:
        if not len(held_out):
            raise ValueError("filter.similarity_quantile needs identities with two or more real "
                             "images to calibrate on; none of the job's identities has")
        thresholds.append(float(np.quantile(held_out, settings.similarity_quantile)))
    return max(thresholds) if thresholds else None


class ReidScorer:
    """A Ray Data actor: a batch of `generated` rows -> their `scores` rows."""

    def __init__(self, checkpoint: Path, centroids: dict, class_pids: list[int], *,
                 scorer: str, min_confidence: float | None, min_similarity: float | None):
        self.model = ScorerModel(checkpoint)
        self.centroids = centroids
        self.classes = {pid: index for index, pid in enumerate(class_pids)}
        self.scorer, self.thresholds = scorer, (min_confidence, min_similarity)

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pydict()
        # 1. features and identity logits of the generated images that decode
        features, logits, errors = self._embed(rows["path"], rows["modality"])
        # 2. softmax confidence and rank of the intended pid, where it is one of the classes
        classes = np.array([self.classes.get(pid, -1) if error is None else -1
                            for pid, error in zip(rows["pid"], errors, strict=True)])
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        own = np.take_along_axis(logits, np.maximum(classes, 0)[:, None], axis=1)
        known = classes >= 0
        confidence = np.where(known, probabilities[np.arange(len(classes)),
                                                   np.maximum(classes, 0)], np.nan)
        rank = np.where(known, (logits > own).sum(axis=1) + 1, 0)
        # 3. cosine similarity to the centroid of the identity's real images
        similarity = np.array([float(feature @ self.centroids[pid])
                               if pid in self.centroids and error is None else np.nan
                               for feature, pid, error in zip(features, rows["pid"], errors,
                                                              strict=True)])
        # 4. the keep decision
        kept = keep_flags(confidence, similarity, min_confidence=self.thresholds[0],
                          min_similarity=self.thresholds[1])
        return pa.table({
            "image_id": rows["image_id"], "method": rows["method"], "pid": rows["pid"],
            "scorer": [self.scorer] * len(kept),
            "confidence": pa.array(confidence, pa.float32(), mask=~known),
            "rank": pa.array(rank, pa.int32(), mask=~known),
            "similarity": pa.array(similarity, pa.float32(), mask=np.isnan(similarity)),
            "kept": kept, "error": pa.array(errors, pa.string()),
        })

    def _embed(self, paths: list[str], modalities: list[str]):
        """Features and logits of every image (zeros where one does not decode) and, per
        image, why it does not (None where it does): one corrupt image is a failed row, not a
        failed job."""
        errors = [None] * len(paths)
        try:
            return (*self.model(paths, modalities), errors)
        except ImageFileError:
            errors = [decode_error(path) for path in paths]
        good = [row for row, error in enumerate(errors) if error is None]
        features = logits = np.zeros((len(paths), 1), np.float32)
        if good:
            some = self.model([paths[row] for row in good], [modalities[row] for row in good])
            features, logits = (np.zeros((len(paths), part.shape[1]), part.dtype) for part in some)
            features[good], logits[good] = some
        return features, logits, errors


def _references(config: GenerationJobConfig, pids: pl.Series) -> dict:
    """Reference images of the identities to score: paths, pids and modalities. Their real
    images (DiVE's added identities: theirs in the adapter set's source table), or, with
    `filter.reference: sources`, the job's source images (`source_generated`)."""
    if config.filter.reference == "sources":  # the config requires source_generated
        sources = generated_sources(config).filter(pl.col("pid").is_in(pids.implode()))
        return sources.select("path", "pid", "modality").to_dict(as_series=False)
    images = pl.from_arrow(read_table(config.images, "images")).filter(pl.col("origin") == "real")
    if config.adapters is not None and (source := load_adapter_set(config.adapters).source):
        images = pl.concat([images.select("image_id", "path", "pid", "modality"),
                            source_rows(source, min_images=1).select(
                                "image_id", "path", "pid", "modality")])
    real = images.filter(pl.col("pid").is_in(pids.implode()))
    return real.sort("image_id").select("path", "pid", "modality").to_dict(as_series=False)


def keep_rates(out: Path) -> dict:
    """Per method: images scored, kept, and the keep rate."""
    scores = pl.from_arrow(read_parts(out / SCORES_DIR, "scores", "image_id",
                                      columns=["method", "kept", "error"]))
    rates = scores.group_by("method").agg(pl.len().alias("scored"), pl.col("kept").sum(),
                                          pl.col("error").is_not_null().sum().alias("failed"))
    return {row["method"]: {"scored": row["scored"], "kept": row["kept"],
                            "failed": row["failed"],
                            "keep_rate": round(row["kept"] / row["scored"], 4)}
            for row in rates.sort("method").iter_rows(named=True)}


def check_verdict(summary_file: Path, before: dict | None, now: dict) -> None:
    """Images already scored keep their `kept` flags: refuse to add to them under another
    scorer, thresholds or reference images, which would mix two verdicts in one table."""
    changed = differences(before or {}, now)
    if changed:
        raise ConfigError(f"{summary_file}: the images scored so far were judged "
                          f"{'with other settings' if before else 'without recorded settings'}"
                          f" ({'; '.join(changed)}); score them all again with --restart, or use "
                          f"the old settings")


def run_filter(config: GenerationJobConfig, *, restart: bool = False) -> dict:
    """Score every committed, not yet scored image of the job; returns the keep rates. Scores
    made with another scorer or thresholds are refused (`check_verdict`); `restart` deletes
    them first."""
    import ray

    from factory.diffusion.loader import model_fingerprint
    from factory.reid.checkpoint import checkpoint_class_pids

    config = absolute(config)
    if config.scorer is None:
        raise ValueError("the filter needs `scorer`: a ReID checkpoint folder from `factory train`")
    class_pids = checkpoint_class_pids(config.scorer)  # a bad scorer fails before Ray starts
    out, settings = storage_path(config.out), config.filter
    if restart:
        rmtree(out / SCORES_DIR)
        (out / SUMMARY_FILE).unlink(missing_ok=True)
    generated = pl.from_arrow(read_manifest(out)).select("image_id", "path", "method", "pid",
                                                         "modality")
    scored = pl.from_arrow(read_parts(out / SCORES_DIR, "scores", "image_id",
                                      columns=["image_id"]))
    pending = generated.join(scored, on="image_id", how="anti", maintain_order="left")
    start = time.perf_counter()
    summary_file = out / SUMMARY_FILE
    previous = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    verdict = {"scorer": model_fingerprint(config.scorer)} | settings.model_dump(
        include={"min_confidence", "min_similarity", "similarity_quantile", "reference"})
    if scored.height:
        check_verdict(summary_file, previous.get("verdict"), verdict)
    threshold = previous.get("similarity_threshold")
    if pending.height:
        resources = {"num_gpus": settings.gpus_per_actor, "num_cpus": settings.cpus_per_actor}
        # Every identity of the job (not only the pending ones): a resumed filter calibrates
        # on the same real images.
        references = ray.get(ray.remote(identity_references).options(**resources).remote(
            config.scorer, _references(config, generated["pid"])))
        threshold = similarity_threshold(settings, references["held_out"])
        table = pending.to_arrow()
        blocks = [table.slice(i, settings.batch_size) for i in range(0, table.num_rows,
                                                                      settings.batch_size)]
        scorer_kwargs = {
            "checkpoint": config.scorer, "centroids": references["centroids"],
            "class_pids": class_pids, "scorer": verdict["scorer"],
            "min_confidence": settings.min_confidence, "min_similarity": threshold}
        ray.data.from_arrow(blocks).map_batches(
            ReidScorer, fn_constructor_kwargs=scorer_kwargs,
            compute=ray.data.ActorPoolStrategy(size=settings.actors),
            batch_size=settings.batch_size, batch_format="pyarrow", **resources,
        ).write_datasink(PartSink(out / SCORES_DIR, "scores", "image_id",
                                  config.generate.manifest_rows),
                         ray_remote_args={"num_cpus": IMAGE_STAGE_CPUS})
    deduplicate_parts(out / SCORES_DIR, "scores", "image_id")
    summary = {"scored_now": pending.height, "seconds": round(time.perf_counter() - start, 3),
               "similarity_threshold": threshold, "verdict": verdict,
               "methods": keep_rates(out)}
    write_text(summary_file, json.dumps(summary, indent=2) + "\n")
    return summary
