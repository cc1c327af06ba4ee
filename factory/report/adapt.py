"""The adapt run's report beside its adapters: loss curve, sample grid, Markdown.

Samples come from the published adapter folder through `load_pipeline(adapters=...)`, the path
generation takes, in a Ray task that asks for the run's GPU share (a driver may have none).
"""

import io
from pathlib import Path

import numpy as np
import ray

from factory.adapt.data import AdaptImages
from factory.adapt.prior import render
from factory.atomic import write_bytes, write_text
from factory.diffusion.adapters import PROMPT, AdapterSet
from factory.precision import precision_name
from schemas.diffusion_configs import AdaptConfig

LOSS_PNG = "loss.png"
SAMPLES_PNG = "samples.png"
REPORT = "report.md"


def plot_loss(history: list[float], path: Path, *, title: str) -> Path:
    from factory.report.training import plt, save_figure

    figure, axis = plt.subplots(figsize=(6, 3.5))
    steps = np.arange(1, len(history) + 1)
    axis.plot(steps, history, alpha=0.3, label="loss")
    window = max(1, len(history) // 20)
    if window > 1:
        smooth = np.convolve(history, np.ones(window) / window, mode="valid")
        axis.plot(steps[window - 1:], smooth, label=f"mean of {window}")
    axis.set_xlabel("step")
    axis.set_ylabel("denoising loss")
    axis.legend()
    figure.suptitle(title)
    return save_figure(figure, path)


def _real_image(images: AdaptImages, pid: int, code: str, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    for path, row_pid, name in zip(images.paths, images.pids, images.code_names, strict=True):
        if row_pid == pid and name == code:
            with Image.open(path) as image:
                return np.asarray(image.convert("RGB").resize(size[::-1]))
    return np.full((*size, 3), 255, np.uint8)  # this identity has no image with this code


def sample_grid(config: AdaptConfig, adapters: AdapterSet, images: AdaptImages) -> bytes | None:
    """PNG: one row per shown identity; a real image per code, then a generated one per code
    (the same seed across a row, so generated columns differ only in the code)."""
    from PIL import Image

    pids = sorted(adapters.tokens)[:config.report_identities]
    if not pids:
        return None
    names = sorted(adapters.codes)
    prompts = [adapters.prompt(pid, name) for pid in pids for name in names]
    seeds = [config.seed + pid for pid in pids for _ in names]
    task = ray.remote(num_cpus=1, num_gpus=config.gpus_per_worker)(render)
    made = ray.get(task.remote(config.model, str(adapters.path), prompts, seeds,
                               height=config.height, width=config.width,
                               steps=config.report_steps))
    size = (config.height, config.width)
    rows = []
    for index, pid in enumerate(pids):
        real = [_real_image(images, pid, name, size) for name in names]
        rows.append(np.concatenate(real + made[index * len(names):(index + 1) * len(names)], 1))
    buffer = io.BytesIO()
    Image.fromarray(np.concatenate(rows, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_adapt_report(config: AdaptConfig, adapters: AdapterSet, images: AdaptImages,
                       history: list[float]) -> Path:
    """`report.md`, `loss.png` and `samples.png` in the adapter folder."""
    out = adapters.path
    plot_loss(history, out / LOSS_PNG, title=config.name)
    grid = sample_grid(config, adapters, images)
    names = sorted(adapters.codes)
    precision = precision_name(config.precision, gpu=config.gpus_per_worker > 0)
    lines = [f"# Adapt run `{config.name}`", "",
             f"{len(adapters.tokens)} identity tokens and a rank-{adapters.lora['rank']} UNet "
             f"attention LoRA on `{config.model}` (fingerprint {adapters.base_fingerprint}), "
             f"{len(history)} steps of batch {config.batch_size} at {config.height}x"
             f"{config.width} from {len(images)} images in {precision}. Adapters fingerprint "
             f"`{adapters.fingerprint}`.", "",
             "| code name | text code |", "|---|---|",
             *(f"| {name} | {adapters.codes[name]} |" for name in names), "",
             f"Final loss (mean of the last {min(len(history), 50)} steps): "
             f"{np.mean(history[-50:]):.4g}", "", f"![loss]({LOSS_PNG})", ""]
    if grid is not None:
        write_bytes(out / SAMPLES_PNG, grid)
        columns = ", ".join(f"real {name}" for name in names) + ", " + ", ".join(
            f'"{PROMPT.format(code=adapters.codes[name], token="<id_k>")}"' for name in names)
        lines += [f"Samples, one identity per row; columns: {columns} "
                  f"({config.report_steps} DDIM steps, one seed per row).", "",
                  f"![samples]({SAMPLES_PNG})", ""]
    report = out / REPORT
    write_text(report, "\n".join(lines))
    return report
