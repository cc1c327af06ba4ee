"""Tiny stand-ins of the real models: SD-1.5's layout, loaded and run through the real loaders,
deterministic in their seed, and the `--set` lines that swap every shipped config's models."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from factory.diffusion.loader import load_pipeline, model_fingerprint
from factory.laptop.stand_ins import OVERRIDES, build_stand_ins, stand_in_overrides
from factory.methods import METHODS
from factory.parsing.labels import LABEL_SETS, label_set
from factory.parsing.parser import SegmentationParser, build_parser
from factory.pretrained.config_models import MODEL_FIELDS, read_job_config, require_pulled
from schemas.config_base import apply_overrides
from schemas.generation_configs import GenerationJobConfig

REPO = Path(__file__).resolve().parent.parent
SD15_DOWN = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
             "DownBlock2D")
GENERATION_CONFIGS = [path for path in sorted((REPO / "jobs" / "configs").glob("*.yaml"))
                      if read_job_config(path)[0] == "generation_job"]


def test_text_to_image_has_sd15s_layout_and_runs_two_steps(stand_ins):
    pipeline = load_pipeline("text2img", stand_ins["text2img"])
    assert type(pipeline).__name__ == "StableDiffusionPipeline"
    assert tuple(pipeline.unet.config.down_block_types) == SD15_DOWN
    assert pipeline.unet.config.in_channels == 4
    assert pipeline.unet.config.cross_attention_dim == pipeline.text_encoder.config.hidden_size
    assert len(pipeline.vae.config.block_out_channels) == 4  # x8, as SD-1.5's VAE
    assert pipeline.tokenizer("a").input_ids == [49406, 320, 49407]  # SD-1.5's CLIP ids
    image = pipeline("a person in a red coat", height=64, width=32, num_inference_steps=2,
                     generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 64)


def test_inpainting_has_a_nine_channel_unet_and_inpaints(stand_ins):
    with pytest.raises(ValueError, match="needs a UNet with 4 input channels"):
        load_pipeline("text2img", stand_ins["inpaint"])
    pipeline = load_pipeline("inpaint", stand_ins["inpaint"])
    assert pipeline.unet.config.in_channels == 9
    assert tuple(pipeline.unet.config.down_block_types) == SD15_DOWN
    mask = Image.new("L", (32, 64))
    mask.paste(255, (0, 16, 32, 40))
    image = pipeline("red shirt", image=Image.new("RGB", (32, 64), (90, 60, 30)),
                     mask_image=mask, height=64, width=32, num_inference_steps=2,
                     strength=1.0, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 64)


@pytest.mark.parametrize("labels", sorted(LABEL_SETS))
def test_parsers_carry_their_label_set_and_make_masks(stand_ins, labels):
    parser = build_parser(None, str(stand_ins[f"parser-{labels}"]), "cpu")
    assert isinstance(parser, SegmentationParser)
    assert label_set(parser.model.config.id2label).name == labels
    assert parser.model.config.num_encoder_blocks == 4  # SegFormer-B2's stages
    masks = parser([Image.new("RGB", (40, 90), (200, 20, 20))], ["a"])
    assert masks[0].shape == (90, 40) and masks[0].dtype == np.bool_


def test_the_llm_and_vlm_load_with_transformers(stand_ins):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(stand_ins["llm"])
    model = AutoModelForCausalLM.from_pretrained(stand_ins["llm"])
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What clothes?"}],
                                           tokenize=False)
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    assert model(ids).logits.shape == (1, ids.shape[1], model.config.vocab_size)
    assert AutoConfig.from_pretrained(stand_ins["vlm"]).model_type == "idefics3"


def test_builds_are_deterministic_in_the_seed_and_cached(stand_ins, tmp_path):
    again = build_stand_ins(tmp_path / "again", seed=0)
    assert all(model_fingerprint(again[role]) == model_fingerprint(path)
               for role, path in stand_ins.items())
    stamp = os.stat(again["text2img"] / "unet").st_mtime_ns
    assert build_stand_ins(tmp_path / "again", seed=0) == again  # same settings: reused
    assert os.stat(again["text2img"] / "unet").st_mtime_ns == stamp
    other = build_stand_ins(tmp_path / "other", seed=1)
    assert model_fingerprint(other["text2img"]) != model_fingerprint(stand_ins["text2img"])


@pytest.mark.parametrize("path", GENERATION_CONFIGS, ids=lambda path: path.stem)
def test_the_set_lines_swap_every_model_of_a_shipped_config(stand_ins, path):
    folder = stand_ins["text2img"].parent
    _, config = read_job_config(path)
    lines = (folder / f"stand-ins.{config.method}.txt").read_text().split()
    assert lines == stand_in_overrides(folder, config.method)
    assert [line.split("=")[0] for line in lines] == list(MODEL_FIELDS["generation_job"])
    swapped = apply_overrides(GenerationJobConfig, config, lines, source=str(path))
    swapped = swapped.model_copy(update={"masks": None})  # the parser model in use too
    refs = require_pulled("generation_job", swapped)  # every model is there, none on a hub
    assert refs and all(ref.source == "local" for ref in refs)
    assert Path(swapped.model) == stand_ins[METHODS[config.method].pipeline]
    if METHODS[config.method].pipeline == "text2img":
        assert (folder / OVERRIDES).read_text().split() == lines
