"""Adapter files: format 2 round trip and bytes, format-1 files, refusals."""
import copy
import json
import os
import struct
from pathlib import Path

import pytest
import torch

from trainer.adapters import (AdapterError, adapted_layers, load_adapter, model_fingerprint,
                              read_adapter, save_adapter)
from trainer.checkpoint import save_tensors

DATA = Path(__file__).parent / "data"


def test_round_trip_and_metadata(toy, make_adapter, images):
    lq, _ = images
    path, model = make_adapter("dora")
    adapter = read_adapter(path)
    assert adapter.version == 2 and adapter.method == "dora"
    assert adapter.record.config.budget == 0.3
    assert adapter.record.task == {"name": "dora", "ops": ["gaussian_blur"],
                                   "level_range": [0.1, 0.5]}
    assert {k.split("/")[0] for k in adapter.tensors} == {"lora_A", "lora_B", "magnitude"}
    assert adapter.base_fingerprint == model_fingerprint(toy)
    fresh = copy.deepcopy(toy)
    assert load_adapter(fresh, path) is fresh
    with torch.no_grad():
        assert torch.allclose(fresh(lq), model(lq), atol=1e-6)
    from pipelines.files import TEMPORARY_GLOB
    assert not list(path.parent.glob(TEMPORARY_GLOB))


@pytest.mark.parametrize("method", ["colora", "codora", "full"])
def test_identical_adapters_give_identical_bytes(make_adapter, method):
    """Made twice in separate model copies, saved twice: the same bytes; another seed differs."""
    first, model = make_adapter(method, seed=1, name="first")
    second, _ = make_adapter(method, seed=1, name="second")
    other, _ = make_adapter(method, seed=2, name="other")
    again = save_adapter(first.parent / "again.safetensors", model,
                         task=read_adapter(first).record.task)
    assert first.read_bytes() == second.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_file_mode_follows_umask(make_adapter):
    path, _ = make_adapter("lora")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_format_1_file_loads_and_gives_the_recorded_output(toy):
    """Written by trainer.colora (format 1) before the rewrite; base and output saved beside."""
    from safetensors.torch import load_file

    toy.load_state_dict(load_file(DATA / "format1-base.safetensors"))
    expected = load_file(DATA / "format1-expected.safetensors")
    adapter = read_adapter(DATA / "format1-colora.safetensors")
    assert adapter.version == 1 and adapter.method == "colora"
    assert adapter.record.config.alpha == 2.0
    assert adapter.record.task["ops"] == ["gaussian_blur", "motion_blur"]
    load_adapter(toy, DATA / "format1-colora.safetensors")
    with torch.no_grad():
        assert torch.allclose(toy(expected["input"]), expected["output"], atol=1e-6)


def test_wrong_base_model_is_refused_untouched(toy, make_adapter):
    path, _ = make_adapter("colora")
    other = copy.deepcopy(toy)
    with torch.no_grad():
        other.out.bias.add_(1e-3)
    before = model_fingerprint(other)
    with pytest.raises(AdapterError, match="different base model") as caught:
        load_adapter(other, path)
    assert "\n" not in str(caught.value)
    assert model_fingerprint(other) == before and not adapted_layers(other)


def _rewrite(path, target, metadata=None, tensors=None):
    """Copy of adapter `path` with some metadata or tensors replaced (canonical writer)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        raw = handle.metadata()
    save_tensors(target, tensors or load_file(str(path)), {**raw, **(metadata or {})})
    return target


def test_unusable_files_are_one_line_errors(toy, make_adapter, tmp_path):
    path, _ = make_adapter("colora")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:-100])
    cases = {
        tmp_path / "missing.safetensors": "no such adapter file",
        junk: "junk.safetensors: not a readable safetensors file",
        truncated: "truncated.safetensors: not a readable safetensors file, truncated",
        _rewrite(path, tmp_path / "newer.safetensors", {"version": "3"}):
            "format 3 comes from a newer colora-kit",
        _rewrite(path, tmp_path / "method.safetensors", {"method": "adalora"}):
            "unknown method 'adalora'",
        _rewrite(path, tmp_path / "plan.safetensors", {"plan": "{"}): "metadata is damaged",
        _rewrite(path, tmp_path / "config.safetensors", {"config": json.dumps({"rank": 3})}):
            "rank: method colora has no such option",
        _rewrite(path, tmp_path / "foreign.safetensors", {"format": "other"}):
            "not a colora-kit adapter",
        _rewrite(path, tmp_path / "prefix.safetensors",
                 tensors={"magnitude/intro": torch.ones(4)}): "'magnitude/intro' is not one",
    }
    for bad, message in cases.items():
        with pytest.raises(AdapterError, match=message) as caught:
            load_adapter(copy.deepcopy(toy), bad)
        assert "\n" not in str(caught.value) and bad.name in str(caught.value)


def test_tensor_that_does_not_fit_the_plan_is_refused_untouched(toy, make_adapter, tmp_path):
    from safetensors.torch import load_file

    path, _ = make_adapter("lora")
    tensors = load_file(str(path))
    key = sorted(k for k in tensors if k.startswith("lora_A/"))[0]
    tensors[key] = torch.zeros(tensors[key].shape[0] + 1, tensors[key].shape[1])
    bad = _rewrite(path, tmp_path / "shape.safetensors", tensors=tensors)
    model = copy.deepcopy(toy)
    with pytest.raises(AdapterError, match="has shape"):
        load_adapter(model, bad)
    assert not adapted_layers(model)
    del tensors[key]
    with pytest.raises(AdapterError, match="does not match the adapter's plan"):
        load_adapter(model, _rewrite(path, tmp_path / "missing-key.safetensors", tensors=tensors))


def test_header_is_canonical(make_adapter):
    path, _ = make_adapter("codora")
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    keys = [k for k in header if k != "__metadata__"]
    assert keys == sorted(keys)
    assert list(header["__metadata__"]) == sorted(header["__metadata__"])
