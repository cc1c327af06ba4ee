"""Visible-infrared protocols: SYSU-MM01, RegDB and LLCM.

Rules follow the released code of CAJ (mangye16/Cross-Modal-Re-ID-baseline, `ICCV21_CAJ/test.py`,
`eval_metrics.py`, `data_manager.py`) and DEEN (ZYK100/LLCM, `DEEN/test.py`, `data_manager.py`,
`AGW/eval_metrics.py`: `eval_sysu`, `eval_regdb`, `eval_llcm`):
- single-shot galleries: per trial t (0..9), `random.seed(seed + t)` and one `random.choice` per
  (pid, camera), pids in increasing order, cameras in increasing order, among the group's images
  sorted by path; with the default seed 0 these are the authors' galleries image for image;
- SYSU-MM01 and LLCM report CMC over identities (`distinct_ids`, the authors' "new_cmc"; rank-1 is
  the same either way), RegDB over images; mAP and mINP are per image everywhere;
- results are averaged over trials with equal weight.
"""

import random

import numpy as np

from factory.evaluate.query_gallery import (
    QueryGallery,
    Side,
    gallery_subset,
    same_pid_same_camera,
    score,
    summary,
)

TRIALS = 10
SYSU_GALLERY_CAMERAS = {"all_search": (1, 2, 4, 5), "indoor": (1, 2)}
# Cameras 2 (RGB) and 3 (IR) film the same place, so a camera-3 query skips every camera-2 image.
SYSU_SAME_PLACE = (3, 2)
REGDB_DIRECTIONS = {"visible_to_thermal": ("rgb", "ir"), "thermal_to_visible": ("ir", "rgb")}
LLCM_DIRECTIONS = {"visible_to_infrared": ("rgb", "ir"), "infrared_to_visible": ("ir", "rgb")}


def sysu_mm01(rows, embedding, *, trials: int = TRIALS, seed: int = 0) -> dict:
    """SYSU-MM01: every IR image (cameras 3, 6) queries a single-shot RGB gallery.

    Settings `all_search` (gallery cameras 1, 2, 4, 5) and `indoor` (1, 2). A camera-3 query drops
    every camera-2 gallery image (CAJ/DEEN `eval_sysu`); the same-pid-same-camera rule is moot
    across modalities.
    """
    data = QueryGallery(rows, embedding)
    modality, camera = data.column("modality"), data.column("camera")
    query = data.side(modality == "ir")
    results = {}
    for setting, cameras in SYSU_GALLERY_CAMERAS.items():
        candidates = data.side((modality == "rgb") & np.isin(camera, cameras))
        results[setting] = _single_shot_trials(data, setting, query, candidates, _sysu_rule,
                                               trials=trials, seed=seed)
    return results


def llcm(rows, embedding, *, trials: int = TRIALS, seed: int = 0) -> dict:
    """LLCM: every image of one modality queries a single-shot gallery of the other.

    Gallery images of the query's pid and camera are dropped (`eval_llcm`; LLCM numbers its
    visible and near-infrared cameras alike). Note: DEEN's `test.py` in its visible-to-infrared
    mode passes the matrices transposed (single-shot infrared images as queries); here visible
    queries always search the single-shot infrared gallery, as ARCHITECTURE.md states.
    """
    data = QueryGallery(rows, embedding)
    modality = data.column("modality")
    results = {}
    for setting, (query_modality, gallery_modality) in LLCM_DIRECTIONS.items():
        query = data.side(modality == query_modality)
        candidates = data.side(modality == gallery_modality)
        results[setting] = _single_shot_trials(data, setting, query, candidates,
                                               same_pid_same_camera, trials=trials, seed=seed)
    return results


def regdb(rows, embedding) -> dict:
    """RegDB: visible images query the thermal ones and the reverse; nothing is dropped.

    The `images` table holds one trial (its reader's `trial`); for the usual average over the
    ten trials, concatenate the trials' tables with an integer `trial` column added: the metrics
    are then averaged over the trials present (CAJ `test.py`).
    """
    data = QueryGallery(rows, embedding)
    modality = data.column("modality")
    trial = data.columns.get("trial", np.zeros(len(modality), dtype=np.int64))
    results = {}
    for setting, (query_modality, gallery_modality) in REGDB_DIRECTIONS.items():
        per_trial = []
        for number in np.unique(trial[data.tested]):
            query = data.side((modality == query_modality) & (trial == number))
            gallery = data.side((modality == gallery_modality) & (trial == number))
            distances = data.distances(query, gallery)
            per_trial.append(score(f"{setting}, trial {number}", distances, query, gallery,
                                   None))
        results[setting] = summary(per_trial)
    return results


def single_shot_gallery(gallery: Side, seed: int) -> np.ndarray:
    """Positions in `gallery` of one image per (pid, camera), drawn like CAJ and DEEN do."""
    order = np.lexsort((gallery.path, gallery.camera, gallery.pid))
    groups = np.flatnonzero(np.diff(gallery.pid[order]) | np.diff(gallery.camera[order])) + 1
    chooser = random.Random(seed)
    return np.array([chooser.choice(group.tolist()) for group in np.split(order, groups)],
                    dtype=np.intp)


def _sysu_rule(query: Side, gallery: Side) -> np.ndarray:
    query_camera, gallery_camera = SYSU_SAME_PLACE
    return (query.camera[:, None] == query_camera) & (gallery.camera == gallery_camera)


def _single_shot_trials(data: QueryGallery, setting: str, query: Side, candidates: Side, rule,
                        *, trials: int, seed: int) -> dict:
    if len(candidates) == 0:
        raise ValueError(f"{setting}: no gallery images")
    distances = data.distances(query, candidates)
    per_trial = []
    for trial in range(trials):
        picked = single_shot_gallery(candidates, seed + trial)
        per_trial.append(score(f"{setting}, trial {trial}", gallery_subset(distances, picked),
                               query, candidates[picked], rule, distinct_ids=True))
    return summary(per_trial)
