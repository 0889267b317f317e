"""Scores for the estimator's evaluation: AUROC (rank form, ties counted half) and the
per-op, per-family, per-length and per-position breakdowns built from it."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _two_classes(labels, scores):
    """(labels as bool, scores as float64), or None when either class is empty."""
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return None
    return labels, np.asarray(scores, dtype=np.float64)


def auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve: the probability that a random positive outscores a random
    negative, ties counted half (the Mann-Whitney U statistic over n_pos * n_neg).
    None when there are no positives or no negatives."""
    if (both := _two_classes(labels, scores)) is None:
        return None
    labels, scores = both
    positives, negatives = int(labels.sum()), int((~labels).sum())
    return float((_average_ranks(scores)[labels].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return ranks


def subset_auroc(present: np.ndarray, scores: np.ndarray, positives: np.ndarray,
                 negatives: np.ndarray) -> tuple[float | None, int, int]:
    """AUROC of the chosen positives against the chosen negatives, with their counts."""
    keep = positives | negatives
    value = auroc(present[keep] & positives[keep], scores[keep])
    return value, int(positives.sum()), int(negatives.sum())


def youden_threshold(labels: np.ndarray, scores: np.ndarray) -> dict | None:
    """The decision threshold t ("found" when score >= t) that maximises Youden's J = true
    positive rate - false positive rate, the largest such t on a tie, with its two rates.
    None when there are no positives or no negatives."""
    if (both := _two_classes(labels, scores)) is None:
        return None
    labels, scores = both
    candidates = np.unique(scores)[::-1]  # descending: the first maximum is the largest t
    order = np.sort(scores[labels]), np.sort(scores[~labels])
    tpr, fpr = (1.0 - np.searchsorted(side, candidates, side="left") / len(side)
                for side in order)
    best = int(np.argmax(tpr - fpr))
    return {"threshold": float(candidates[best]), "tpr": float(tpr[best]),
            "fpr": float(fpr[best])}


def mean_abs(errors: np.ndarray) -> float | None:
    return float(np.mean(errors)) if len(errors) else None


def family_scores(ops: Sequence[str], families: dict[str, Sequence[str]], present: np.ndarray,
                  probability: np.ndarray, visible: np.ndarray,
                  own: dict[str, np.ndarray] | None = None):
    """{family: (present, score, visible)} for families with an op in `ops`: present if any
    member op is, scored by the family's own probability where `own` has one (an estimator's
    family output), else by the most probable member; visible if a present member is above
    its visibility floor."""
    own = own or {}
    out = {}
    for family, members in families.items():
        columns = [ops.index(name) for name in members if name in ops]
        if columns:
            score = own[family] if family in own else probability[:, columns].max(axis=1)
            out[family] = (present[:, columns].any(axis=1), score,
                           (present[:, columns] & visible[:, columns]).any(axis=1))
    return out
