"""The VLM backends for real, on CPU, with the tiny random Idefics3 built locally, on a tiny tree
in PRCC's own layout (no toy files): `vllm` through `ray.data.llm` in the describe environment
(.venv-describe) with the tiny Llama extracting the items after it, `transformers` answers feeding
the vLLM LLM there, and `http` against a vLLM OpenAI-compatible server on 127.0.0.1.

They need the describe environment (`make describe-env`; `make test` makes it first).
"""

import time

import polars as pl
import pytest
from dataset_trees import prcc_tree
from vllm_servers import vllm_server

from factory.describe import run_describe
from factory.describe.environment import DEFAULT_PYTHON
from factory.describe.images import IDENTITY_QUESTION, OUTFIT_QUESTION
from factory.laptop.stand_ins.vlm import smoke_settings
from factory.laptop.tiny_llm import smoke_settings as llm_smoke_settings
from factory.table_io import read_table, write_table
from schemas.describe_config import DescribeConfig

needs_describe_env = pytest.mark.skipif(not DEFAULT_PYTHON.exists(),
                                        reason=f"no describe environment ({DEFAULT_PYTHON}): "
                                               "run `make describe-env`")


@pytest.fixture(scope="module")
def prcc(tmp_path_factory):
    """The `images` table of a PRCC tree in the real layout, and its training images."""
    root = tmp_path_factory.mktemp("prcc")
    images = root / "images.parquet"
    write_table(prcc_tree(root / "prcc").read_and_check("prcc"), images, "images")
    return images, pl.read_parquet(images).filter(pl.col("split") == "train")


def _expected_keys(train: pl.DataFrame) -> set[tuple[str, str]]:
    return ({(outfit, "clothing") for outfit in train["outfit"].unique()}
            | {(str(pid), "caption") for pid in train["pid"].unique()})


def _job(tmp_path, images, **describe) -> tuple:
    out, job = tmp_path / "prompts.parquet", tmp_path / "job.yaml"
    section = "".join(f"  {key}: {value}\n" for key, value in describe.items())
    job.write_text(f"method: dlcr\nimages: {images}\nprompts: {out}\nout: {tmp_path / 'job'}\n"
                   f"model: stable-diffusion-v1-5/stable-diffusion-inpainting\nparser: "
                   f"mattmdjaga/segformer_b2_clothes\ndescribe:\n{section}")
    return job, out


@needs_describe_env
def test_vllm_vlm_then_vllm_llm_run_dlcr_on_a_real_layout_tree(prcc, tmp_path, capsys):
    from factory.cli import main

    images, train = prcc
    job, out = _job(tmp_path, images, vlm_backend="vllm", backend="vllm",
                    images_per_identity=1)
    # `factory describe --smoke`: the tiny Idefics3, then the tiny Llama, on vLLM's CPU build.
    started = time.monotonic()
    assert main(["describe", str(job), "--smoke"]) == 0
    print(f"vllm VLM + LLM: {time.monotonic() - started:.0f} s")
    answers = pl.from_arrow(read_table(tmp_path / "prompts.descriptions.parquet",
                                       "descriptions"))
    # Guided decoding with the answer schema: every image is answered on the first attempt.
    assert set(answers["image_id"]) == set(train["image_id"])
    assert answers["outfit_text"].null_count() == 0
    assert answers["identity_text"].null_count() == train.height - train["pid"].n_unique()
    assert set(answers["model"]) == {str(tmp_path / "job" / "smoke-vlm")}
    assert set(answers["prompt"]) == {OUTFIT_QUESTION, f"{OUTFIT_QUESTION}\n{IDENTITY_QUESTION}"}
    prompts = pl.from_arrow(read_table(out, "prompts"))
    assert set(prompts.select("key", "kind").iter_rows()) == _expected_keys(train)
    assert prompts["error"].null_count() == prompts.height, prompts["error"].drop_nulls()
    assert set(prompts["model"]) == {str(tmp_path / "job" / "smoke-llm")}
    assert f"{prompts.height} prompts, 0 failed" in capsys.readouterr().out
    answers_file = tmp_path / "prompts.descriptions.parquet"
    written = (out.stat().st_mtime_ns, answers_file.stat().st_mtime_ns)
    started = time.monotonic()
    assert main(["describe", str(job), "--smoke"]) == 0  # all there: no environment, no engine
    assert time.monotonic() - started < 30
    assert written == (out.stat().st_mtime_ns, answers_file.stat().st_mtime_ns)


@needs_describe_env
def test_transformers_answers_feed_the_vllm_llm_of_the_describe_environment(
        ray_cluster, prcc, tmp_path, capsys):
    images, train = prcc
    models = tmp_path / "models"
    config = DescribeConfig(**{**smoke_settings(models / "tiny-vlm"),
                               **llm_smoke_settings(models / "tiny-llm"), "vlm_max_tokens": 24},
                            vlm_backend="transformers", backend="vllm", kinds=["clothing"])
    out = tmp_path / "prompts.parquet"
    started = time.monotonic()
    prompts = pl.from_arrow(run_describe(config, images, out))
    print(f"transformers VLM + vllm LLM: {time.monotonic() - started:.0f} s")
    # The VLM ran here (main environment), the LLM in .venv-describe on its answers table.
    assert "VLM attempt 1: " in capsys.readouterr().out
    answers = pl.from_arrow(read_table(tmp_path / "prompts.descriptions.parquet",
                                       "descriptions"))
    assert set(answers["image_id"]) == set(train["image_id"])
    assert set(answers["prompt"]) == {OUTFIT_QUESTION}
    assert set(prompts.select("key", "kind").iter_rows()) == {
        key for key in _expected_keys(train) if key[1] == "clothing"}
    assert prompts["error"].null_count() == prompts.height, prompts["error"].drop_nulls()


@needs_describe_env
def test_http_vlm_asks_an_openai_compatible_server_with_data_urls(ray_cluster, prcc, tmp_path):
    images, train = prcc
    smoke = smoke_settings(tmp_path / "tiny-vlm")
    with vllm_server(smoke["vlm"], "tiny-vlm", {**smoke, "max_model_len": 1024},
                     "--limit-mm-per-prompt", '{"image": 1}') as url:
        config = DescribeConfig(vlm_backend="http", vlm="tiny-vlm", vlm_server_url=url,
                                vlm_max_tokens=smoke["vlm_max_tokens"],
                                max_answer_chars=smoke["max_answer_chars"],
                                kinds=["caption"], images_per_identity=2)
        started = time.monotonic()
        run_describe(config, images, tmp_path / "prompts.parquet")
        print(f"http VLM: {time.monotonic() - started:.0f} s")
    answers = pl.from_arrow(read_table(tmp_path / "prompts.descriptions.parquet",
                                       "descriptions"))
    # The server honours the answer schema (response_format): every question is answered.
    assert answers.height == 3 and answers["identity_text"].null_count() == 0
    assert set(answers["model"]) == {"tiny-vlm"}
