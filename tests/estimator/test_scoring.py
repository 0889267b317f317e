"""AUROC against a plain-numpy pairwise reference (scikit-learn is not a dependency)."""
from __future__ import annotations

import numpy as np
import pytest

from trainer.estimator.scoring import auroc, family_scores, youden_threshold


def pairwise_auroc(labels, scores) -> float:
    """Mean over every (positive, negative) pair of 1 if the positive scores higher, 1/2 on a
    tie: the definition, written out."""
    positives = [s for s, y in zip(scores, labels) if y]
    negatives = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@pytest.mark.parametrize("seed", range(8))
def test_auroc_equals_the_pairwise_definition_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(200) < 0.3
    scores = np.round(rng.random(200) + 0.3 * labels, 1)  # rounding makes many ties
    assert auroc(labels, scores) == pytest.approx(pairwise_auroc(labels, scores), abs=1e-12)


def test_auroc_fixed_values():
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auroc([1, 0], [0.9, 0.1]) == 1.0 and auroc([1, 0], [0.1, 0.9]) == 0.0
    assert auroc([1, 0, 1, 0], [0.5] * 4) == 0.5
    assert auroc([1, 1], [0.2, 0.3]) is None and auroc([0, 0], [0.2, 0.3]) is None


def test_family_is_present_if_any_member_is_and_scored_by_the_best_member():
    ops = ["gaussian_noise", "poisson_noise", "jpeg"]
    present = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]], bool)
    probability = np.array([[0.9, 0.2, 0.1], [0.3, 0.6, 0.8], [0.1, 0.4, 0.2]])
    visible = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0]], bool)
    families = family_scores(ops, {"noise": ("gaussian_noise", "poisson_noise"),
                                   "jpeg": ("jpeg",), "rain": ("rain",)},
                             present, probability, visible)
    assert set(families) == {"noise", "jpeg"}  # no rain op: no rain family
    noise_present, noise_score, noise_visible = families["noise"]
    np.testing.assert_array_equal(noise_present, [True, True, False])
    np.testing.assert_allclose(noise_score, [0.9, 0.6, 0.4])
    np.testing.assert_array_equal(noise_visible, [True, False, False])


def brute_force_youden(labels, scores):
    """Every observed score tried as the threshold, the definition written out."""
    best = None
    for t in sorted(set(scores), reverse=True):
        tpr = np.mean([s >= t for s, y in zip(scores, labels) if y])
        fpr = np.mean([s >= t for s, y in zip(scores, labels) if not y])
        if best is None or tpr - fpr > best[1] - best[2] + 1e-12:
            best = (t, tpr, fpr)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_youden_threshold_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(150) < 0.4
    scores = np.round(rng.random(150) + 0.4 * labels, 2)
    found = youden_threshold(labels, scores)
    assert (found["threshold"], found["tpr"], found["fpr"]) == pytest.approx(
        brute_force_youden(labels, scores))


def test_youden_threshold_fixed_values():
    # 0.6 separates perfectly; 0.35 would catch every positive but half the negatives
    found = youden_threshold([0, 0, 1, 1, 0, 0], [0.1, 0.35, 0.6, 0.9, 0.2, 0.5])
    assert found == {"threshold": 0.6, "tpr": 1.0, "fpr": 0.0}
    assert youden_threshold([1, 1], [0.2, 0.3]) is None


def test_decision_thresholds_score_each_family_by_its_best_member():
    from trainer.estimator.evaluation import EvalData, decision_thresholds

    ops = ["gaussian_noise", "poisson_noise", "jpeg"]
    present = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], bool)
    probability = np.array([[0.7, 0.1, 0.2], [0.2, 0.4, 0.1], [0.3, 0.3, 0.9], [0.1, 0.2, 0.8]])
    data = EvalData(ops, present, present.astype(float), np.zeros((4, 3), int), np.ones(4, int),
                    probability, probability)
    chosen = decision_thresholds(data)
    # noise scores (best member): 0.7, 0.4 present; 0.3, 0.2 absent
    assert chosen["noise"] == {"threshold": 0.4, "tpr": 1.0, "fpr": 0.0}
    assert chosen["jpeg"] == {"threshold": 0.9, "tpr": 1.0, "fpr": 0.0}


def test_a_family_with_its_own_output_is_scored_by_it():
    from trainer.estimator.evaluation import EvalData, decision_thresholds, family_report

    ops = ["gaussian_noise", "poisson_noise", "jpeg"]
    present = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], bool)
    probability = np.array([[0.7, 0.1, 0.2], [0.2, 0.4, 0.1], [0.3, 0.3, 0.9], [0.1, 0.2, 0.8]])
    # the members' maximum ranks both noisy images above both clean ones; the family's own
    # output ranks noisy image 1 (0.2) under clean image 2 (0.5): the report follows the output
    own = {"noise": np.array([0.9, 0.2, 0.5, 0.1])}
    data = EvalData(ops, present, present.astype(float), np.zeros((4, 3), int), np.ones(4, int),
                    probability, probability, own)
    assert decision_thresholds(data)["noise"] == {"threshold": 0.9, "tpr": 0.5, "fpr": 0.0}
    assert family_report(data)["noise"]["all"]["auroc"] == 0.75  # 3 of the 4 pairs in order
    by_member = EvalData(ops, present, present.astype(float), np.zeros((4, 3), int),
                         np.ones(4, int), probability, probability)
    assert family_report(by_member)["noise"]["all"]["auroc"] == 1.0
    assert family_report(data)["noise"]["scored_by"] == "family output"
    assert family_report(by_member)["noise"]["scored_by"] == "most probable member"
