"""Single-modality protocols: the standard one (Market-1501, DukeMTMC-reID, MSMT17, CUHK03,
LaST) and the clothes-changing ones (LTCC, CCVID, VC-Clothes, PRCC).

Rules follow CAL's released code (guxinqian/Simple-CCReID): `tools/eval_metrics.py`
(`evaluate`, `evaluate_with_clothes`), `test.py` (`test`, `test_prcc`) and
`data/datasets/{prcc,vcclothes}.py`. Each protocol takes the `images` rows and an embedding
(see `query_gallery`) and returns {setting: metrics}, metrics being rank-1/5/10, mAP, mINP and the
number of queries averaged.
"""

import numpy as np

from factory.evaluate.query_gallery import (
    QueryGallery,
    Side,
    any_of,
    same_pid_other_outfit,
    same_pid_same_camera,
    same_pid_same_outfit,
    score,
    summary,
)

PRCC_GALLERY_CAMERA = 1  # camera A
PRCC_QUERY_CAMERAS = {"same_clothes": 2, "clothes_changing": 3}  # cameras B and C
VC_CLOTHES_CAMERA_SETTINGS = {"cameras_2_3": (2, 3), "cameras_3_4": (3, 4)}


def standard(rows, embedding) -> dict[str, dict[str, float]]:
    """Role `query` against role `gallery`; gallery images of the query's pid and camera dropped.

    CAL's `evaluate`, torchreid's and fast-reid's rule. Returns {"standard": metrics}.
    """
    data = QueryGallery(rows, embedding)
    query, gallery = _roles(data)
    return {"standard": _evaluate(data, "standard", query, gallery, same_pid_same_camera)}


def clothes_changing(rows, embedding) -> dict[str, dict[str, float]]:
    """LTCC and CCVID: the general, same-clothes and clothes-changing settings.

    All three drop gallery images of the query's pid and camera; same-clothes also drops the
    query's pid in other outfits, clothes-changing the query's pid in the query's outfit
    (CAL's `evaluate_with_clothes`, modes 'SC' and 'CC'). CAL evaluates CCVID per tracklet
    (clip features averaged); give it one row per tracklet for CAL's numbers.
    """
    data = QueryGallery(rows, embedding)
    query, gallery = _roles(data)
    return _clothes_settings(data, query, gallery)


def vc_clothes(rows, embedding) -> dict[str, dict[str, float]]:
    """VC-Clothes: CAL's three settings, plus the dataset paper's camera subsets.

    `cameras_2_3` (same clothes) and `cameras_3_4` (clothes changing) keep only the queries and
    gallery images of those cameras and use the standard rule (CAL's `vcclothes_sc` and
    `vcclothes_cc` datasets).
    """
    data = QueryGallery(rows, embedding)
    query, gallery = _roles(data)
    results = _clothes_settings(data, query, gallery)
    for setting, cameras in VC_CLOTHES_CAMERA_SETTINGS.items():
        results[setting] = _evaluate(data, setting, query[np.isin(query.camera, cameras)],
                                     gallery[np.isin(gallery.camera, cameras)],
                                     same_pid_same_camera)
    return results


def prcc(rows, embedding) -> dict[str, dict[str, float]]:
    """PRCC: the gallery is camera A (1); same-clothes queries come from camera B (2) and
    clothes-changing queries from camera C (3).

    CAL's `test_prcc` scores each query set against the whole gallery with the standard rule,
    which drops nothing here (query and gallery cameras differ). The single-shot gallery indices
    its PRCC reader draws are not used by its test, nor here.
    """
    data = QueryGallery(rows, embedding)
    query, gallery = _roles(data)
    gallery = gallery[gallery.camera == PRCC_GALLERY_CAMERA]
    return {setting: _evaluate(data, setting, query[query.camera == camera], gallery,
                               same_pid_same_camera)
            for setting, camera in PRCC_QUERY_CAMERAS.items()}


def _roles(data: QueryGallery) -> tuple[Side, Side]:
    role = data.column("role")
    return data.side(role == "query"), data.side(role == "gallery")


def _clothes_settings(data: QueryGallery, query: Side, gallery: Side) -> dict:
    distances = data.distances(query, gallery)
    rules = {
        "general": same_pid_same_camera,
        "same_clothes": any_of(same_pid_same_camera, same_pid_other_outfit),
        "clothes_changing": any_of(same_pid_same_camera, same_pid_same_outfit),
    }
    return {setting: summary([score(setting, distances, query, gallery, rule)])
            for setting, rule in rules.items()}


def _evaluate(data: QueryGallery, setting: str, query: Side, gallery: Side, rule) -> dict:
    return summary([score(setting, data.distances(query, gallery), query, gallery, rule)])
