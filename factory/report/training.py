"""Human-readable reports of training runs and sweeps: Markdown with PNG curves."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from factory.atomic import atomic_path, write_text  # noqa: E402
from factory.report.markdown import markdown_table  # noqa: E402

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


def write_train_report(history, folder: Path, *, name: str,
                       checkpoint: str | None) -> Path:
    """`report.md` + `curves.png` of one training run in `folder`."""
    folder = Path(folder)
    plot_curves(history, folder / "curves.png", title=name)
    shown = [c for c in ("epoch", "lr", "steps", "id_loss", "metric_loss", "clothes_loss",
                         "adversarial_loss", "rank1", "mAP") if c in history]
    lines = [f"# Training run `{name}`", "", "![curves](curves.png)", "",
             f"Model (the last checkpoint's): `{checkpoint}`" if checkpoint else "No checkpoint.",
             "",
             markdown_table(history[shown]), ""]
    report = folder / "report.md"
    write_text(report, "\n".join(lines))
    return report
