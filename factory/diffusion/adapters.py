"""Identity tokens and a modality LoRA on top of a base Stable Diffusion (DiVE's adapters).

The adapt stage writes one adapter folder, atomically (a temporary sibling renamed into place):

    identity_tokens.safetensors  one [1, hidden] row per identity token, keyed by the token
                                 (each key/value pair is a diffusers textual-inversion state dict)
    lora.safetensors             the UNet attention LoRA in diffusers' format (`load_lora_weights`)
    adapters.json                base_fingerprint, tokens {pid: "<id_pid>"}, codes {name: text},
                                 lora {rank, alpha, target_modules}, fingerprint; and `source`
                                 (the images table of DiVE's added identities) when it has them,
                                 `text_encoder` (the base text encoder's fingerprint: an
                                 inpainting model sharing it may take the adapters, DLCR x DiVE)

Code names are a modality ("rgb", "ir") or a camera of one ("ir3": camera 3, infrared); their
values are the plain-text codes the prompts use. `load_pipeline(..., adapters=folder)` in
`factory.diffusion.loader` applies a folder to a pipeline.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from factory.atomic import atomic_folder
from factory.storage import local_copy, storage_path
from schemas.diffusion_configs import CODE_NAME

TOKENS_FILE = "identity_tokens.safetensors"
LORA_FILE = "lora.safetensors"
MANIFEST = "adapters.json"
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
PROMPT = "a {code} photo of a {token} person"
MANIFEST_KEYS = ("base_fingerprint", "tokens", "codes", "lora", "fingerprint")
OPTIONAL_KEYS = ("source", "text_encoder")


def identity_token(pid: int) -> str:
    return f"<id_{pid}>"


def code_name(modality: str, camera: int | None = None) -> str:
    """The name a code is stored under: the modality, or modality + camera number."""
    return modality if camera is None else f"{modality}{camera}"


@dataclass(frozen=True)
class AdapterSet:
    """A loaded adapter folder's manifest (the weights stay on disk until applied)."""

    path: Path
    tokens: dict[int, str]
    codes: dict[str, str]
    base_fingerprint: str
    fingerprint: str
    lora: dict
    source: str | None = None  # images table of the added identities (pids >= 1,000,000)
    text_encoder: str | None = None  # the base model's text encoder's fingerprint

    def prompt(self, pid: int, code: str) -> str:
        """ "a {code} photo of a <id_pid> person"; `code` is a code name ("ir", "ir3"), turned
        into its text, or the text itself."""
        if pid not in self.tokens:
            raise KeyError(f"{self.path}: no identity token for pid {pid}; adapted pids: "
                           f"{sorted(self.tokens)[:20]}{' ...' if len(self.tokens) > 20 else ''}")
        return PROMPT.format(code=self.codes.get(code, code), token=self.tokens[pid])

    def codes_for(self, modality: str) -> dict[str, str]:
        """Code name -> text of the codes of one modality (the modality's own, or its cameras')."""
        return {name: text for name, text in self.codes.items()
                if CODE_NAME.match(name).group(1) == modality}


def _manifest_digest(manifest: dict, folder: Path) -> str:
    """The adapter set's fingerprint: its manifest (less the fingerprint) and both weight files'
    tensors (not their bytes: safetensors headers do not keep a stable key order)."""
    import torch
    from safetensors.torch import load_file

    described = {key: manifest[key] for key in (*MANIFEST_KEYS[:-1], *OPTIONAL_KEYS)
                 if key in manifest}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    for name in (TOKENS_FILE, LORA_FILE):
        for key, tensor in sorted(load_file(folder / name).items()):
            digest.update(f"{key}\0{tensor.dtype}\0{list(tensor.shape)}\0".encode())
            digest.update(tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def load_adapter_set(path: str | os.PathLike) -> AdapterSet:
    """Read an adapter folder's manifest (a local folder, or the local copy of one in a bucket);
    a missing file or key is named in the error."""
    folder = local_copy(storage_path(path))
    for name in (MANIFEST, TOKENS_FILE, LORA_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: missing file of an adapter folder")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{folder / MANIFEST}: not valid JSON: {error}") from None
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise ValueError(f"{folder / MANIFEST}: missing keys {missing}")
    for name in manifest["codes"]:
        if not CODE_NAME.match(name):
            raise ValueError(f"{folder / MANIFEST}: code name {name!r} is not a modality (rgb, ir) "
                             f"or a modality + camera number (ir3)")
    return AdapterSet(path=folder, tokens={int(pid): token for pid, token in
                                           manifest["tokens"].items()},
                      codes=dict(manifest["codes"]), base_fingerprint=manifest["base_fingerprint"],
                      fingerprint=manifest["fingerprint"], lora=dict(manifest["lora"]),
                      source=manifest.get("source"), text_encoder=manifest.get("text_encoder"))


def write_adapter_set(folder: str | os.PathLike, *, token_rows: dict, lora_state: dict,
                      lora: dict, codes: dict[str, str], base_fingerprint: str,
                      source: str | None = None, text_encoder: str | None = None) -> AdapterSet:
    """Write an adapter folder atomically and return it loaded.

    `token_rows`: pid -> [hidden] embedding; `lora_state`: the UNet's PEFT LoRA state dict
    (`peft.utils.get_peft_model_state_dict`); `lora`: {"rank", "alpha", "target_modules"};
    `source`: the images table the added identities (DiVE's expansion) came from;
    `text_encoder`: the base text encoder's fingerprint.
    """
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from safetensors.torch import save_file

    with atomic_folder(folder) as staging:
        rows = {identity_token(pid): row.detach().float().cpu().reshape(1, -1).contiguous()
                for pid, row in sorted(token_rows.items())}
        save_file(rows, staging / TOKENS_FILE)
        metadata = {"r": lora["rank"], "lora_alpha": lora["alpha"],
                    "target_modules": list(lora["target_modules"])}
        StableDiffusionPipeline.save_lora_weights(
            staging, unet_lora_layers=convert_state_dict_to_diffusers(lora_state),
            weight_name=LORA_FILE, unet_lora_adapter_metadata=metadata)
        manifest = {"base_fingerprint": base_fingerprint,
                    "tokens": {str(pid): identity_token(pid) for pid in sorted(token_rows)},
                    "codes": dict(sorted(codes.items())), "lora": lora}
        for key, value in (("source", source), ("text_encoder", text_encoder)):
            if value is not None:
                manifest[key] = value
        manifest["fingerprint"] = _manifest_digest(manifest, staging)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return load_adapter_set(folder)


def read_token_rows(adapters: AdapterSet) -> dict[int, "torch.Tensor"]:  # noqa: F821
    """pid -> [hidden] identity-token embedding."""
    from safetensors.torch import load_file

    rows = load_file(adapters.path / TOKENS_FILE)
    missing = [token for token in adapters.tokens.values() if token not in rows]
    if missing:
        raise ValueError(f"{adapters.path / TOKENS_FILE}: no rows for tokens {missing[:5]}")
    return {pid: rows[token].reshape(-1) for pid, token in adapters.tokens.items()}


def read_lora_state(adapters: AdapterSet) -> dict:
    """The LoRA as a PEFT state dict of the UNet (what `set_peft_model_state_dict` takes)."""
    from diffusers.utils import convert_unet_state_dict_to_peft
    from safetensors.torch import load_file

    state = load_file(adapters.path / LORA_FILE)
    return convert_unet_state_dict_to_peft({key.removeprefix("unet."): value
                                            for key, value in state.items()})


def add_token_rows(tokenizer, text_encoder, rows: dict[str, "torch.Tensor"]) -> list[int]:  # noqa: F821
    """Add tokens and their embedding rows to a CLIP tokenizer and text encoder; returns the
    new ids. All at once: diffusers' `load_textual_inversion` adds tokens one by one, which
    takes about a minute for 700 identities."""
    import torch

    tokens = list(rows)
    taken = [token for token in tokens if token in tokenizer.get_vocab()]
    if taken:
        raise ValueError(f"tokens {taken[:5]} are already in the tokenizer's vocabulary")
    tokenizer.add_tokens(tokens)
    ids = tokenizer.convert_tokens_to_ids(tokens)
    text_encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    weight = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        weight[ids] = torch.stack(list(rows.values())).to(weight.dtype).to(weight.device)
    return ids


def apply_adapter_set(pipeline, adapters: AdapterSet) -> None:
    """Add the identity tokens to the pipeline's tokenizer and text encoder and fuse the LoRA
    into its UNet (fused: generation costs what it costs on the base model)."""
    rows = read_token_rows(adapters)
    add_token_rows(pipeline.tokenizer, pipeline.text_encoder,
                   {adapters.tokens[pid]: row for pid, row in rows.items()})
    pipeline.unet.load_lora_adapter(str(adapters.path), weight_name=LORA_FILE, prefix="unet",
                                    adapter_name="adapt")
    pipeline.fuse_lora(components=["unet"], adapter_names=["adapt"])
    pipeline.unload_lora_weights()
