"""The describe stage: an `images` table in, a `prompts` table out.

Every reply, the dataset's own included, passes the same check (`replies.py`) before it becomes a
prompt; a rejected one is asked again with a new seed up to `retries` times, then recorded as a
failed row whose `error` says why. Accepted rows are committed after every round, and a re-run
skips the keys already in the output table, so an interrupted run loses at most one round.
"""

import os
from pathlib import Path

import pyarrow as pa

from factory.describe import environment
from factory.describe.replies import Verdict, check_caption, check_clothing
from factory.describe.requests import Request, load_described_images, requests_for
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


def run_describe(config: DescribeConfig, images_table: str | os.PathLike,
                 out_prompts_table: str | os.PathLike) -> pa.Table:
    """Write the `prompts` table for the images of `images_table` to `out_prompts_table`.

    Clothing items per outfit (DLCR) and a caption per identity (LPE), as `config.kinds` asks.
    An LLM backend whose libraries are missing here runs in the describe environment instead
    (a second Python, see `environment.py`). Returns the whole table.
    """
    images_table, out = Path(images_table), Path(out_prompts_table)
    described, source = load_described_images(images_table, config)
    table = PromptsTable(out, redo_failed=config.redo_failed)
    pending = [request for request in requests_for(described, config) if not table.has(request)]
    if pending and config.backend == "vllm" and not environment.has_vllm():
        environment.run_in_describe_env(config, images_table, out)
        return read_table(out, "prompts")
    if config.backend == "attributes":
        rows = [_row(request, check_reply(config, request.kind, request.dataset_reply),
                     backend="attributes", model=str(source)) for request in pending]
    else:
        rows = _describe_with_llm(config, pending, table)
    return table.commit(rows)
