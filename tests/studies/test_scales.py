"""Scale configurations: known names, and the checks that keep a scale runnable."""
from __future__ import annotations

from dataclasses import replace

import pytest

from studies.scales import CONFOUND_ARMS, SCALES, get_scale


def test_scales_follow_the_issue():
    assert get_scale("smoke").device == "cpu" and get_scale("lite").device == "cuda"
    for name in ("smoke", "lite"):
        scale = get_scale(name)
        assert scale.train_counts == (16, 32, 64, 128)
        assert (scale.prod_k, scale.prod_n) == (7, 6) and scale.colora_budget == 0.07


@pytest.mark.parametrize("name", ["medium", "gpu"])
def test_evidence_scales_see_their_largest_set_ten_times_and_test_on_every_image(name):
    scale = get_scale(name)
    assert scale.finetune_steps * scale.finetune_batch >= 10 * scale.max_train_count
    assert (scale.polyu_test_count, scale.cbsd68_count) == (30, 68)  # all held-out images
    # one arm per confound of the fine-tuning study: a learning-rate arm and an equal budget
    assert {CONFOUND_ARMS[a].checks for a in scale.confound_arms} == {"CoLoRA = Full",
                                                                     "CoLoRA > Decoder-only"}
    assert any(CONFOUND_ARMS[a].lr_factor > 1 for a in scale.confound_arms)


def test_gpu_scale_is_a_real_network_on_cuda():
    from trainer.models import create_model

    scale = get_scale("gpu")
    assert scale.device == "cuda" and create_model(scale.model).config["width"] >= 16


def test_every_scale_uses_a_registered_model():
    from trainer.models import list_presets

    assert {s.model for s in SCALES.values()} <= set(list_presets())


def test_unknown_scale_is_named():
    with pytest.raises(ValueError, match="unknown scale 'huge'; choose one of smoke, medium, gpu, lite, test"):
        get_scale("huge")


@pytest.mark.parametrize("change, message", [
    ({"faig_pairs": 20}, "faig_pairs 20 must be in 1..16"),
    ({"finetune_patch": 128}, "finetune_patch 128 exceeds train_crop 64"),
    ({"train_counts": ()}, "train_counts must be positive"),
    ({"confound_arms": ("lora-lr9",)}, "unknown confound arm 'lora-lr9'; choose from colora-lr4"),
])
def test_inconsistent_scales_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        replace(get_scale("smoke"), **change)
