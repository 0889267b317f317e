"""Training curves from a run's metrics.jsonl: loss (and validation PSNR when logged) per step."""
from __future__ import annotations

import json
from pathlib import Path

from pipelines.files import atomic_path


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a metrics.jsonl file, in order."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    chosen = [r for r in records if key in r]
    return [r["step"] for r in chosen], [r[key] for r in chosen]


def plot_curves(metrics_path: str | Path, out_png: str | Path, title: str = "",
                loss_meaning: str = "") -> Path:
    """Write a PNG with the training loss (its axis says `loss_meaning`, e.g. "-PSNR in dB")
    and, when present, validation PSNR against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    loss_steps, losses = _series(records, "loss")
    val_steps, val_psnr = _series(records, "val_psnr")
    panels = 2 if val_steps else 1
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.5), squeeze=False)
    axes[0][0].plot(loss_steps, losses, color="tab:blue")
    axes[0][0].set(xlabel="step", title="loss",
                   ylabel=f"training loss ({loss_meaning})" if loss_meaning else "training loss")
    if val_steps:
        axes[0][1].plot(val_steps, val_psnr, marker="o", color="tab:green")
        axes[0][1].set(xlabel="step", ylabel="PSNR (dB)", title="validation PSNR")
    for axis in axes[0]:
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(out_png) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return Path(out_png)
