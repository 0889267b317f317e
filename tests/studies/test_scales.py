"""Scale configurations: known names, and the checks that keep a scale runnable."""
from __future__ import annotations

from dataclasses import replace

import pytest

from studies.scales import SCALES, get_scale


def test_scales_follow_the_issue():
    assert get_scale("smoke").device == "cpu" and get_scale("lite").device == "cuda"
    for name in ("smoke", "lite"):
        scale = get_scale(name)
        assert scale.train_counts == (16, 32, 64, 128)
        assert (scale.prod_k, scale.prod_n) == (7, 6) and scale.colora_budget == 0.07


def test_every_scale_uses_a_registered_model():
    from trainer.models import list_presets

    assert {s.model for s in SCALES.values()} <= set(list_presets())


def test_unknown_scale_is_named():
    with pytest.raises(ValueError, match="unknown scale 'huge'; choose one of smoke, lite, test"):
        get_scale("huge")


@pytest.mark.parametrize("change, message", [
    ({"faig_pairs": 20}, "faig_pairs 20 must be in 1..16"),
    ({"finetune_patch": 128}, "finetune_patch 128 exceeds train_crop 64"),
    ({"train_counts": ()}, "train_counts must be positive"),
])
def test_inconsistent_scales_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        replace(get_scale("smoke"), **change)
