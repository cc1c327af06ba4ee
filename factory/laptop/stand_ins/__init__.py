"""Tiny random stand-ins of every real model a job loads, built locally in seconds.

`build_stand_ins(out)` writes one folder per model role, each with the real model's classes and
layout at tiny widths, saved with `save_pretrained` and loaded through exactly the path the real
checkpoint takes (`factory.diffusion.loader.load_pipeline`, `factory.parsing.parser.
SegmentationParser`, the describe backends):

    <out>/sd-text2img    SD-1.5 text-to-image (diffusion.py)
    <out>/sd-inpainting  SD-1.5 inpainting, 9-channel UNet (diffusion.py)
    <out>/parser-atr     SegFormer with ATR labels; parser-lip: with LIP labels (parser.py)
    <out>/llm            Llama chat model (llm.py); vlm: Idefics3 (vlm.py)
    <out>/stand-ins.txt  `FIELD=PATH`, one line per model field of a generation job
    <out>/stand-ins.<method>.txt  the same for one method's jobs

Each line is a `--set` override: `stand-ins.<method>.txt` swaps every model of that method's
shipped configs for its stand-in (DLCR's `model` is the inpainting pipeline, the others' the
text-to-image one; `stand-ins.txt` is the text-to-image set). Fields come from the one table of
model fields, `factory.pretrained.config_models.MODEL_FIELDS`. The pictures, masks and replies
are noise: the stand-ins test the real code path, the trained toy SD stays the demo's model.
A folder built with the same settings is reused; the same seed gives the same files.
"""

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from factory.laptop.stand_ins.diffusion import build_tiny_sd
from factory.laptop.stand_ins.llm import build_llm_stand_in
from factory.laptop.stand_ins.parser import build_tiny_parser
from factory.laptop.stand_ins.vlm import build_tiny_vlm
from factory.methods import METHODS
from factory.pretrained.config_models import MODEL_FIELDS

# Bump when a builder changes what it writes, so cached folders are rebuilt.
FORMAT_VERSION = 1
MANIFEST = "stand-ins.json"
OVERRIDES = "stand-ins.txt"
# role -> (folder, builder(out, seed))
BUILDERS = {
    "text2img": ("sd-text2img", lambda out, seed: build_tiny_sd(out, seed=seed)),
    "inpaint": ("sd-inpainting", lambda out, seed: build_tiny_sd(out, seed=seed,
                                                                 inpainting=True)),
    "parser-atr": ("parser-atr", lambda out, seed: build_tiny_parser(out, labels="atr",
                                                                     seed=seed)),
    "parser-lip": ("parser-lip", lambda out, seed: build_tiny_parser(out, labels="lip",
                                                                     seed=seed)),
    "llm": ("llm", lambda out, seed: build_llm_stand_in(out, seed=seed)),
    "vlm": ("vlm", lambda out, seed: build_tiny_vlm(out, seed=seed)),
}
# MODEL_FIELDS role of a generation job's field -> the stand-in it takes (`pipeline`: by the
# method's pipeline kind; img2img loads text-to-image weights)
FIELD_STAND_INS = {"parser": "parser-atr", "llm": "llm", "vlm": "vlm"}


def _spec(seed: int) -> dict:
    return {"format": FORMAT_VERSION, "seed": seed, "roles": sorted(BUILDERS)}


def _digest(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _paths(out: Path) -> dict[str, Path]:
    return {role: out / folder for role, (folder, _) in BUILDERS.items()}


def stand_in_overrides(out: str | os.PathLike, method: str | None = None) -> list[str]:
    """`FIELD=PATH` for every model field of a generation job of `method` (None: a
    text-to-image job), naming the stand-ins in `out`."""
    paths = _paths(Path(out).resolve())
    kind = METHODS[method].pipeline if method else "text2img"
    lines = []
    for field, (role, _) in MODEL_FIELDS["generation_job"].items():
        stand_in = ("inpaint" if kind == "inpaint" else "text2img") if role == "pipeline" \
            else FIELD_STAND_INS[role]
        lines.append(f"{field}={paths[stand_in]}")
    return lines


def _write_overrides(folder: Path, final: Path) -> None:
    """The `--set` lines, naming the folders where they will be (`final`)."""
    (folder / OVERRIDES).write_text("\n".join(stand_in_overrides(final)) + "\n")
    for method in METHODS:
        lines = stand_in_overrides(final, method)
        (folder / f"stand-ins.{method}.txt").write_text("\n".join(lines) + "\n")


def build_stand_ins(out: Path, *, seed: int = 0) -> dict[str, Path]:
    """Write every stand-in (see the module docstring) into `out`; returns role -> folder.

    A folder whose manifest has the same settings is reused as it is; otherwise the stand-ins
    are built in a temporary sibling and renamed into place, so readers never see half of them.
    """
    out = Path(out)
    spec = _spec(seed)
    manifest = out / MANIFEST
    if manifest.is_file() and json.loads(manifest.read_text()).get("hash") == _digest(spec):
        return _paths(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would outlive the rename
    try:
        for folder, build in BUILDERS.values():
            build(staging / folder, seed)
        _write_overrides(staging, out.resolve())
        (staging / MANIFEST).write_text(json.dumps({"hash": _digest(spec), "spec": spec},
                                                   indent=2, sort_keys=True) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _paths(out)
