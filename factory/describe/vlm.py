"""Asking a vision-language model about images, on Ray Data: vLLM engines through
`ray.data.llm`, any OpenAI-compatible server through `ray.data.llm`'s HTTP stage, or the model
folder under transformers' `generate()` on an actor pool.

A row carries one question about one image, the image as its file's encoded bytes (what crosses
the object store; each backend decodes or re-encodes it on the worker), and the attempt number
that seeds the sampling. A reply comes back as text, unchecked (`replies.check_answer` checks
it), or with the reason there is none. vLLM and the server answer JSON under the answer schema
(structured output); transformers answers plain text from a printable alphabet.
"""

import base64
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache, partial

from factory.describe.llm import http_headers, vllm_processor_config
from factory.describe.replies import ANSWER_CHARACTERS, answer_schema
from factory.pretrained.hub import is_hub_id, pinned_folder
from schemas.describe_config import DescribeConfig

ANSWER_FORMAT = ' Reply with JSON only, as {"answer": "..."}.'
DATA_URL_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


LOCAL_BACKENDS = ("vllm", "transformers")  # the job loads the VLM itself


def pin_vlm_revision(config: DescribeConfig) -> DescribeConfig:
    """A hub VLM the job loads itself at the revision `factory models pull` pinned, recorded
    in every answer's lineage; a given `vlm_revision` is kept, and a hub VLM never pulled stops
    here, naming it."""
    if (config.vlm_backend in LOCAL_BACKENDS and config.vlm_revision is None
            and is_hub_id(config.vlm)):
        snapshot = pinned_folder(config.vlm, "describe.vlm")  # snapshots/<commit>
        return config.model_copy(update={"vlm_revision": snapshot.name})
    return config


def loading_config(config: DescribeConfig) -> DescribeConfig:
    """What the backend loads: a pinned hub VLM from its snapshot folder in the model cache,
    found here on the driver, so no worker resolves (or downloads) anything."""
    if config.vlm_backend in LOCAL_BACKENDS and is_hub_id(config.vlm):
        snapshot = pinned_folder(config.vlm, "describe.vlm")
        if config.vlm_revision in (None, snapshot.name):
            return config.model_copy(update={"vlm": str(snapshot), "vlm_revision": None})
    return config


def open_image(data: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(data))


def _question_text(row: dict, *, json_reply: bool) -> str:
    return row["question"] + (ANSWER_FORMAT if json_reply else "")


def _sampling(config: DescribeConfig, row: dict) -> dict:
    return {"temperature": config.vlm_temperature, "max_tokens": config.vlm_max_tokens,
            "seed": int(row["seed"])}


@lru_cache(maxsize=2)
def _chat_template(model: str, revision: str | None):
    """The VLM's tokenizer (its chat template), loaded once per worker; a model whose template
    lives only in its processor falls back to that."""
    from transformers import AutoProcessor, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
    return tokenizer if tokenizer.chat_template else AutoProcessor.from_pretrained(
        model, revision=revision)


def _vllm_row(row: dict, *, config: DescribeConfig) -> dict:
    messages = [{"role": "user", "content": [
        {"type": "image"}, {"type": "text", "text": _question_text(row, json_reply=True)}]}]
    prompt = _chat_template(config.vlm, config.vlm_revision).apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False)
    sampling = _sampling(config, row)
    if config.structured_output:
        schema = answer_schema(max_answer_chars=config.max_answer_chars)
        sampling["structured_outputs"] = {"json": json.dumps(schema)}
    return {"key": row["key"], "prompt": prompt, "sampling_params": sampling,
            "multimodal_data": {"image": open_image(row["image"]).convert("RGB")}}


def _vllm(config: DescribeConfig, dataset):
    from ray.data.llm import build_processor

    stage = {"num_cpus": config.cpus_per_stage}
    engine = {"limit_mm_per_prompt": {"image": 1}}
    if config.vlm_revision:
        engine["revision"] = config.vlm_revision
    # Ray's own chat-template and multimodal stages do not run with vLLM 0.32's multimodal
    # inputs: the prompt is templated here, and vLLM tokenises and detokenises itself.
    processor_config = vllm_processor_config(
        config, model=config.vlm, engine_kwargs=engine, chat_template_stage=False,
        tokenize_stage=False, detokenize_stage=False)
    processor = build_processor(
        processor_config, preprocess=partial(_vllm_row, config=config),
        postprocess=lambda row: {"key": row["key"], "reply": row["generated_text"]},
        preprocess_map_kwargs=stage, postprocess_map_kwargs=stage)
    return processor(dataset)


def data_url(data: bytes) -> str:
    """An image file's bytes as a data URL; formats servers may not read are sent as PNG."""
    image = open_image(data)
    mime = DATA_URL_FORMATS.get(image.format or "")
    if mime is None:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        data, mime = buffer.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _http_row(row: dict, *, config: DescribeConfig) -> dict:
    content = [{"type": "image_url", "image_url": {"url": data_url(row["image"])}},
               {"type": "text", "text": _question_text(row, json_reply=True)}]
    payload = {"model": config.vlm, "messages": [{"role": "user", "content": content}],
               **_sampling(config, row)}
    if config.structured_output:
        schema = {"name": "answer", "strict": True,
                  "schema": answer_schema(max_answer_chars=config.max_answer_chars)}
        payload["response_format"] = {"type": "json_schema", "json_schema": schema}
    return {"key": row["key"], "payload": payload}


def _http_reply(row: dict) -> dict:
    try:
        return {"key": row["key"],
                "reply": row["http_response"]["choices"][0]["message"]["content"] or ""}
    except (KeyError, IndexError, TypeError):
        return {"key": row["key"], "reply": "", "__inference_error__": "server answered "
                f"without a reply: {json.dumps(row['http_response'], default=str)[:300]}"}


def _http(config: DescribeConfig, dataset):
    from ray.data.llm import HttpRequestProcessorConfig, build_processor

    stage = {"num_cpus": config.cpus_per_stage}
    processor_config = HttpRequestProcessorConfig(
        url=config.vlm_server_url, headers=http_headers(config), batch_size=config.batch_size,
        concurrency=config.concurrency, max_retries=3, http_request_stage=stage)
    processor = build_processor(processor_config, preprocess=partial(_http_row, config=config),
                                postprocess=_http_reply, preprocess_map_kwargs=stage,
                                postprocess_map_kwargs=stage)
    return processor(dataset)


class TransformersVLM:
    """The VLM folder under transformers' `generate()`, one per actor (CPU or the actor's GPU).

    Each row is generated alone with its own seed, so an answer does not depend on its batch.
    Tokens outside the answer alphabet are suppressed: plain text, as the schema asks of vLLM.
    """

    def __init__(self, config: DescribeConfig):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.config = config
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = AutoProcessor.from_pretrained(config.vlm, revision=config.vlm_revision)
        self.model = AutoModelForImageTextToText.from_pretrained(
            config.vlm, revision=config.vlm_revision).to(self.device).eval()
        tokenizer = self.processor.tokenizer
        self.suppressed = [i for i in range(len(tokenizer)) if not _printable(tokenizer, i)]

    def _answer(self, question: str, image_bytes: bytes, seed: int) -> str:
        import torch

        messages = [{"role": "user", "content": [{"type": "image"},
                                                 {"type": "text", "text": question}]}]
        prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        image = open_image(image_bytes).convert("RGB")
        inputs = self.processor(text=[prompt], images=[[image]], return_tensors="pt")
        torch.manual_seed(seed)
        sample = self.config.vlm_temperature > 0
        with torch.inference_mode():
            output = self.model.generate(
                **inputs.to(self.device), max_new_tokens=self.config.vlm_max_tokens,
                do_sample=sample, temperature=self.config.vlm_temperature if sample else None,
                top_p=None, top_k=None, suppress_tokens=self.suppressed)
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        return self.processor.tokenizer.decode(new_tokens, skip_special_tokens=True)

    def __call__(self, batch: dict) -> dict:
        replies = [self._answer(_question_text({"question": question}, json_reply=False),
                                image, int(seed))
                   for question, image, seed in zip(batch["question"], batch["image"],
                                                    batch["seed"], strict=True)]
        return {"key": batch["key"], "reply": replies}


def _printable(tokenizer, token_id: int) -> bool:
    """Whether a token may appear in a plain-text answer: end of reply, or answer characters."""
    if token_id == tokenizer.eos_token_id:
        return True
    if token_id in tokenizer.all_special_ids:
        return False
    text = tokenizer.decode([token_id])
    return bool(text) and re.fullmatch(f"[{ANSWER_CHARACTERS}]+", text) is not None


def _transformers(config: DescribeConfig, dataset):
    import ray

    return dataset.map_batches(
        TransformersVLM, fn_constructor_args=(config,), batch_size=config.batch_size,
        compute=ray.data.ActorPoolStrategy(size=config.concurrency),
        num_gpus=config.gpus_per_engine, num_cpus=config.cpus_per_engine)


@dataclass(frozen=True)
class VLMBackend:
    """How a backend turns a dataset of questions into one of replies, and whether a reply is
    JSON under the answer schema (else plain text)."""

    replies: Callable
    json_reply: bool


VLM_BACKENDS = {"vllm": VLMBackend(_vllm, json_reply=True),
                "http": VLMBackend(_http, json_reply=True),
                "transformers": VLMBackend(_transformers, json_reply=False)}


def ask_images(config: DescribeConfig, rows: list[dict]) -> Iterator[dict]:
    """Send every row (key, question, image bytes, seed) once to the configured VLM backend;
    yields {key, reply, failure} as the replies come (failure: why there is no reply)."""
    import ray

    from factory.local_ray import init_ray

    init_ray()
    dataset = ray.data.from_items(rows)
    for row in VLM_BACKENDS[config.vlm_backend].replies(config, dataset).iter_rows():
        failure = row.get("__inference_error__") or None
        yield {"key": row["key"], "reply": row.get("reply") or "", "failure": failure}
