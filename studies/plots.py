"""The study charts: average PSNR against training pairs, per-task radar, fine-tuning comparison.

Inputs are the results' score tables `{arm: {task: {count: psnr}}}` (counts as strings, as in
results.json). Each chart is written to a temporary name and renamed, so a PNG on disk is whole.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from pipelines.files import atomic_path

Scores = dict[str, dict[str, dict[str, float]]]


def average_curve(scores_by_task: dict[str, dict[str, float]], counts: list[int]) -> list[float]:
    """Mean PSNR over tasks at each training-pair count."""
    return [float(np.mean([scores_by_task[task][str(c)] for task in scores_by_task]))
            for c in counts]


def normalized_at(scores: Scores, tasks: list[str], count: int) -> dict[str, list[float]]:
    """Per task, each arm's PSNR at `count` mapped to [0, 1] across arms (worst 0, best 1)."""
    table = np.array([[scores[arm][task][str(count)] for task in tasks] for arm in scores])
    low, high = table.min(axis=0), table.max(axis=0)
    span = np.where(high - low > 1e-9, high - low, 1.0)
    normalized = (table - low) / span
    return {arm: normalized[i].tolist() for i, arm in enumerate(scores)}


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as partial:
        fig.savefig(partial, dpi=90, format="png")
    return path


def _draw_curves(axis, scores: Scores, counts: list[int], labels: dict[str, str],
                 colors: dict[str, str] | None = None) -> None:
    colors = colors or _colors(scores)
    for arm, by_task in scores.items():
        axis.plot(counts, average_curve(by_task, counts), marker="o", label=labels.get(arm, arm),
                  color=colors[arm])
    axis.set_xscale("log", base=2)
    axis.set_xticks(counts, [str(c) for c in counts])
    axis.set_xlabel("training pairs per task")
    axis.set_ylabel("PSNR (dB), mean over tasks")
    axis.grid(alpha=0.3)
    axis.legend()


def _colors(scores: Scores) -> dict[str, str]:
    """One colour per arm, kept across panels."""
    return {arm: f"C{i}" for i, arm in enumerate(scores)}


def _panels(scores: Scores, set_aside: str | None) -> list[tuple[Scores, str]]:
    """All arms; plus, when `set_aside` is one of three or more arms, the others zoomed in."""
    panels = [(scores, "")]
    if set_aside in scores and len(scores) > 2:
        panels.append(({a: v for a, v in scores.items() if a != set_aside}, set_aside))
    return panels


def line_chart(scores: Scores, counts: list[int], title: str, path: Path,
               labels: dict[str, str] | None = None, set_aside: str | None = None) -> Path:
    """Average PSNR over tasks against the number of training pairs, one line per arm; a second
    panel without `set_aside` (e.g. Random init, far below the rest) shows the others' gaps."""
    plt = _figure()
    labels = labels or {}
    panels = _panels(scores, set_aside)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for axis, (subset, aside) in zip(axes[0], panels):
        _draw_curves(axis, subset, counts, labels, _colors(scores))
        axis.set_title(f"without {labels.get(aside, aside)} (zoomed)" if aside else title,
                       fontsize=10)
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def _draw_radar(axis, scores: Scores, tasks: list[str], count: int, labels: dict,
                task_labels: dict, colors: dict[str, str]) -> None:
    angles = np.linspace(0, 2 * np.pi, len(tasks), endpoint=False).tolist()
    for arm, values in normalized_at(scores, tasks, count).items():
        axis.plot(angles + angles[:1], values + values[:1], marker="o", label=labels.get(arm, arm),
                  color=colors[arm])
    ranges = [f"{task_labels.get(t, t)}\n{min(s[t][str(count)] for s in scores.values()):.2f}-"
              f"{max(s[t][str(count)] for s in scores.values()):.2f} dB" for t in tasks]
    axis.set_xticks(angles, ranges, fontsize=7)
    axis.set_ylim(-0.1, 1.05)
    axis.set_yticks([0, 0.5, 1.0], ["worst", "", "best"], fontsize=7)
    axis.set_rlabel_position(180 / len(tasks))  # between two task axes, clear of their labels


def radar_chart(scores: Scores, tasks: list[str], count: int, title: str, path: Path,
                labels: dict[str, str] | None = None, task_labels: dict[str, str] | None = None,
                set_aside: str | None = None) -> Path:
    """Per-task PSNR at `count` pairs, normalized per task across arms (worst 0, best 1), as a
    radar chart; a second radar without `set_aside` spreads the remaining arms."""
    plt = _figure()
    labels, task_labels = labels or {}, task_labels or {}
    panels = _panels(scores, set_aside)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5.2), squeeze=False,
                             subplot_kw={"projection": "polar"})
    for axis, (subset, aside) in zip(axes[0], panels):
        _draw_radar(axis, subset, tasks, count, labels, task_labels, _colors(scores))
        axis.set_title(f"without {labels.get(aside, aside)}" if aside else
                       f"{title}\n(PSNR at {count} pairs, per task worst..best arm)",
                       fontsize=9, pad=18)
    axes[0][0].legend(loc="lower left", bbox_to_anchor=(-0.25, -0.18), fontsize=8)
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def finetuning_chart(scores: Scores, counts: list[int], tuned_percent: dict[str, float],
                     path: Path, labels: dict[str, str] | None = None) -> Path:
    """Left: mean PSNR against pairs per method; right: PSNR at the largest count vs % tuned."""
    plt = _figure()
    labels = labels or {}
    fig, (curves, bars) = plt.subplots(1, 2, figsize=(10, 4))
    _draw_curves(curves, scores, counts, labels)
    curves.set_title("Fine-tuning methods from the PROD model")
    methods = list(scores)
    final = [average_curve(scores[m], counts)[-1] for m in methods]
    positions = np.arange(len(methods))
    bars.bar(positions, final, color=[f"C{i}" for i in positions])
    bars.set_xticks(positions, [f"{textwrap.fill(labels.get(m, m), 12)}\n{tuned_percent[m]:.1f}% tuned"
                                for m in methods], fontsize=8)
    low = min(final)
    bars.set_ylim(low - max(0.5, 0.2 * (max(final) - low)), max(final) + 0.2)
    bars.set_ylabel(f"PSNR (dB) at {counts[-1]} pairs, mean over tasks")
    bars.grid(axis="y", alpha=0.3)
    bars.set_title("Quality against tuned parameters")
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
