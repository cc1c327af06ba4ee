"""The LLM backends for real, on CPU, with a tiny randomly initialised Llama built locally:
`vllm` through `ray.data.llm` in the describe environment (.venv-describe), and `http` through
`ray.data.llm` against a vLLM OpenAI-compatible server this module starts on 127.0.0.1.

They need the describe environment (`make describe-env`; `make test` makes it first).
"""

import time

import polars as pl
import pytest
from vllm_servers import vllm_server as serve

from factory.describe import run_describe
from factory.describe.environment import DEFAULT_PYTHON
from factory.describe.llm import _http_row, reply_schema
from factory.describe.replies import check_caption, check_clothing
from factory.laptop.tiny_llm import smoke_settings
from factory.laptop.toyworld.writer import world_root, world_tables
from factory.table_io import read_table
from schemas.describe_config import DescribeConfig

SERVED_NAME = "tiny-llama"

needs_describe_env = pytest.mark.skipif(not DEFAULT_PYTHON.exists(),
                                        reason=f"no describe environment ({DEFAULT_PYTHON}): "
                                               "run `make describe-env`")


@pytest.fixture(scope="module")
def toy_ltcc(toy_images):
    return toy_images("ltcc")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    return smoke_settings(tmp_path_factory.mktemp("models") / "tiny-llm")


@pytest.fixture(scope="module")
def vllm_server(smoke):
    """A vLLM OpenAI-compatible server on 127.0.0.1 serving the tiny Llama; stopped afterwards."""
    with serve(smoke["model"], SERVED_NAME, smoke) as url:
        yield url


def _descriptions(images_path):
    return world_tables(world_root(pl.read_parquet(images_path)["path"][0]))["descriptions"]


def _expected_keys(images_path) -> set[tuple[str, str]]:
    train = pl.read_parquet(images_path).filter(pl.col("split") == "train")
    return ({(outfit, "clothing") for outfit in train["outfit"].unique()}
            | {(str(pid), "caption") for pid in train["pid"].unique()})


def _assert_every_reply_was_checked(prompts: pl.DataFrame, config: DescribeConfig) -> None:
    import json

    for kind, text, items, error in prompts.select("kind", "text", "items", "error").iter_rows():
        if error is not None:
            assert text == "" and items == []
        elif kind == "clothing":
            assert text == ", ".join(items)
            again = check_clothing(json.dumps({"items": items}), max_items=config.max_items,
                                   max_item_chars=config.max_item_chars)
            assert again.error is None and again.items == items
        else:
            assert check_caption(json.dumps({"caption": text}),
                                 max_caption_chars=config.max_caption_chars).text == text


@needs_describe_env
def test_vllm_backend_runs_ray_data_llm_in_the_describe_environment(toy_ltcc, tmp_path, capsys):
    from factory.cli import main

    out = tmp_path / "prompts.parquet"
    job = tmp_path / "job.yaml"
    job.write_text(f"method: diffusion_reid\nimages: {toy_ltcc}\nprompts: {out}\n"
                   f"out: {tmp_path / 'job'}\nmodel: runwayml/stable-diffusion-v1-5\n"
                   f"describe:\n  descriptions: {_descriptions(toy_ltcc)}\n")
    # `factory describe --smoke`: the tiny Llama on vLLM's CPU build, run by .venv-describe.
    assert main(["describe", str(job), "--set", "describe.backend=vllm", "--smoke"]) == 0
    prompts = pl.from_arrow(read_table(out, "prompts"))
    assert set(prompts.select("key", "kind").iter_rows()) == _expected_keys(toy_ltcc)
    assert set(prompts["backend"]) == {"vllm"}
    assert set(prompts["model"]) == {str(tmp_path / "job" / "smoke-llm")}
    # Guided decoding with the JSON schema: even a random model's replies pass the check.
    assert prompts["error"].null_count() == prompts.height, prompts["error"].drop_nulls()
    _assert_every_reply_was_checked(prompts, DescribeConfig())
    assert f"{prompts.height} prompts, 0 failed" in capsys.readouterr().out
    written = out.stat().st_mtime_ns
    started = time.monotonic()
    # Every key is there: no describe environment, no engine is started.
    assert main(["describe", str(job), "--set", "describe.backend=vllm", "--smoke"]) == 0
    assert time.monotonic() - started < 30 and out.stat().st_mtime_ns == written


@needs_describe_env
def test_http_backend_asks_an_openai_compatible_server(ray_cluster, toy_ltcc, vllm_server,
                                                         smoke, tmp_path):
    config = DescribeConfig(backend="http", server_url=vllm_server, model=SERVED_NAME,
                            max_tokens=smoke["max_tokens"], descriptions=_descriptions(toy_ltcc))
    prompts = pl.from_arrow(run_describe(config, toy_ltcc, tmp_path / "prompts.parquet"))
    assert set(prompts.select("key", "kind").iter_rows()) == _expected_keys(toy_ltcc)
    assert set(prompts["backend"]) == {"http"} and set(prompts["model"]) == {SERVED_NAME}
    # The server honours the JSON schema (response_format), so every reply passes the check.
    assert prompts["error"].null_count() == prompts.height, prompts["error"].drop_nulls()
    _assert_every_reply_was_checked(prompts, config)


@needs_describe_env
def test_malformed_replies_are_retried_then_recorded_as_failed_rows(ray_cluster, toy_ltcc,
                                                                     vllm_server, tmp_path):
    # Without structured output the random model's replies are not JSON at all.
    config = DescribeConfig(backend="http", server_url=vllm_server, model=SERVED_NAME,
                            structured_output=False, retries=1, max_tokens=48, kinds=["clothing"],
                            descriptions=_descriptions(toy_ltcc))
    out = tmp_path / "prompts.parquet"
    prompts = pl.from_arrow(run_describe(config, toy_ltcc, out))
    assert set(prompts.select("key", "kind").iter_rows()) == {
        key for key in _expected_keys(toy_ltcc) if key[1] == "clothing"}
    assert prompts["error"].null_count() == 0
    assert prompts["error"].str.starts_with("rejected 2 times; last: ").all()
    assert prompts["error"].str.contains("not JSON|no 'items'|names no garment").all()
    assert (prompts["text"] == "").all() and (prompts["items"].list.len() == 0).all()


def test_http_payloads_reach_the_server_with_their_own_kinds_schema(ray_cluster):
    import json

    config = DescribeConfig(backend="http")
    rows = [{"key": key, "kind": kind, "attempt": 0,
             "messages": json.dumps([{"role": "user", "content": key}])}
            for key, kind in (("1_1", "clothing"), ("1", "caption"))]
    # What ask() does: one dataset per kind, through Ray Data's Arrow blocks.
    for row in rows:
        dataset = ray_cluster.data.from_items([row] * 4, override_num_blocks=1)
        for sent in dataset.map(lambda r: _http_row(r, config=config)).take_all():
            schema = sent["payload"]["response_format"]["json_schema"]["schema"]
            assert schema == reply_schema(config, row["kind"])
