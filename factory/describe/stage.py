"""The describe stage: an `images` table in, a `prompts` table out; per-image descriptions
(a VLM's answers, `images.py`, or the dataset's own) in between.

Every reply, the dataset's own included, passes the same check (`replies.py`) before it becomes a
prompt; a rejected one is asked again with a new seed up to `retries` times, then recorded as a
failed row whose `error` says why. Accepted rows are committed after every round, and a re-run
skips the keys already in the output table, so an interrupted run loses at most one round.
"""

import os
from pathlib import Path

import polars as pl
import pyarrow as pa

from factory.describe import environment
from factory.describe.images import AnswersTable, answers_path, describe_images
from factory.describe.replies import Verdict, check_caption, check_clothing
from factory.describe.requests import (
    Request,
    dataset_descriptions,
    describe,
    load_images,
    prompt_keys,
    requests_for,
)
from factory.describe.vlm import pin_vlm_revision
from factory.storage import storage_path
from factory.table_io import read_table, write_table
from schemas.describe_config import DescribeConfig
from schemas.tables import PROMPTS


def check_reply(config: DescribeConfig, kind: str, reply: str) -> Verdict:
    if kind == "clothing":
        return check_clothing(reply, max_items=config.max_items,
                              max_item_chars=config.max_item_chars)
    return check_caption(reply, max_caption_chars=config.max_caption_chars)


def _row(request: Request, verdict: Verdict, *, backend: str, model: str) -> dict:
    return {"key": request.key, "kind": request.kind, "text": verdict.text,
            "items": verdict.items, "backend": backend, "model": model, "error": verdict.error}


class PromptsTable:
    """The output table: rows already there, plus the rows of this run, committed together."""

    def __init__(self, path: Path, *, redo_failed: bool):
        self.path = path
        self.rows: list[dict] = []
        if path.exists():
            self.rows = read_table(path, "prompts").to_pylist()
            if redo_failed:
                self.rows = [row for row in self.rows if row["error"] is None]
        self.keys = {(row["key"], row["kind"]) for row in self.rows}

    def has(self, request: Request) -> bool:
        return (request.key, request.kind) in self.keys

    def commit(self, new_rows: list[dict]) -> pa.Table:
        """Add `new_rows` and rewrite the table atomically; returns the whole table."""
        self.rows.extend(new_rows)
        self.keys.update((row["key"], row["kind"]) for row in new_rows)
        table = pa.Table.from_pylist(self.rows, schema=PROMPTS)
        if new_rows or not self.path.exists():
            write_table(table, self.path, "prompts")
        return table


def _describe_with_llm(config: DescribeConfig, pending: list[Request],
                       table: PromptsTable) -> list[dict]:
    """Ask, check, commit the accepted rows, ask again for the rest; returns the failed rows."""
    from factory.describe.llm import ask

    last_error: dict[tuple[str, str], str] = {}
    for attempt in range(config.retries + 1):
        if not pending:
            return []
        by_key = {(request.key, request.kind): request for request in pending}
        verdicts = dict.fromkeys(by_key, Verdict.rejected("no reply came back"))
        for reply in ask(config, list(by_key.values()), attempt):
            verdicts[(reply.key, reply.kind)] = (Verdict.rejected(reply.failure) if reply.failure
                                                 else check_reply(config, reply.kind, reply.text))
        accepted, pending = [], []
        for key, verdict in verdicts.items():
            if verdict.error is None:
                accepted.append(_row(by_key[key], verdict, backend=config.backend,
                                     model=config.model))
            else:
                last_error[key] = verdict.error
                pending.append(by_key[key])
        table.commit(accepted)
        print(f"describe: attempt {attempt + 1}: {len(accepted)} accepted, {len(pending)} to redo")
    return [_row(request, Verdict.rejected(
        f"rejected {config.retries + 1} times; last: {last_error[(request.key, request.kind)]}"),
        backend=config.backend, model=config.model) for request in pending]


def _descriptions(config: DescribeConfig, images: pl.DataFrame, todo: set[tuple[str, str]],
                  paths: tuple[Path, Path], *, ask_vlm: bool) -> tuple[pl.DataFrame, str]:
    """The per-image descriptions (the dataset's own, or the VLM's answers, asked for now
    unless `ask_vlm` is off), and the table they are in."""
    images_table, out = paths
    if config.vlm_backend == "attributes":
        descriptions, source = dataset_descriptions(images, images_table, config)
        return descriptions, str(source)
    if ask_vlm:
        config = pin_vlm_revision(config)
    answers = AnswersTable(answers_path(config, out), config)
    if ask_vlm:
        return describe_images(config, images, todo, answers), str(answers.path)
    return answers.frame(), str(answers.path)


def run_describe(config: DescribeConfig, images_table: str | os.PathLike,
                 out_prompts_table: str | os.PathLike, *, ask_vlm: bool = True) -> pa.Table:
    """Write the `prompts` table for the images of `images_table` to `out_prompts_table`.

    Clothing items per outfit (DLCR) and a caption per identity (LPE), as `config.kinds` asks,
    from per-image descriptions: the VLM's answers (`images.py`; `ask_vlm` off uses those
    already in the answers table) or the dataset's own. A vLLM backend whose libraries are
    missing here runs in the describe environment instead (a second Python, see
    `environment.py`). Returns the whole table.
    """
    images_table, out = storage_path(images_table), storage_path(out_prompts_table)
    images = load_images(images_table, config)
    table = PromptsTable(out, redo_failed=config.redo_failed)
    todo = prompt_keys(images, config) - table.keys
    if not todo:
        return table.commit([])
    if ask_vlm and config.vlm_backend == "vllm" and not environment.has_vllm():
        environment.run_in_describe_env(config, images_table, out)
        return read_table(out, "prompts")
    descriptions, source = _descriptions(config, images, todo, (images_table, out),
                                         ask_vlm=ask_vlm)
    requests = [request for request in requests_for(describe(images, descriptions), config)
                if (request.key, request.kind) in todo]
    pending = [request for request in requests if request.unanswerable is None]
    if pending and config.backend == "vllm" and not environment.has_vllm():
        environment.run_in_describe_env(config, images_table, out, ask_vlm=False)
        return read_table(out, "prompts")
    rows = [_row(request, Verdict.rejected(request.unanswerable), backend=config.backend,
                 model=config.model) for request in requests if request.unanswerable]
    if config.backend == "attributes":
        rows += [_row(request, check_reply(config, request.kind, request.dataset_reply),
                      backend="attributes", model=source) for request in pending]
    else:
        rows += _describe_with_llm(config, pending, table)
    return table.commit(rows)
