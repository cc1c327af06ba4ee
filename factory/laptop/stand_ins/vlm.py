"""A tiny randomly initialised Idefics3 (SmolVLM's architecture), built locally: the stand-in of
the describe stage's vision-language model (LLaVA in DLCR).

Idefics3 is the one VLM architecture vLLM's CPU build runs here (the others import
torchvision-based image processors; ARCHITECTURE.md, issue 14's recipe): a SigLIP-style vision
tower (56-pixel images, 14-pixel patches), a pixel-shuffle connector (`scale_factor` 2: four image
tokens per picture) and a Llama text model, with SmolVLM's special tokens and chat template, a
byte-level BPE trained on a fixed corpus and `Idefics3Processor` with the PIL image processor.
vLLM, transformers' `generate()` and an OpenAI-compatible server load the folder like the real
model. Its replies are noise; under structured output they still fit the JSON schema. Nothing is
downloaded, and the same seed gives the same files.
"""

import os
from pathlib import Path

from factory.laptop.bpe import train_byte_level_bpe

VISION = {"hidden_size": 64, "num_attention_heads": 2, "num_hidden_layers": 2,
          "intermediate_size": 128, "image_size": 56, "patch_size": 14}
SCALE_FACTOR = 2
IMAGE_SEQ_LEN = (VISION["image_size"] // VISION["patch_size"]) ** 2 // SCALE_FACTOR ** 2  # 4
# head size 32: one vLLM's CPU attention supports
TEXT = {"hidden_size": 128, "num_attention_heads": 4, "num_key_value_heads": 4,
        "num_hidden_layers": 2, "intermediate_size": 256}
VOCAB_SIZE = 400
# SmolVLM's special tokens: text delimiters, the image markers, and the tile grid tags the
# processor looks up even with image splitting off.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<end_of_utterance>",
                  "<fake_token_around_image>", "<image>", "<global-img>",
                  *(f"<row_{row}_col_{col}>" for row in range(1, 7) for col in range(1, 7)))
# SmolVLM-Instruct's template ("User:<image>What ...<end_of_utterance>\nAssistant:"), also
# accepting plain-string contents.
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}{{ ': ' + message['content'] }}"
    "{% else %}{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}"
    "{% endif %}{% for part in message['content'] %}{% if part['type'] == 'text' %}"
    "{{ part['text'] }}{% elif part['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "{% endif %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
CORPUS = (
    "User: Assistant: What clothes is the person wearing? Describe the person's build, hair and "
    "age. The person is wearing a red shirt and blue jeans with white sneakers. a tall man with "
    "short black hair, a woman with long brown hair. black white grey red blue green yellow "
    "brown orange purple pink dark light cotton denim wool leather striped plain jacket coat "
    "hoodie sweater dress skirt shorts trousers pants shoes boots bag backpack hat cap "
    '{"items": ["red shirt", "blue trousers"]} {"caption": "a tall person"}'
)


def build_tokenizer():
    """A byte-level BPE with SmolVLM's special tokens and chat template (deterministic)."""
    from transformers import PreTrainedTokenizerFast

    words = CORPUS.split()
    backend = train_byte_level_bpe([" ".join(words[i:i + 8]) for i in range(0, len(words), 8)],
                                   vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<end_of_utterance>",
        unk_token="<|endoftext|>", pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[3:]))
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer):
    """`Idefics3Processor` with the PIL image processor: one 56-pixel picture, no tiles."""
    from transformers import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    edge = {"longest_edge": VISION["image_size"]}
    image_processor = Idefics3ImageProcessorPil(do_image_splitting=False, size=edge,
                                                max_image_size=edge)
    return Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                             image_seq_len=IMAGE_SEQ_LEN, chat_template=CHAT_TEMPLATE)


def build_tiny_vlm(out: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write the tiny VLM (weights, config, tokenizer, processor) into `out`; returns it.

    An existing complete folder is kept as it is, so callers can build it once and reuse it.
    """
    out = Path(out)
    if (out / "config.json").exists() and (out / "processor_config.json").exists():
        return out
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration

    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("bos_token_id", "<|im_start|>"), ("eos_token_id", "<end_of_utterance>"),
        ("pad_token_id", "<|endoftext|>"))}
    text = {"model_type": "llama", "vocab_size": len(tokenizer), "max_position_embeddings": 2048,
            "tie_word_embeddings": False, **TEXT, **ids}
    config = Idefics3Config(vision_config=VISION, text_config=text, scale_factor=SCALE_FACTOR,
                            image_token_id=processor.image_token_id, tie_word_embeddings=False,
                            **ids)
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config.eos_token_id = ids["eos_token_id"]
    model.generation_config.pad_token_id = ids["pad_token_id"]
    staging = out.with_name(f".{out.name}.partial")
    model.save_pretrained(staging)
    processor.save_pretrained(staging)
    staging.replace(out)  # complete or absent: a crash leaves only the staging folder
    return out


def cpu_vlm_settings() -> dict:
    """`DescribeConfig` fields of a VLM run on vLLM's CPU build or transformers, small enough
    for a laptop or a test."""
    from factory.laptop.tiny_llm import SMOKE_ENGINE_KWARGS

    return {"gpus_per_engine": 0.0, "gpu_memory_utilization": 0.1, "max_model_len": 1024,
            "vlm_max_tokens": 160, "max_answer_chars": 120, "engine_kwargs": SMOKE_ENGINE_KWARGS}


def smoke_settings(folder: str | os.PathLike) -> dict:
    """`DescribeConfig` fields of a smoke run's VLM: the tiny VLM (built into `folder` once)."""
    return {"vlm": str(build_tiny_vlm(folder)), **cpu_vlm_settings()}
