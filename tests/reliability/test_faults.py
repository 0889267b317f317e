"""Items 4-6: read-only output folders, full disks, bad data folders and devices give one line
naming the file or option and a non-zero exit, never a traceback; a failed checkpoint leaves the
previous one as the newest."""
from __future__ import annotations

import errno
import json

import pytest
import torch

from trainer import checkpoint as ckpt

from .conftest import assert_one_line_error, fill, run_cli

TINY = ("--model", "nafnet-tiny", "--steps", "2", "--batch", "2", "--patch", "16",
        "--workers", "0", "--val-every", "0")
WRITE_FAILED = ("Read-only file system", "Permission denied", "Operation not permitted")


def commands_writing_into(folder, shards, model_file, adapter_file, photo):
    return {
        "apply": ("degrade", "apply", photo, "--chain", "jpeg", "--out", folder / "o.png"),
        "preview": ("degrade", "preview", photo, "--crop", "32", "--count", "2",
                    "--out", folder / "p.png"),
        "build-shards": ("degrade", "build-shards", "--count", "2", "--patch", "32", "--quiet",
                         "--workers", "1", "--out", folder / "s"),
        "pretrain": ("trainer", "pretrain", shards, *TINY, "--out", folder / "run"),
        "eval": ("trainer", "eval", model_file, "--data", shards, "--limit", "1", "--device",
                 "cpu", "--out", folder / "e.csv"),
        "restore": ("trainer", "restore", model_file, photo, "--device", "cpu",
                    "--out", folder / "r"),
        "faig": ("trainer", "faig", "--base", model_file, "--task", "blur", "--steps", "1",
                 "--tune-steps", "1", "--images", "1", "--patch", "16", "--batch", "1",
                 "--device", "cpu", "--out", folder / "f"),
        "merge": ("trainer", "merge", model_file, adapter_file, "--out", folder / "m.safetensors"),
        "colora": ("trainer", "colora", "--task", "blur", "--base", model_file, "--method", "lora",
                   "--steps", "1", "--batch", "1", "--patch", "16", "--test-count", "1",
                   "--device", "cpu", "--out", folder / "c"),
    }


@pytest.mark.parametrize("name", ["apply", "preview", "build-shards", "pretrain", "eval",
                                  "restore", "faig", "merge", "colora"])
def test_read_only_output_folder(name, read_only_dir, shards, model_file, adapter_file, photo):
    args = commands_writing_into(read_only_dir, shards, model_file, adapter_file, photo)[name]
    last = assert_one_line_error(run_cli(*args, timeout=240), 1, str(read_only_dir))
    assert any(reason in last for reason in WRITE_FAILED), last


@pytest.mark.parametrize("name", ["apply", "pretrain", "restore", "merge", "colora"])
def test_full_disk(name, full_dir, shards, model_file, adapter_file, photo):
    args = commands_writing_into(full_dir, shards, model_file, adapter_file, photo)[name]
    assert_one_line_error(run_cli(*args, timeout=240), 1, str(full_dir), "No space left")
    leftovers = [p for p in full_dir.rglob("*") if p.is_file() and p.name != ".filler"]
    # no output under its final name; TensorBoard's own event log may have been opened
    assert all(p.name in ("run.json", ".lock") or p.name.startswith("events.out.tfevents")
               for p in leftovers), leftovers


def test_a_failed_checkpoint_keeps_the_previous_one(full_dir):
    (full_dir / ".filler").unlink()  # room for exactly one checkpoint, then none
    folder = full_dir / "checkpoints"
    tensors = {"w": torch.arange(1000, dtype=torch.float32)}
    state = {"step": 1, "big": torch.zeros(2000)}
    ckpt.save_checkpoint(folder, 1, tensors, {}, state)
    fill(full_dir)
    with pytest.raises(OSError) as error:
        ckpt.save_checkpoint(folder, 2, tensors, {}, dict(state, step=2))
    assert error.value.errno == errno.ENOSPC
    step, weights, state_path = ckpt.latest_checkpoint(folder)
    assert step == 1 and ckpt.load_train_state(state_path)["step"] == 1
    assert sorted(p.name for p in folder.iterdir()) == ["step-00000001.safetensors",
                                                        "step-00000001.state.pt"]


def test_state_write_failure_removes_its_weights(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    tensors = {"w": torch.ones(4)}
    ckpt.save_checkpoint(folder, 1, tensors, {}, {"step": 1})

    def no_room(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos")
    monkeypatch.setattr(ckpt.torch, "save", no_room)  # how torch.save reports a full disk
    with pytest.raises(RuntimeError, match="unexpected pos"):
        ckpt.save_checkpoint(folder, 2, tensors, {}, {"step": 2})
    assert ckpt.latest_checkpoint(folder)[0] == 1
    assert not ckpt.checkpoint_paths(folder, 2)[0].exists()


def test_pretrain_on_what_is_not_a_dataset(tmp_path, photo):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("trainer", "pretrain", empty, *TINY, "--out", tmp_path / "a"),
                          1, "no shards")
    unfinished = tmp_path / "unfinished"
    (unfinished / ".build").mkdir(parents=True)
    assert_one_line_error(run_cli("trainer", "pretrain", unfinished, *TINY, "--out",
                                  tmp_path / "b"), 1, "unfinished build")
    image = run_cli("trainer", "pretrain", photo, *TINY, "--out", tmp_path / "c")
    assert image.returncode == 2 and "is a file" in image.stderr
    assert not any((tmp_path / name).exists() for name in ("a", "b", "c"))


def test_eval_and_colora_on_corrupt_shards(corrupt_shards, model_file, tmp_path):
    evaluated = run_cli("trainer", "eval", model_file, "--data", corrupt_shards, "--device",
                        "cpu", "--out", tmp_path / "e.csv")
    assert_one_line_error(evaluated, 1, ".tar")
    adapted = run_cli("trainer", "colora", "--task", "blur", "--base", model_file, "--method",
                      "lora", "--data", corrupt_shards, "--steps", "1", "--device", "cpu",
                      "--out", tmp_path / "c")
    assert_one_line_error(adapted, 1, "--data", ".tar")


@pytest.mark.parametrize("device", ["tpu", "cuda:7" if torch.cuda.is_available() else "cuda"])
def test_unusable_devices(device, shards, model_file, tmp_path):
    for args in (("trainer", "pretrain", shards, *TINY, "--device", device, "--out",
                  tmp_path / "run"),
                 ("trainer", "eval", model_file, "--data", shards, "--device", device,
                  "--out", tmp_path / "e.csv")):
        assert_one_line_error(run_cli(*args), 2, "'--device'", device)
    assert not (tmp_path / "run").exists()
