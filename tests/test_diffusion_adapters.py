"""Adapter folders on the smoke toy SD: written atomically, read back, applied by the loader."""

import json
import shutil

import pytest
import torch
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict

from factory.diffusion.adapters import (
    LORA_FILE,
    LORA_TARGETS,
    MANIFEST,
    TOKENS_FILE,
    add_token_rows,
    load_adapter_set,
    write_adapter_set,
)
from factory.diffusion.loader import load_pipeline, model_fingerprint
from factory.laptop.toy_sd.build import toy_sd_path

WIDTH, HEIGHT = 32, 64
CODES = {"rgb": "visible", "ir": "infrared"}
LORA = {"rank": 4, "alpha": 8, "target_modules": list(LORA_TARGETS)}


def sample(pipeline, prompt: str):
    return pipeline(prompt, height=HEIGHT, width=WIDTH, num_inference_steps=2,
                    generator=torch.Generator().manual_seed(0), output_type="np").images[0]


@pytest.fixture(scope="module")
def trained(toy_sd):
    """A toy SD with a random (non-zero) LoRA and two identity rows, as training leaves it."""
    pipeline = load_pipeline("text2img", toy_sd_path(toy_sd, "text2img"))
    torch.manual_seed(0)
    pipeline.unet.add_adapter(LoraConfig(r=4, lora_alpha=8, init_lora_weights="gaussian",
                                         target_modules=list(LORA_TARGETS)))
    for name, parameter in pipeline.unet.named_parameters():
        if "lora_B" in name:  # peft starts B at zero; a trained LoRA is not a no-op
            torch.nn.init.normal_(parameter, std=0.3)
    hidden = pipeline.text_encoder.get_input_embeddings().weight.shape[1]
    rows = {3: torch.randn(hidden), 5: torch.randn(hidden)}
    return pipeline, rows


@pytest.fixture(scope="module")
def adapter_folder(toy_sd, trained, tmp_path_factory):
    pipeline, rows = trained
    folder = tmp_path_factory.mktemp("adapters") / "sysu"
    write_adapter_set(folder, token_rows=rows, lora_state=get_peft_model_state_dict(pipeline.unet),
                      lora=LORA, codes=CODES,
                      base_fingerprint=model_fingerprint(toy_sd_path(toy_sd, "text2img")))
    return folder


def test_folder_round_trip(adapter_folder, toy_sd):
    assert sorted(p.name for p in adapter_folder.iterdir()) == sorted(
        [LORA_FILE, MANIFEST, TOKENS_FILE])
    assert not [p for p in adapter_folder.parent.iterdir() if p.name.startswith(".")]
    adapters = load_adapter_set(adapter_folder)
    assert adapters.tokens == {3: "<id_3>", 5: "<id_5>"}
    assert adapters.codes == CODES and adapters.lora == LORA
    assert adapters.base_fingerprint == model_fingerprint(toy_sd_path(toy_sd, "text2img"))
    assert len(adapters.fingerprint) == 16
    assert adapters.prompt(3, "ir") == "a infrared photo of a <id_3> person"
    assert adapters.prompt(5, "thermal") == "a thermal photo of a <id_5> person"
    assert adapters.codes_for("ir") == {"ir": "infrared"}
    with pytest.raises(KeyError, match="no identity token for pid 4"):
        adapters.prompt(4, "ir")


def test_rewrite_is_atomic_and_fingerprint_follows_content(adapter_folder, trained, tmp_path):
    pipeline, rows = trained
    first = load_adapter_set(adapter_folder)
    common = {"lora_state": get_peft_model_state_dict(pipeline.unet), "lora": LORA,
              "codes": CODES, "base_fingerprint": first.base_fingerprint}
    again = write_adapter_set(tmp_path / "again", token_rows=rows, **common)
    assert again.fingerprint == first.fingerprint  # same content, same name
    moved = {pid: row + 1 for pid, row in rows.items()}
    replaced = write_adapter_set(tmp_path / "again", token_rows=moved, **common)
    assert replaced.fingerprint != first.fingerprint
    assert [p.name for p in tmp_path.iterdir()] == ["again"]  # no staging folders left


def test_load_pipeline_applies_tokens_and_lora(adapter_folder, trained, toy_sd):
    in_memory, rows = trained
    sd = toy_sd_path(toy_sd, "text2img")
    adapted = load_pipeline("text2img", sd, adapters=adapter_folder)
    base = load_pipeline("text2img", sd)
    ids = adapted.tokenizer("a infrared photo of a <id_3> person").input_ids
    vocabulary = base.text_encoder.get_input_embeddings().weight.shape[0]
    assert len(ids) == len(base.tokenizer("a infrared photo of a person").input_ids) + 1
    token_id = adapted.tokenizer.convert_tokens_to_ids("<id_3>")
    assert token_id >= vocabulary and token_id in ids
    table = adapted.text_encoder.get_input_embeddings().weight
    assert torch.equal(table[token_id], rows[3])
    assert torch.equal(table[:vocabulary], base.text_encoder.get_input_embeddings().weight)
    assert not any("lora" in name for name, _ in adapted.unet.named_parameters())  # fused
    prompt = "a infrared photo of a <id_3> person"
    generated = sample(adapted, prompt)
    # The loaded, fused adapters draw what the LoRA and rows drew in memory...
    add_token_rows(in_memory.tokenizer, in_memory.text_encoder,
                   {"<id_3>": rows[3], "<id_5>": rows[5]})
    assert abs(generated - sample(in_memory, prompt)).max() < 1e-4
    # ...which is not what the base model draws.
    assert abs(generated - sample(base, "a infrared photo of a person")).mean() > 1e-3


def test_other_base_weights_are_refused(adapter_folder, toy_sd, tmp_path):
    with pytest.raises(ValueError, match="trained on a base model with fingerprint"):
        load_pipeline("inpaint", toy_sd_path(toy_sd, "inpaint"), adapters=adapter_folder)
    # Same configs and file sizes, other weights (as a trained model and its random init).
    retrained = shutil.copytree(toy_sd_path(toy_sd, "text2img"), tmp_path / "sd")
    weights = retrained / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=str(retrained)):
        load_pipeline("text2img", retrained, adapters=adapter_folder)


def test_broken_folders_are_named(adapter_folder, tmp_path):
    broken = shutil.copytree(adapter_folder, tmp_path / "broken")
    (broken / LORA_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="lora.safetensors: missing file"):
        load_adapter_set(broken)
    bad = shutil.copytree(adapter_folder, tmp_path / "bad")
    manifest = json.loads((bad / MANIFEST).read_text())
    del manifest["tokens"]
    manifest["codes"]["infra"] = "x"
    (bad / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"missing keys \['tokens'\]"):
        load_adapter_set(bad)
    (bad / MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match="adapters.json: not valid JSON"):
        load_adapter_set(bad)
