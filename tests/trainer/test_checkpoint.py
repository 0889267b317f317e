"""Model files, run-folder resolution, training state and RNG round trips, atomicity."""
import json
import pickle
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pipelines.files import remove_stale_temporaries
from trainer.checkpoint import (BEST_NAME, CHECKPOINT_DIR, FINAL_NAME, CheckpointError,
                                latest_checkpoint, list_checkpoints, load_model,
                                load_train_state, read_metadata, resolve_model_path,
                                rng_states, safetensors_bytes, save_checkpoint, save_model,
                                save_tensors, set_rng_states)
from trainer.models import create_model


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = create_model("nafnet-tiny").eval()
    path = save_model(tmp_path / "m.safetensors", model, {"steps": 7, "note": "hello"})
    loaded, metadata = load_model(path)
    assert metadata["preset"] == "nafnet-tiny" and metadata["steps"] == 7
    assert metadata["config"] == model.config and metadata["note"] == "hello"
    assert loaded.preset == "nafnet-tiny" and not loaded.training
    x = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    raw = read_metadata(path)
    assert json.loads(raw["config"]) == model.config


def test_bytes_are_canonical_and_readable_by_safetensors(tmp_path):
    tensors = {"b": torch.arange(6, dtype=torch.float32).reshape(2, 3),
               "a": torch.tensor([1, 2], dtype=torch.int64),
               "c": torch.ones(3, dtype=torch.bfloat16), "empty": torch.zeros(0)}
    first = safetensors_bytes(tensors, {"z": "1", "a": "2"})
    second = safetensors_bytes(dict(reversed(list(tensors.items()))), {"a": "2", "z": "1"})
    assert first == second
    path = tmp_path / "t.safetensors"
    path.write_bytes(first)
    loaded = load_file(str(path))
    assert set(loaded) == set(tensors)
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)


def test_run_folder_resolution_order(tmp_path):
    model = create_model("nafnet-tiny")
    with pytest.raises(CheckpointError, match="holds no"):
        resolve_model_path(tmp_path)
    save_checkpoint(tmp_path / CHECKPOINT_DIR, 3, model.state_dict(),
                    {"format": "colora-kit/model", "config": model.config}, {"step": 3})
    assert resolve_model_path(tmp_path).name == "step-00000003.safetensors"
    save_model(tmp_path / BEST_NAME, model)
    assert resolve_model_path(tmp_path).name == BEST_NAME
    save_model(tmp_path / FINAL_NAME, model)
    assert resolve_model_path(tmp_path).name == FINAL_NAME
    assert load_model(tmp_path)[1]["preset"] == "nafnet-tiny"


def test_bad_model_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such model"):
        load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_model(junk)
    subset = save_tensors(tmp_path / "subset.safetensors", {"w": torch.zeros(2)},
                          {"format": "colora-kit/trainable-subset"})
    with pytest.raises(CheckpointError, match="not a colora-kit model file"):
        load_model(subset)


def test_wrong_weights_for_the_config(tmp_path):
    model = create_model("nafnet-tiny")
    state = dict(model.state_dict())
    state.pop(next(iter(state)))
    save_tensors(tmp_path / "m.safetensors", state,
                 {"format": "colora-kit/model", "preset": "nafnet-tiny", "config": model.config})
    with pytest.raises(CheckpointError, match="missing weight"):
        load_model(tmp_path / "m.safetensors")


def test_rng_states_round_trip():
    saved = rng_states()
    draws = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_states(saved)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == draws


def test_train_state_survives_weights_only_load(tmp_path):
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters(), betas=(0.9, 0.9))
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    state = {"step": 5, "optimizer": optimizer.state_dict(), "rng": rng_states()}
    save_checkpoint(tmp_path, 5, model.state_dict(), {}, state)
    loaded = load_train_state(latest_checkpoint(tmp_path)[2])
    assert loaded["step"] == 5
    fresh = torch.optim.AdamW(model.parameters(), betas=(0.9, 0.9))
    fresh.load_state_dict(loaded["optimizer"])
    set_rng_states(loaded["rng"])


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_arbitrary_pickles_are_refused(tmp_path):
    path = tmp_path / "state.pt"
    torch.save({"payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="unreadable training state"):
        load_train_state(path)


def test_checkpoints_keep_the_newest_and_leave_no_temporaries(tmp_path):
    tensors = {"w": torch.zeros(1)}
    for step in (2, 4, 6):
        save_checkpoint(tmp_path, step, tensors, {}, {"step": step}, keep=2)
    assert list_checkpoints(tmp_path) == [4, 6]
    (tmp_path / "step-00000008.safetensors").write_bytes(b"weights without state")
    assert latest_checkpoint(tmp_path)[0] == 6  # no state file: incomplete, ignored
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = save_tensors(tmp_path / "w.safetensors", {"w": torch.ones(2)}, {})
    before = path.read_bytes()
    with pytest.raises(CheckpointError):
        save_tensors(path, {"w": torch.ones(2, dtype=torch.complex64)}, {})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_stale_temporaries_are_removed(tmp_path):
    save_checkpoint(tmp_path, 1, {"w": torch.zeros(1)}, {}, {"step": 1})
    (tmp_path / ".step-00000002.state.pt.abc123.partial").write_bytes(b"half written")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000001.safetensors",
                                                          "step-00000001.state.pt"]
