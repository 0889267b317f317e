"""Subnormal floats are flushed by the entry points, never by importing or calling the library."""
import subprocess
import sys

import torch
from click.testing import CliRunner

from trainer.cli import main


def _subnormal_survives() -> bool:
    tiny = torch.tensor([1e-39], dtype=torch.float32)
    return bool((tiny * 1.0).item() != 0.0)


def test_importing_and_using_the_library_leaves_the_process_settings_alone():
    code = ("import numpy as np, torch, trainer.models, trainer.loop, trainer.faig, trainer.restore\n"
            "from trainer.loop import LoopConfig, make_training\n"
            "make_training(torch.nn.Conv2d(3, 3, 3, padding=1), LoopConfig(steps=1))\n"
            "trainer.restore.restore_image(torch.nn.Conv2d(3, 3, 3, padding=1), np.zeros((8, 8, 3), np.uint8))\n"
            "print((torch.tensor([1e-39]) * 1.0).item() != 0.0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_every_trainer_command_flushes_subnormals_when_it_runs():
    torch.set_flush_denormal(False)
    try:
        assert _subnormal_survives()
        assert CliRunner().invoke(main, ["models", "--help"]).exit_code == 0
        assert _subnormal_survives()  # help alone changes nothing (and imports no torch)
        result = CliRunner().invoke(main, ["models"])
        assert result.exit_code == 0, result.output
        assert not _subnormal_survives()
    finally:
        torch.set_flush_denormal(True)  # the session's setting (tests/conftest.py)
