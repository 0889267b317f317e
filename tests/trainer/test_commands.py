"""`trainer pretrain`, `trainer eval`, `trainer restore` through click (in process)."""
import csv
import hashlib
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pipelines.codecs import decode_png, encode_png
from trainer.checkpoint import load_model
from trainer.cli import main
from trainer.restore import restore_image

TINY_RUN = ["--model", "nafnet-tiny", "--steps", "2", "--batch", "2", "--patch", "32",
            "--workers", "0", "--log-every", "1", "--device", "cpu"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_command_modules_import_no_torch():
    code = ("import sys, trainer.cli, trainer.commands.pretrain, trainer.commands.evaluate, "
            "trainer.commands.restore, trainer.commands.tasks; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pretrain_writes_a_complete_run(shard_dir, paired_dir, tmp_path):
    out = tmp_path / "run"
    result = invoke("pretrain", shard_dir, *TINY_RUN, "--val", paired_dir, "--out", out)
    assert result.exit_code == 0, result.output
    assert "pre-trained nafnet-tiny for 2 steps" in result.output
    for name in ("model.safetensors", "best.safetensors", "metrics.jsonl", "curves.png",
                 "summary.json", "run.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and "psnr" in summary["val"]
    model, metadata = load_model(out)
    assert metadata["preset"] == "nafnet-tiny" and metadata["steps"] == 2
    manifest = shard_dir / "manifest.json"
    assert metadata["shards"] == {"name": shard_dir.name, "samples": 16,
                                  "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest()}
    assert str(shard_dir.parent) not in json.dumps(metadata)  # no path of the training machine
    assert "(-PSNR in dB, lower is better)" in result.output
    assert "train (loss: -PSNR in dB, lower is better)" in result.stderr  # the progress bar
    assert summary["loss_meaning"] == "-PSNR in dB, lower is better"
    # TensorBoard events beside metrics.jsonl when tensorboard is installed (the extra)
    if importlib.util.find_spec("tensorboard") is not None:
        assert list((out / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("command", ["pretrain", "eval", "restore", "faig", "colora"])
def test_every_long_command_has_quiet(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "--quiet" in result.output


def test_quiet_pretrain_prints_only_the_summary(shard_dir, tmp_path):
    result = CliRunner().invoke(main, [str(a) for a in (
        "pretrain", shard_dir, *TINY_RUN, "--out", tmp_path / "run", "--quiet")])
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and result.stdout.count("\n") == 1


def test_pretrain_run_folder_rules(shard_dir, tmp_path):
    out = tmp_path / "run"
    assert invoke("pretrain", shard_dir, *TINY_RUN, "--out", out).exit_code == 0
    before = (out / "model.safetensors").read_bytes()
    again = invoke("pretrain", shard_dir, *TINY_RUN, "--out", out)
    assert again.exit_code == 1 and "resume it, or overwrite it" in again.output
    changed = invoke("pretrain", shard_dir, *TINY_RUN, "--out", out, "--resume", "--lr", "0.01")
    assert changed.exit_code == 1 and "lr 0.001 -> 0.01" in changed.output
    assert (out / "model.safetensors").read_bytes() == before
    both = invoke("pretrain", shard_dir, *TINY_RUN, "--out", out, "--resume", "--overwrite")
    assert both.exit_code == 2 and "contradict" in both.output
    replaced = invoke("pretrain", shard_dir, *TINY_RUN, "--out", out, "--overwrite", "--seed", 3)
    assert replaced.exit_code == 0, replaced.output


def test_pretrain_bad_options(shard_dir, tmp_path):
    unknown = invoke("pretrain", shard_dir, *TINY_RUN, "--model", "nope", "--out", tmp_path / "a")
    assert unknown.exit_code == 2 and "unknown model preset 'nope'" in unknown.output
    odd = invoke("pretrain", shard_dir, *TINY_RUN, "--steps", "0", "--out", tmp_path / "b")
    assert odd.exit_code == 2 and "'--steps': must be at least 1" in odd.output
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    foreign = invoke("pretrain", shard_dir, *TINY_RUN, "--out", tmp_path / "c")
    assert foreign.exit_code == 1 and "not a training run" in foreign.output


def test_eval_csv_and_baseline(tiny_model_file, paired_dir, tmp_path):
    out = tmp_path / "eval.csv"
    result = invoke("eval", tiny_model_file, "--data", paired_dir, "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "4 image(s): PSNR" in result.output and "input" in result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 5 and rows[-1]["name"] == "mean"


def test_eval_on_a_shard_folder(tiny_model_file, shard_dir, tmp_path):
    result = invoke("eval", tiny_model_file, "--data", shard_dir, "--limit", 2,
                    "--out", tmp_path / "s.csv", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "2 image(s)" in result.output


def test_eval_errors(tiny_model_file, paired_dir, tmp_path):
    missing = invoke("eval", tmp_path / "none.safetensors", "--data", paired_dir)
    assert missing.exit_code == 2 and "none.safetensors" in missing.output
    broken = tmp_path / "broken"
    for folder in ("lq", "gt"):
        (broken / folder).mkdir(parents=True)
    image = np.zeros((16, 16, 3), np.uint8)
    (broken / "lq" / "a.png").write_bytes(encode_png(image))
    (broken / "gt" / "a.png").write_bytes(encode_png(image))
    (broken / "lq" / "b.png").write_bytes(encode_png(image))
    unmatched = invoke("eval", tiny_model_file, "--data", broken, "--out", tmp_path / "x.csv")
    assert unmatched.exit_code == 1 and "b.png" in unmatched.output
    assert not (tmp_path / "x.csv").exists()


def test_restore_tiles_large_images(tiny_model_file, tmp_path):
    rng = np.random.default_rng(0)
    images = tmp_path / "in"
    images.mkdir()
    big = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    (images / "big.png").write_bytes(encode_png(big))
    single = tmp_path / "small.png"
    single.write_bytes(encode_png(big[:20, :30]))
    result = invoke("restore", tiny_model_file, images, single, "--out", tmp_path / "out",
                    "--tile", "48", "--overlap", "16", "--device", "cpu")
    assert result.exit_code == 0, result.output
    model, _ = load_model(tiny_model_file)
    restored = decode_png((tmp_path / "out" / "big.png").read_bytes())
    assert np.array_equal(restored, restore_image(model, big, tile=48, overlap=16))
    assert decode_png((tmp_path / "out" / "small.png").read_bytes()).shape == (20, 30, 3)


def test_restore_errors(tiny_model_file, tmp_path):
    missing = invoke("restore", tiny_model_file, tmp_path / "nope.png", "--out", tmp_path / "o")
    assert missing.exit_code == 2 and "nope.png: no such image" in missing.output
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    unreadable = invoke("restore", tiny_model_file, junk, "--out", tmp_path / "o")
    assert unreadable.exit_code == 1 and "junk.png: not an image" in unreadable.output
    bad_tile = invoke("restore", tiny_model_file, junk, "--out", tmp_path / "o", "--tile", "64",
                      "--overlap", "40")
    assert bad_tile.exit_code == 2 and "--overlap" in bad_tile.output


def test_adapter_option(tiny_model_file, paired_dir, tmp_path):
    from trainer.adapters import RankConfig, apply_plan, make_plan, save_adapter

    model, _ = load_model(tiny_model_file)
    plan = make_plan(model, "lora", RankConfig(rank=2))
    apply_plan(model, plan, RankConfig(rank=2))
    adapter = save_adapter(tmp_path / "a.safetensors", model)
    result = invoke("eval", tiny_model_file, "--data", paired_dir, "--adapter", adapter,
                    "--out", tmp_path / "e.csv", "--device", "cpu")
    assert result.exit_code == 0, result.output
    other = tmp_path / "other.safetensors"
    from trainer.checkpoint import save_model
    from trainer.models import create_model
    torch.manual_seed(1)
    save_model(other, create_model("nafnet-tiny"))
    wrong = invoke("restore", other, paired_dir / "lq", "--adapter", adapter,
                   "--out", tmp_path / "r")
    assert wrong.exit_code == 1 and "a.safetensors" in wrong.output
