"""Every file the trainer writes is 0666 minus the umask (0644 under the usual 022)."""
import os
import stat

import pytest

from trainer.checkpoint import save_checkpoint, save_model
from trainer.evaluate import EvalReport, ImageScore, write_report
from trainer.faig import plot_block_scores
from trainer.models import create_model


@pytest.fixture(params=[0o022, 0o027])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_model_checkpoint_and_report_files(tmp_path, umask):
    model = create_model("nafnet-tiny")
    written = [save_model(tmp_path / "model.safetensors", model)]
    state = save_checkpoint(tmp_path / "checkpoints", 3, {"w": model.intro.weight}, {"format": "x"},
                            {"step": 3, "values": [1, 2]})
    written += [state, state.with_name("step-00000003.safetensors")]
    score = ImageScore("a", 30.0, 0.9, 20.0, 0.5)
    written.append(write_report(EvalReport((score,)), tmp_path / "eval.csv"))
    summary = {"blocks": [{"index": 0, "name": "b", "part": "encoder", "score": 1.0, "kinds": {}}]}
    plot_block_scores(summary, tmp_path / "faig.png")
    written.append(tmp_path / "faig.png")
    assert {p.name: mode(p) for p in written} == {p.name: 0o666 & ~umask for p in written}
    assert not list(tmp_path.rglob("*.partial"))
