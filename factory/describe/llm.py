"""Asking an LLM through `ray.data.llm`: vLLM engines on Ray Data workers, or any
OpenAI-compatible chat-completions server.

Both backends send the same chat messages with the same sampling settings (DLCR: temperature 0.6,
top_p 0.9) and ask for the same JSON schema; a reply comes back as text, unchecked (the caller
checks it). A request that the engine or server could not answer comes back with the reason.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from functools import partial

from factory.config_paths import resolve_model
from factory.describe.replies import caption_schema, clothing_schema
from factory.describe.requests import Request
from schemas.describe_config import DescribeConfig


@dataclass(frozen=True)
class Reply:
    """What came back for one request: the reply text, or why there is none."""

    key: str
    kind: str
    text: str
    failure: str | None = None


def reply_schema(config: DescribeConfig, kind: str) -> dict:
    if kind == "clothing":
        return clothing_schema(max_items=config.max_items, max_item_chars=config.max_item_chars)
    return caption_schema(max_caption_chars=config.max_caption_chars)


def request_seed(config: DescribeConfig, key: str, kind: str, attempt: int) -> int:
    """Sampling seed of one attempt at one request: the same on every re-run, new per retry."""
    digest = hashlib.sha256(f"{config.seed}/{kind}/{key}/{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _sampling(config: DescribeConfig, row: dict) -> dict:
    return {"temperature": config.temperature, "top_p": config.top_p,
            "max_tokens": config.max_tokens,
            "seed": request_seed(config, row["key"], row["kind"], row["attempt"])}


def _vllm_row(row: dict, *, config: DescribeConfig) -> dict:
    sampling = _sampling(config, row)
    if config.structured_output:
        sampling["structured_outputs"] = {"json": json.dumps(reply_schema(config, row["kind"]))}
    return {"key": row["key"], "kind": row["kind"], "messages": json.loads(row["messages"]),
            "sampling_params": sampling}


def _http_row(row: dict, *, config: DescribeConfig) -> dict:
    payload = {"model": config.model, "messages": json.loads(row["messages"]),
               **_sampling(config, row)}
    if config.structured_output:
        schema = {"name": row["kind"], "schema": reply_schema(config, row["kind"]), "strict": True}
        payload["response_format"] = {"type": "json_schema", "json_schema": schema}
    return {"key": row["key"], "kind": row["kind"], "payload": payload}


def _vllm_reply(row: dict) -> dict:
    return {"key": row["key"], "kind": row["kind"], "reply": row["generated_text"], "failure": ""}


def _http_reply(row: dict) -> dict:
    response = row["http_response"]
    try:
        text = response["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return {"key": row["key"], "kind": row["kind"], "reply": "",
                "failure": f"server answered without a reply: {json.dumps(response)[:300]}"}
    return {"key": row["key"], "kind": row["kind"], "reply": text or "", "failure": ""}


def vllm_processor_config(config: DescribeConfig, *, model: str, engine_kwargs: dict,
                          **stages):
    """`ray.data.llm`'s vLLM processor config for `model` with the config's engine settings
    (`engine_kwargs` added, `config.engine_kwargs` winning) and the given stage settings."""
    from ray.data.llm import vLLMEngineProcessorConfig

    bundle = ({"GPU": config.gpus_per_engine, "CPU": 1.0} if config.gpus_per_engine
              else {"CPU": config.cpus_per_engine})  # without a bundle vLLM asks for a GPU
    engine_kwargs = {
        "max_model_len": config.max_model_len,
        "gpu_memory_utilization": config.gpu_memory_utilization,
        "structured_outputs_config": {"backend": config.structured_output_backend,
                                      "disable_any_whitespace": True},
        **engine_kwargs, **config.engine_kwargs,
    }
    return vLLMEngineProcessorConfig(
        model_source=model, engine_kwargs=engine_kwargs, batch_size=config.batch_size,
        concurrency=config.concurrency, log_engine_metrics=False,
        placement_group_config={"bundle_per_worker": bundle}, should_continue_on_error=True,
        **stages)


def _vllm_processor(config: DescribeConfig):
    from ray.data.llm import build_processor

    stage = {"num_cpus": config.cpus_per_stage}
    processor_config = vllm_processor_config(  # a hub id: its pinned snapshot, never a download
        config, model=resolve_model(config.model, "describe.model"), engine_kwargs={},
        chat_template_stage=stage,
        tokenize_stage=stage, detokenize_stage=stage)
    return build_processor(processor_config, preprocess=partial(_vllm_row, config=config),
                           postprocess=_vllm_reply, preprocess_map_kwargs=stage,
                           postprocess_map_kwargs=stage)


def http_headers(config: DescribeConfig) -> dict | None:
    """The servers' Authorization header, from the environment variable `api_key_env`."""
    if config.api_key_env is None:
        return None
    key = os.environ.get(config.api_key_env)
    if not key:
        raise ValueError(f"api_key_env: environment variable {config.api_key_env!r} is not set")
    return {"Authorization": f"Bearer {key}"}


def _http_processor(config: DescribeConfig):
    from ray.data.llm import HttpRequestProcessorConfig, build_processor

    stage = {"num_cpus": config.cpus_per_stage}
    processor_config = HttpRequestProcessorConfig(
        url=config.server_url, headers=http_headers(config), batch_size=config.batch_size,
        concurrency=config.concurrency, max_retries=3, http_request_stage=stage)
    return build_processor(processor_config, preprocess=partial(_http_row, config=config),
                           postprocess=_http_reply, preprocess_map_kwargs=stage,
                           postprocess_map_kwargs=stage)


PROCESSORS = {"vllm": _vllm_processor, "http": _http_processor}


def ask(config: DescribeConfig, requests: list[Request], attempt: int) -> list[Reply]:
    """Send every request once (attempt `attempt`) through the configured backend."""
    import ray

    from factory.local_ray import init_ray

    init_ray()
    rows = [{"key": r.key, "kind": r.kind, "messages": json.dumps(r.messages), "attempt": attempt}
            for r in requests]
    # An HTTP payload carries its JSON schema as nested dicts, and Arrow would merge the two
    # kinds' schemas into one struct (adding null properties): one dataset per kind. vLLM gets
    # the schema as text, so one dataset (one engine start) serves both.
    kinds = [None] if config.backend == "vllm" else sorted({row["kind"] for row in rows})
    replies = []
    for kind in kinds:
        subset = [row for row in rows if kind in (None, row["kind"])]
        if not subset:
            continue
        dataset = ray.data.from_items(subset)
        for row in PROCESSORS[config.backend](config)(dataset).take_all():
            failure = row.get("__inference_error__") or row.get("failure") or None
            replies.append(Reply(row["key"], row["kind"], row.get("reply") or "", failure))
    return replies
