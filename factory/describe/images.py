"""DLCR's first step: a vision-language model answers "What clothes is the person wearing?" for
every image (DLCR: LLaVA, temperature 0.2), and, for Diffusion-ReID's LPE, describes a few images
of each identity; the answers are the per-image `descriptions` table the LLM step reads.

The table (`describe.answers`) carries each answer's lineage (model, revision, questions, seed)
and is committed every COMMIT_EVERY answers and after every round (temporary file, then rename),
so a re-run asks only what is not in it. A rejected answer (`replies.check_answer`) is asked again
with a new seed `retries` times; an image still unanswered then is reported, and an outfit or
identity none of whose images was answered becomes a failed prompt row. Every image asked about
is decoded first, and one that cannot be is named in the error before any model starts.
"""

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pyarrow as pa

from factory.describe.llm import request_seed
from factory.describe.replies import check_answer
from factory.storage import storage_path
from factory.table_io import read_table, write_table
from schemas.describe_config import DescribeConfig
from schemas.tables import DESCRIPTIONS

OUTFIT_QUESTION = "What clothes is the person wearing?"  # DLCR's, verbatim
IDENTITY_QUESTION = ("What does the person look like, apart from their clothes? Their build, "
                     "hair and age, in a few words.")
# The descriptions table's text columns and the question each answers.
QUESTIONS = {"outfit_text": OUTFIT_QUESTION, "identity_text": IDENTITY_QUESTION}
COMMIT_EVERY = 256


def answers_path(config: DescribeConfig, prompts_path: Path) -> Path:
    """Where the VLM's answers go: `answers`, or beside the prompts table."""
    if config.answers is not None:
        return storage_path(config.answers)
    return prompts_path.with_name(f"{prompts_path.stem}.descriptions.parquet")


def _rank(config: DescribeConfig, image_id: str) -> str:
    return hashlib.sha256(f"{config.seed}/identity/{image_id}".encode()).hexdigest()


def questions_needed(images: pl.DataFrame, config: DescribeConfig,
                     todo: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """(image_id, column) of every answer the prompts `todo` ((key, kind) pairs) need: the
    clothes of every image of each outfit (clothing); the person and clothes of
    `images_per_identity` images of each identity (caption; a seeded choice)."""
    outfits = {key for key, kind in todo if kind == "clothing"}
    pids = {int(key) for key, kind in todo if kind == "caption"}
    needed = [(image_id, "outfit_text") for image_id in
              images.filter(pl.col("outfit").is_in(outfits))["image_id"]]
    ranked = images.filter(pl.col("pid").is_in(pids)).select("pid", "image_id").with_columns(
        pl.col("image_id").map_elements(lambda image_id: _rank(config, image_id),
                                        return_dtype=pl.String).alias("rank"))
    chosen = (ranked.sort("pid", "rank").group_by("pid", maintain_order=True)
              .head(config.images_per_identity))["image_id"]
    needed += [(image_id, column) for image_id in chosen
               for column in ("identity_text", "outfit_text")]
    return list(dict.fromkeys(needed))


class AnswersTable:
    """The VLM's `descriptions` table: rows already there plus this run's answers."""

    def __init__(self, path: Path, config: DescribeConfig):
        self.path, self.config = path, config
        rows = read_table(path, "descriptions").to_pylist() if path.exists() else []
        self.rows = {row["image_id"]: row for row in rows}
        self.unsaved = 0

    def has(self, image_id: str, column: str) -> bool:
        row = self.rows.get(image_id)
        return row is not None and row[column] is not None

    def add(self, image_id: str, column: str, text: str) -> None:
        row = self.rows.setdefault(image_id, {"image_id": image_id, "identity_text": None,
                                              "outfit_text": None, "items": []})
        row[column] = text
        asked = [QUESTIONS[name] for name in QUESTIONS if row[name] is not None]
        row.update(model=self.config.vlm, revision=self.config.vlm_revision,
                   prompt="\n".join(asked), seed=self.config.seed)
        self.unsaved += 1

    def commit(self) -> None:
        if self.unsaved or not self.path.exists():
            write_table(pa.Table.from_pylist(list(self.rows.values()), schema=DESCRIPTIONS),
                        self.path, "descriptions")
            self.unsaved = 0

    def frame(self) -> pl.DataFrame:
        return pl.from_arrow(pa.Table.from_pylist(list(self.rows.values()), schema=DESCRIPTIONS))


def _decode_error(path: str) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError) as exc:  # PIL's errors for broken files
        return f"{type(exc).__name__}: {exc}"
    return None


def check_images_decode(images: pl.DataFrame) -> None:
    """Raise, naming the first image (file and id) that cannot be decoded."""
    paths, ids = images["path"].to_list(), images["image_id"].to_list()
    with ThreadPoolExecutor(max_workers=4) as pool:
        for path, image_id, error in zip(paths, ids, pool.map(_decode_error, paths), strict=True):
            if error is not None:
                raise ValueError(f"{path} (image_id {image_id!r}): cannot be decoded as an "
                                 f"image, so no VLM can describe it ({error})")


def _read_image(row: dict) -> dict:
    return {**row, "image": storage_path(row["path"]).read_bytes()}


def _rows(config: DescribeConfig, pending: list[tuple[str, str]], paths: dict[str, str],
          attempt: int) -> list[dict]:
    return [{"key": f"{image_id}/{column}", "path": paths[image_id],
             "question": QUESTIONS[column],
             "seed": request_seed(config, image_id, column, attempt)}
            for image_id, column in pending]


def _ask(config: DescribeConfig, rows: list[dict], table: AnswersTable,
         last_error: dict) -> int:
    """One round: every row asked once, accepted answers added and committed as they come."""
    import ray

    from factory.describe.vlm import VLM_BACKENDS, loading_config
    from factory.local_ray import init_ray

    backend = VLM_BACKENDS[config.vlm_backend]
    init_ray()
    dataset = ray.data.from_items(rows).map(_read_image, num_cpus=config.cpus_per_stage)
    accepted = 0
    for row in backend.replies(loading_config(config), dataset).iter_rows():
        image_id, column = row["key"].rsplit("/", 1)
        failure = row.get("__inference_error__") or None
        verdict = check_answer(row.get("reply") or "", json_reply=backend.json_reply,
                               max_answer_chars=config.max_answer_chars)
        if failure or verdict.error:
            last_error[(image_id, column)] = failure or verdict.error
            continue
        table.add(image_id, column, verdict.text)
        accepted += 1
        if table.unsaved >= COMMIT_EVERY:
            table.commit()
    table.commit()
    return accepted


def describe_images(config: DescribeConfig, images: pl.DataFrame, todo: set[tuple[str, str]],
                    table: AnswersTable) -> pl.DataFrame:
    """Ask the VLM what the answers table lacks for the prompts `todo`; returns the table (as a
    frame) with every answer it got. Unanswered images are reported, not raised."""
    needed = questions_needed(images, config, todo)
    paths = dict(images.select("image_id", "path").iter_rows())
    pending = [question for question in needed if not table.has(*question)]
    if pending:
        check_images_decode(images.filter(pl.col("image_id").is_in({q[0] for q in pending})))
    last_error: dict[tuple[str, str], str] = {}
    for attempt in range(config.retries + 1):
        if not pending:
            break
        accepted = _ask(config, _rows(config, pending, paths, attempt), table, last_error)
        pending = [question for question in pending if not table.has(*question)]
        print(f"describe: VLM attempt {attempt + 1}: {accepted} answers, {len(pending)} to redo")
    table.commit()
    if pending:
        image_id, column = pending[0]
        print(f"describe: {len(pending)} question(s) unanswered after {config.retries + 1} "
              f"attempts, e.g. {paths[image_id]} ({column}): {last_error.get(pending[0])}")
    return table.frame()
