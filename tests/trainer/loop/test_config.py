"""LoopConfig refuses what cannot run."""
import pytest
import torch

from trainer.loop import LoopConfig


@pytest.mark.parametrize("field,value,message", [
    ("steps", 0, "steps"), ("loss", "l2", "loss"), ("amp", "fp8", "amp"), ("lr", -1.0, "lr"),
    ("log_every", -1, "log_every")])
def test_config_validation(field, value, message):
    with pytest.raises(ValueError, match=message):
        LoopConfig(**{"steps": 1, field: value})
