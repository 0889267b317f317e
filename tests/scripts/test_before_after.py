"""scripts/before_after.py (the demo's last step): the picture, the PSNR line, and bad input."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "before_after.py"
SIZE, COUNT = 32, 2


@pytest.fixture(scope="module")
def script(load_module):
    return load_module(SCRIPT, "before_after_script")


@pytest.fixture(scope="module")
def base_and_adapter(tmp_path_factory):
    """A tiny base model file and a LoRA adapter tuned 2 steps on haze pairs."""
    from trainer.adapters import save_adapter
    from trainer.checkpoint import save_model
    from trainer.finetune import TrainConfig, finetune
    from trainer.models import create_model
    from trainer.tasks import synthesize_pairs

    folder = tmp_path_factory.mktemp("demo")
    torch.manual_seed(0)
    base = create_model("nafnet-tiny")
    save_model(folder / "base.safetensors", base)
    result = finetune(base, synthesize_pairs("haze", 2, SIZE, 0), "lora",
                      TrainConfig(steps=2, batch=2, patch=16, progress=False))
    save_adapter(folder / "adapter.safetensors", result.model)
    return folder / "base.safetensors", folder / "adapter.safetensors"


def test_picture_and_line_from_the_held_out_pairs(script, base_and_adapter, tmp_path):
    from trainer.metrics import psnr
    from trainer.tasks import synthesize_pairs

    base, adapter = base_and_adapter
    out = tmp_path / "before-after.png"
    result = CliRunner().invoke(script.main, [
        "--base", str(base), "--adapter", str(adapter), "--task", "haze",
        "--test-count", str(COUNT), "--size", str(SIZE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    found = re.fullmatch(r"haze, 2 held-out test pairs: input ([\d.]+) dB, base ([\d.]+) dB, "
                         r"adapter ([\d.]+) dB \(.*before-after.png\)", line)
    assert found, line
    pairs = synthesize_pairs("haze", COUNT, SIZE, 0, "test")
    expected_input = np.mean([psnr(lq, gt) for _, lq, gt in pairs])
    assert float(found.group(1)) == pytest.approx(expected_input, abs=0.006)
    picture = cv2.imread(str(out))
    zoomed = SIZE * script.ZOOM
    assert picture.shape == (zoomed + script.LABEL, 4 * zoomed + 3 * script.GAP, 3)
    clean = cv2.resize(pairs[0][2], None, fx=script.ZOOM, fy=script.ZOOM,
                       interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(picture[script.LABEL:, -zoomed:, ::-1], clean)
    assert oct(out.stat().st_mode & 0o777) in ("0o644", "0o664", "0o600", "0o640")


def test_missing_base_is_one_line(script, base_and_adapter, tmp_path):
    _, adapter = base_and_adapter
    result = CliRunner().invoke(script.main, ["--base", str(tmp_path / "absent"), "--adapter",
                                              str(adapter), "--task", "haze",
                                              "--out", str(tmp_path / "p.png")])
    assert result.exit_code == 1
    assert "absent" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "p.png").exists()
