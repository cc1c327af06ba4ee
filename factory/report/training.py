"""Human-readable reports of training runs and sweeps: Markdown with PNG curves."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from factory.atomic import atomic_path, write_text  # noqa: E402
from factory.report.markdown import markdown_table  # noqa: E402
from factory.storage import storage_path  # noqa: E402

CURVES = (("loss", ("id_loss", "metric_loss", "clothes_loss", "adversarial_loss")),
          ("accuracy", ("rank1", "mAP")))


def plot_curves(history, path: Path, *, title: str) -> Path:
    """Loss and rank-1/mAP against epoch, one panel each. Made without pyplot's global figure
    registry, so runs finishing at once in threads of one driver can each plot."""
    figure = Figure(figsize=(10, 3.5))
    axes = figure.subplots(1, len(CURVES))
    for axis, (label, columns) in zip(axes, CURVES, strict=True):
        for column in columns:
            if column in history and history[column].notna().any():
                known = history[["epoch", column]].dropna()
                axis.plot(known["epoch"], known[column], marker="o", label=column)
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        if label == "accuracy":
            axis.set_ylim(0, 1)
        if axis.lines:
            axis.legend()
        else:
            axis.text(0.5, 0.5, f"no {label} recorded", ha="center", va="center",
                      transform=axis.transAxes, color="grey")
    figure.suptitle(title)
    return save_figure(figure, path)


def save_figure(figure, path: Path) -> Path:
    """Write a matplotlib figure as PNG atomically and close it."""
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return path


def evaluation_table(history):
    """The last evaluation's metrics, one row per setting of the protocol (`<setting>/<metric>`
    columns of the history), or None when the run never evaluated."""
    import pandas as pd

    columns = [c for c in history if "/" in c]
    evaluated = history.dropna(subset=columns) if columns else history.iloc[0:0]
    if evaluated.empty:
        return None
    last = evaluated.iloc[-1]
    settings = dict.fromkeys(c.split("/", 1)[0] for c in columns)
    metrics = [m for m in ("rank1", "rank5", "rank10", "mAP", "mINP", "queries", "trials")
               if any(f"{s}/{m}" in last for s in settings)]
    rows = [{"setting": s, **{m: last.get(f"{s}/{m}") for m in metrics}} for s in settings]
    return int(last["epoch"]), pd.DataFrame(rows)


def write_train_report(history, folder: Path, *, name: str, checkpoint: str | None,
                       summary: dict[str, str] | None = None) -> Path:
    """`report.md` + `curves.png` of one training run in `folder`; `summary`: what it trained on
    and how it is evaluated, in words."""
    folder = storage_path(folder)
    plot_curves(history, folder / "curves.png", title=name)
    shown = [c for c in ("epoch", "lr", "steps", "id_loss", "metric_loss", "clothes_loss",
                         "adversarial_loss", "rank1", "mAP", "precision") if c in history]
    lines = [f"# Training run `{name}`", ""]
    lines += [f"- {key}: {value}" for key, value in (summary or {}).items()]
    lines += ["", "![curves](curves.png)", "",
              f"Model (the last checkpoint's): `{checkpoint}`" if checkpoint else "No checkpoint.",
              ""]
    evaluation = evaluation_table(history)
    if evaluation is not None:
        epoch, table = evaluation
        lines += [f"## Evaluation after epoch {epoch}", "", markdown_table(table), ""]
    lines += ["## Per epoch", "", markdown_table(history[shown]), ""]
    report = folder / "report.md"
    write_text(report, "\n".join(lines))
    return report
