"""`trainer faig`, `trainer colora` and `trainer merge` end to end on nafnet-tiny and tiny
synthetic images (few steps, small M)."""
import importlib.util
import json

import pytest
import torch
from click.testing import CliRunner

from trainer.checkpoint import load_model, save_model
from trainer.cli import main
from trainer.adapters import load_adapter, method_names, read_adapter, set_adapters
from trainer.commands.colora_options import DEFAULT_BASE
from trainer.finetune import DEFAULT_BASE as LIBRARY_DEFAULT_BASE
from trainer.models import create_model


def small_model():
    """Two levels, one block each: five blocks, fast on a shared CPU."""
    return create_model("nafnet-tiny", enc_blocks=(1, 1), dec_blocks=(1, 1), middle_blocks=1)

FAST = ["--steps", "2", "--batch", "2", "--patch", "16", "--test-count", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Base model file, then trainer faig, trainer colora (twice) and trainer merge, once."""
    root = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    save_model(root / "base.safetensors", small_model())
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    results = {
        "faig": invoke("faig", "--base", root / "base.safetensors", "--task", "blur", "--task",
                       "rain", "--steps", "2", "--tune-steps", "2", "--images", "2", "--patch",
                       "32", "--device", "cpu", "--out", root / "faig"),
        "colora": invoke("colora", "--task", "blur", "--base", root / "base.safetensors",
                         "--faig", root / "faig" / "faig.json", *FAST, "--out", root / "colora"),
        "computed": invoke("colora", "--task", "noise", "--base", root / "base.safetensors",
                           "--faig-steps", "2", "--faig-images", "2", "--tune-steps", "2", *FAST, "--out",
                           root / "computed"),
        "merge": invoke("merge", root / "base.safetensors", root / "colora" / "adapter.safetensors",
                        "--out", root / "merged.safetensors"),
        "dora": invoke("colora", "--task", "rain", "--base", root / "base.safetensors", "--method",
                       "dora", "--rank", "2", *FAST, "--out", root / "dora"),
    }
    return root, results, invoke


def test_faig_outputs(run):
    root, results, _ = run
    assert results["faig"].exit_code == 0, results["faig"].output
    report = json.loads((root / "faig" / "faig.json").read_text())
    assert set(report["tasks"]) == {"blur", "rain"} and report["steps"] == 2
    assert len(report["average"]["blocks"]) == len(small_model().blocks()) == 5
    assert (root / "faig" / "faig_blocks.png").stat().st_size > 1000
    assert "per param" in results["faig"].output and "norm" in results["faig"].output


def test_colora_writes_adapter_and_reports(run):
    root, results, _ = run
    for name in ("colora", "computed"):
        result = results[name]
        assert result.exit_code == 0, result.output
        assert "test before: PSNR" in result.output and "adapter" in result.output
        summary = json.loads((root / name / "summary.json").read_text())
        assert summary["adapter_bytes"] < summary["model_bytes"]
        assert abs(summary["tuned_count"] - 0.07 * summary["model_params"]) <= 0.0035 * summary["model_params"]
    assert (root / "computed" / "faig.json").is_file()
    log = [json.loads(line) for line in (root / "colora" / "metrics.jsonl").read_text().splitlines()]
    assert log and log[-1]["step"] == 2 and all("loss" in record for record in log)
    assert summary["loss_meaning"] == "-PSNR in dB, lower is better"
    if importlib.util.find_spec("tensorboard") is not None:  # the tensorboard extra
        assert list((root / "colora" / "tensorboard").glob("events.out.tfevents.*"))
    adapter = read_adapter(root / "colora" / "adapter.safetensors")
    assert adapter.method == "colora" and adapter.version == 2
    assert adapter.record.task == {"name": "blur", "ops": ["gaussian_blur", "motion_blur"],
                                   "level_range": [0.0, 1.0]}
    assert results["dora"].exit_code == 0, results["dora"].output
    assert read_adapter(root / "dora" / "adapter.safetensors").record.config.rank == 2


def test_merge_equals_base_plus_adapter(run):
    root, results, _ = run
    assert results["merge"].exit_code == 0, results["merge"].output
    merged, _ = load_model(root / "merged.safetensors")
    base, _ = load_model(root / "base.safetensors")
    adapted = load_adapter(base, root / "colora" / "adapter.safetensors")
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        assert torch.allclose(merged(x), adapted(x), atol=1e-5)


def test_wrong_base_and_bad_inputs_exit_1_or_2(run):
    root, _, invoke = run
    other = root / "other.safetensors"
    torch.manual_seed(1)
    save_model(other, small_model())
    result = invoke("merge", other, root / "colora" / "adapter.safetensors", "--out", root / "x.safetensors")
    assert result.exit_code == 1 and "different base model" in result.output
    assert not (root / "x.safetensors").exists()
    again = invoke("colora", "--task", "blur", "--base", root / "base.safetensors", "--faig",
                   root / "faig" / "faig.json", *FAST, "--out", root / "colora")
    assert again.exit_code == 1 and "--overwrite" in again.output and "--out" in again.output
    missing = invoke("colora", "--task", "blur", "--base", root / "nope", "--out", root / "n")
    assert missing.exit_code == 1 and "nope" in missing.output
    foreign = root / "foreign.json"
    foreign.write_text(json.dumps({"parameters": {"conv.weight": {"average": 1.0}}}))
    mismatch = invoke("colora", "--task", "blur", "--base", root / "base.safetensors", "--faig",
                      foreign, *FAST, "--out", root / "f")
    assert mismatch.exit_code == 1 and "FAIG of another model" in mismatch.output
    assert not (root / "f").exists()
    broken = root / "broken"
    for sub in ("lq", "gt"):
        (broken / sub).mkdir(parents=True)
        (broken / sub / "a.png").write_bytes(b"not an image")
    bad_data = invoke("colora", "--task", "blur", "--base", root / "base.safetensors", "--method",
                      "lora", "--data", broken, *FAST, "--out", root / "b")
    assert bad_data.exit_code == 1 and "--data" in bad_data.output and "a.png" in bad_data.output
    unknown = invoke("colora", "--task", "fog", "--base", root / "base.safetensors",
                     "--method", "lora", *FAST, "--out", root / "u")
    assert unknown.exit_code == 2 and "unknown task 'fog'" in unknown.output


def test_dry_run_counts_every_method(run):
    root, _, invoke = run
    result = invoke("colora", "--task", "blur", "--base", root / "base.safetensors", "--faig",
                    root / "faig" / "faig.json", "--dry-run")
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == method_names()
    without = invoke("colora", "--task", "blur", "--base", root / "base.safetensors", "--dry-run",
                     "--budget", "0.05")
    lines = without.output.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["decoder", "lora", "dora", "full", "levels-full"]
    assert lines[-1].startswith("(not counted: colora") and "--faig" in lines[-1]
    option = invoke("colora", "--task", "blur", "--base", root / "base.safetensors", "--method",
                    "colora", "--rank", "3", "--out", root / "r")
    assert option.exit_code == 2 and "--rank: method colora has no such option" in option.output


def test_default_base_matches_library():
    assert DEFAULT_BASE == LIBRARY_DEFAULT_BASE


def test_weighted_merge_and_composed_adapter(run):
    root, _, invoke = run
    blur, rain = root / "colora" / "adapter.safetensors", root / "dora" / "adapter.safetensors"
    model_out, adapter_out = root / "mix.safetensors", root / "mix-adapter.safetensors"
    merged = invoke("merge", root / "base.safetensors", f"{blur}:0.6", f"{rain}:0.4",
                    "--out", model_out)
    assert merged.exit_code == 0, merged.output
    composed = invoke("merge", root / "base.safetensors", blur, rain, "--weights", "0.6,0.4",
                      "--as-adapter", "--out", adapter_out)
    assert composed.exit_code == 0 and "exact" in composed.output, composed.output
    approximate = invoke("merge", root / "base.safetensors", blur, rain, "--weights", "0.6,0.4",
                         "--as-adapter", "--rank", "1", "--out", root / "low.safetensors")
    assert "APPROXIMATE" in approximate.output and "relative error" in approximate.output
    base, _ = load_model(root / "base.safetensors")
    both = load_adapter(load_adapter(base, blur, "blur"), rain, "rain")
    set_adapters(both, ["blur", "rain"], [0.6, 0.4])
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        expected = both(x)
        assert torch.allclose(load_model(model_out)[0](x), expected, atol=1e-5)
        single = load_adapter(load_model(root / "base.safetensors")[0], adapter_out)
        assert torch.allclose(single(x), expected, atol=1e-5)


def test_merge_refusals_leave_files_alone(run):
    root, _, invoke = run
    blur, rain = root / "colora" / "adapter.safetensors", root / "dora" / "adapter.safetensors"
    base = root / "base.safetensors"
    existing = root / "existing.safetensors"
    existing.write_bytes(b"precious")
    other = root / "other-base.safetensors"
    torch.manual_seed(2)
    save_model(other, small_model())
    foreign_dir = root / "foreign-adapter"
    foreign = invoke("colora", "--task", "rain", "--base", other, "--method", "lora", *FAST,
                     "--out", foreign_dir)
    assert foreign.exit_code == 0, foreign.output
    cases = [
        ([base, blur, rain, "--weights", "0.5", "--out", root / "a.safetensors"], "1 weights for 2"),
        ([base, f"{blur}:nan", "--out", root / "a.safetensors"], "nan is not a finite"),
        ([base, f"{blur}:inf", "--out", root / "a.safetensors"], "inf is not a finite"),
        ([base, blur, foreign_dir / "adapter.safetensors", "--out", root / "a.safetensors"],
         "trained on a different base model", 1),
        ([base, blur, "--out", existing], "already exists"),
        ([base, blur, "--out", blur], "is the input"),
        ([base, blur, "--out", root / "a.safetensors", "--rank", "2"], "--as-adapter only"),
        ([base, root / "nope.safetensors", "--out", root / "a.safetensors"], "no such adapter", 1),
    ]
    for args, message, *code in cases:  # usage errors exit 2, unusable files 1
        result = invoke("merge", *args)
        assert result.exit_code == (code or [2])[0] and message in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()[-1]) > 0
    assert existing.read_bytes() == b"precious" and not (root / "a.safetensors").exists()


def test_another_runs_training_log_is_kept_unless_overwrite(tmp_path):
    from trainer.finetune import AdaptError
    from trainer.finetune.requests import clear_training_log

    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": -20.0}\n')
    (tmp_path / "tensorboard").mkdir()
    with pytest.raises(AdaptError, match="metrics.jsonl of another run"):
        clear_training_log(tmp_path, overwrite=False)
    assert (tmp_path / "metrics.jsonl").exists()
    clear_training_log(tmp_path, overwrite=True)
    assert not (tmp_path / "metrics.jsonl").exists() and not (tmp_path / "tensorboard").exists()
