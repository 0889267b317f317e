"""Level adapters end to end: trainer colora --levels/--level-range/--level-labels, restore and
eval with --level (a value or auto), trainer sweep, and every bad input of issue 13 (one line,
exit 1 or 2)."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pipelines.codecs import encode_png
from trainer.checkpoint import save_model
from trainer.cli import main
from trainer.models import create_model

FAST = ["--steps", "2", "--batch", "1", "--patch", "16", "--test-count", "1", "--device", "cpu",
        "--train-count", "16", "--faig-steps", "2", "--faig-images", "2", "--tune-steps", "1",
        "--quiet"]


def _png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(image))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small base, a level adapter, a blind adapter, one trained on labelled real pairs, a
    noisy image and an (untrained) estimator."""
    from trainer.estimator.files import save_estimator
    from trainer.estimator.model import DegradationEstimator

    root = tmp_path_factory.mktemp("levels")
    torch.manual_seed(0)
    save_model(root / "base.safetensors", create_model(
        "nafnet-tiny", enc_blocks=(1, 1), dec_blocks=(1, 1), middle_blocks=1))
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    labels = ["name,level"]
    for i, sigma in enumerate((10, 20, 30)):
        noisy = np.clip(clean[i] + rng.normal(0, sigma, clean[i].shape), 0, 255).astype(np.uint8)
        _png(root / "pairs" / "lq" / f"p{i}.png", noisy)
        _png(root / "pairs" / "gt" / f"p{i}.png", clean[i])
        labels.append(f"p{i},{sigma}")
    (root / "labels.csv").write_text("\n".join(labels) + "\n")
    _png(root / "noisy.png", np.clip(clean[0] + rng.normal(0, 25, clean[0].shape), 0, 255)
         .astype(np.uint8))
    torch.manual_seed(1)
    save_estimator(root / "estimator.safetensors", DegradationEstimator(["gaussian_noise", "jpeg"]))
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    base = ["--base", root / "base.safetensors"]
    results = {
        "levels": invoke("colora", "--task", "noise", "--method", "levels", "--levels",
                         "15,35,55,75", *base, *FAST, "--out", root / "levels"),
        "blind": invoke("colora", "--task", "noise", "--levels", "15,75", *base, *FAST,
                        "--out", root / "blind"),
        "range": invoke("colora", "--task", "jpeg", "--method", "levels", "--level-range",
                        "10:80", *base, *FAST, "--out", root / "range"),
        "labels": invoke("colora", "--task", "noise", "--method", "levels-full", "--data",
                         root / "pairs", "--level-labels", root / "labels.csv", *base, *FAST,
                         "--out", root / "labelled"),
    }
    return root, results, invoke


def _adapter(root, name):
    return root / name / "adapter.safetensors"


def test_level_runs_train_and_report_per_level(run):
    root, results, _ = run
    for name, result in results.items():
        assert result.exit_code == 0, (name, result.output)
    levels = json.loads((root / "levels" / "summary.json").read_text())
    assert list(levels["per_level"]["after"]) == ["15", "35", "55", "75"]
    assert levels["levels"]["trained"] == [15, 35, 55, 75] and levels["levels"]["op"] == "gaussian_noise"
    assert "sigma 35: PSNR" in results["levels"].output
    assert levels["tuned_count"] == sum(p["params"] for p in levels["plan"]["layers"])
    ranged = json.loads((root / "range" / "summary.json").read_text())
    assert ranged["levels"]["trained"] == [] and (ranged["levels"]["low"], ranged["levels"]["high"]) == (10, 80)
    assert list(ranged["per_level"]["after"]) == ["10", "33", "57", "80"]
    labelled = json.loads((root / "labelled" / "summary.json").read_text())
    assert (labelled["levels"]["low"], labelled["levels"]["high"]) == (10, 30)
    blind = json.loads((root / "blind" / "summary.json").read_text())
    assert blind["method"] == "colora" and "levels" not in blind and blind["trained_levels"]
    # the paper's form: the level term anchored at c = 0 (read back from the files)
    from trainer.adapters import read_adapter
    assert {read_adapter(_adapter(root, name)).record.config.centre
            for name in ("levels", "range", "labelled")} == {0.0}


def test_restore_and_eval_at_a_level_and_auto(run, tmp_path):
    root, _, invoke = run
    adapter = _adapter(root, "levels")
    out = {}
    for level in ("25", "55sigma"):
        result = invoke("restore", root / "base.safetensors", root / "noisy.png", "--adapter",
                        adapter, "--level", level, "--out", tmp_path / level, "--device", "cpu")
        assert result.exit_code == 0, result.output
        out[level] = (tmp_path / level / "noisy.png").read_bytes()
    assert out["25"] != out["55sigma"]  # the level changes the output
    auto = invoke("restore", root / "base.safetensors", root / "noisy.png", "--adapter", adapter,
                  "--level", "auto", "--estimator", root / "estimator.safetensors",
                  "--out", tmp_path / "auto", "--device", "cpu")
    assert auto.exit_code == 0 and "estimated sigma" in auto.output, auto.output
    evaluated = invoke("eval", root / "base.safetensors", "--data", root / "pairs", "--adapter",
                       adapter, "--level", "35", "--out", tmp_path / "e.csv", "--device", "cpu",
                       "--quiet")
    assert evaluated.exit_code == 0 and evaluated.output.startswith("sigma 35: 3 image(s)"), evaluated.output


def test_sweep_command_writes_one_page(run, tmp_path):
    root, _, invoke = run
    page = tmp_path / "sweep.html"
    result = invoke("sweep", root / "base.safetensors", root / "noisy.png", "--adapter",
                    _adapter(root, "levels"), "--levels", "15:75:20", "--estimator",
                    root / "estimator.safetensors", "--out", page, "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert text.count('"level":') == 4 and "estimated sigma" in text
    assert page.stat().st_mode & 0o777 == 0o644 or page.stat().st_mode & 0o022 == 0
    again = invoke("sweep", root / "base.safetensors", root / "noisy.png", "--adapter",
                   _adapter(root, "levels"), "--no-estimate", "--out", page, "--device", "cpu")
    assert again.exit_code == 2 and "already exists" in again.output


BAD = {
    # level outside the trained range, without --extrapolate
    "outside": (["restore", "{base}", "{img}", "--adapter", "{levels}", "--level", "5", "--out",
                 "{tmp}/o"], 2, "--level': {levels}: level 5 is outside the adapter's trained "
                               "range sigma 15..75 (pass --extrapolate"),
    # --level on a plain (blind) adapter
    "plain": (["restore", "{base}", "{img}", "--adapter", "{blind}", "--level", "25", "--out",
               "{tmp}/o"], 2, "{blind} is a colora adapter, not a level adapter"),
    "no level": (["eval", "{base}", "--data", "{pairs}", "--adapter", "{levels}", "--out",
                  "{tmp}/e.csv"], 2, "is a level adapter: give --level"),
    "no adapter": (["restore", "{base}", "{img}", "--level", "25", "--out", "{tmp}/o"], 2,
                   "--level': needs a level adapter (--adapter)"),
    "unit": (["restore", "{base}", "{img}", "--adapter", "{levels}", "--level", "25dB", "--out",
              "{tmp}/o"], 2, "'25dB': unknown unit 'dB'; gaussian_noise levels are sigma"),
    "one level": (["colora", "--task", "noise", "--method", "levels", "--levels", "25",
                   "--base", "{base}", "--out", "{tmp}/c"], 2,
                  "'25': give at least two different levels"),
    "levels unit": (["colora", "--task", "jpeg", "--method", "levels", "--levels", "10q,30q",
                     "--base", "{base}", "--out", "{tmp}/c"], 2, "unknown unit 'q'"),
    "no levels": (["colora", "--task", "noise", "--method", "levels", "--base", "{base}",
                   "--out", "{tmp}/c"], 1, "needs exactly one of --levels, --level-range or "
                                           "--level-labels"),
    "blur": (["colora", "--task", "blur", "--method", "levels", "--levels", "1,2", "--base",
              "{base}", "--out", "{tmp}/c"], 1, "no op of this task has a settable strength"),
    "bad range": (["colora", "--task", "noise", "--method", "levels", "--level-range", "75:5",
                   "--base", "{base}", "--out", "{tmp}/c"], 2, "LOW must be below HIGH"),
    "labels line": (["colora", "--task", "noise", "--method", "levels-full", "--data", "{pairs}",
                     "--level-labels", "{badlabels}", "--base", "{base}", "--out", "{tmp}/c"],
                    1, "line 3: 'x' is not a number (give sigma at mid-grey (0-255)"),
    "unlabelled": (["colora", "--task", "noise", "--method", "levels-full", "--data", "{pairs}",
                    "--level-labels", "{fewlabels}", "--base", "{base}", "--out", "{tmp}/c"],
                   1, "no level for pair 'p1'"),
    "estimator": (["restore", "{base}", "{img}", "--adapter", "{levels}", "--level", "auto",
                   "--estimator", "{tmp}/none", "--out", "{tmp}/o"], 1, "--estimator"),
    "sweep outside": (["sweep", "{base}", "{img}", "--adapter", "{levels}", "--levels", "5:75:5",
                       "--no-estimate", "--out", "{tmp}/s.html"], 2,
                      "--levels': {levels}: level 5 is outside"),
    "level with adapters": (["restore", "{base}", "{img}", "--adapters", "{levels}", "--level",
                             "25", "--out", "{tmp}/o"], 2, "--level sets the level of one level "
                                                           "adapter (--adapter)"),
    "composed": (["restore", "{base}", "{img}", "--adapters", "{levels}", "--weights", "1",
                  "--out", "{tmp}/o"], 1, "weights depend on the level c; merging or composing"),
    "sweep plain": (["sweep", "{base}", "{img}", "--adapter", "{blind}", "--out",
                     "{tmp}/s.html"], 2, "not a level adapter"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_inputs_are_one_line(run, tmp_path, case):
    root, _, invoke = run
    (tmp_path / "bad.csv").write_text("name,level\np0,10\np1,x\n")
    (tmp_path / "few.csv").write_text("p0,10\n")
    names = {"base": root / "base.safetensors", "img": root / "noisy.png", "tmp": tmp_path,
             "levels": _adapter(root, "levels"), "blind": _adapter(root, "blind"),
             "pairs": root / "pairs", "badlabels": tmp_path / "bad.csv",
             "fewlabels": tmp_path / "few.csv"}
    args, status, message = BAD[case]
    result = invoke(*[a.format(**names) for a in args])
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == status, result.output
    assert len(error) == 1 and "Traceback" not in result.output, result.output
    assert message.format(**names) in error[0], error[0]


def test_extrapolate_warns_and_runs(run, tmp_path):
    root, _, invoke = run
    result = invoke("restore", root / "base.safetensors", root / "noisy.png", "--adapter",
                    _adapter(root, "levels"), "--level", "5", "--extrapolate", "--out",
                    tmp_path / "o", "--device", "cpu")
    assert result.exit_code == 0 and "outside the adapter's trained range" in result.output
    assert (tmp_path / "o" / "noisy.png").is_file()
