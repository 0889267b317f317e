"""The --explain picture of composed restoration: per image, the input, the output and the
weight given to each task adapter."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from pipelines.files import atomic_path


def explain_figure(rows: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
                   names: Sequence[str], path, total: int | None = None) -> Path:
    """rows: (image name, input uint8, output uint8, weights); one figure row each. `total`:
    how many images were restored (the title says when only the first ones are shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(rows), 3, figsize=(10, 3 * len(rows)), squeeze=False,
                                gridspec_kw={"width_ratios": [1, 1, 1.1]})
    for (name, image, result, weights), (left, middle, right) in zip(rows, axes):
        left.imshow(image)
        left.set_title(f"{name}: input", fontsize=9)
        middle.imshow(result)
        middle.set_title("output", fontsize=9)
        for axis in (left, middle):
            axis.axis("off")
        _weight_bars(right, names, weights)
    if total is not None and total > len(rows):
        figure.suptitle(f"first {len(rows)} of {total} images", fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.98 if total and total > len(rows) else 1))
    with atomic_path(path) as partial:
        figure.savefig(partial, dpi=80, format="png")
    plt.close(figure)
    return Path(path)


def _weight_bars(axis, names: Sequence[str], weights: np.ndarray) -> None:
    positions = np.arange(len(names))
    axis.barh(positions, weights, color="tab:blue")
    axis.set_yticks(positions, list(names), fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(min(0.0, float(np.min(weights))), max(1.0, float(np.max(weights))))
    for y, w in zip(positions, weights):
        axis.text(w, y, f" {w:.2f}", va="center", fontsize=8)
    axis.set_title("adapter weights", fontsize=9)
    axis.grid(axis="x", alpha=0.3)
