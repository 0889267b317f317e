"""Weights and training state on disk: safetensors for tensors, nothing ever unpickled.

A model file is a safetensors file whose metadata holds `format`, `preset` and `config` (the
JSON of `model.config`, enough to rebuild the architecture), plus whatever the caller adds
(values that are not strings are stored as JSON). A run folder stands for its weights:
`model.safetensors` (final) if present, else `best.safetensors`, else the newest checkpoint.

Training state (optimizer, scheduler, step, RNG states, data position) is a dict of tensors and
plain Python values written with `torch.save` and read back with `weights_only=True`, which
refuses anything but tensors and builtin containers.
"""
from __future__ import annotations

import io
import json
import random
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from torch import nn

from degrade.errors import KitError
from pipelines.files import write_bytes_atomically

MODEL_FORMAT = "colora-kit/model"
SUBSET_FORMAT = "colora-kit/trainable-subset"
FINAL_NAME = "model.safetensors"
BEST_NAME = "best.safetensors"
CHECKPOINT_DIR = "checkpoints"
_CHECKPOINT_RE = re.compile(r"^step-(\d{8,})\.state\.pt$")


class CheckpointError(KitError):
    """A model or checkpoint file that is missing, unreadable or not what it should be."""


# ---------------------------------------------------------------- model files

def _encode_metadata(metadata: dict[str, Any]) -> dict[str, str]:
    return {str(k): v if isinstance(v, str) else json.dumps(v, sort_keys=True)
            for k, v in metadata.items()}


_DTYPE_NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
                torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
                torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """The safetensors encoding with a canonical header (keys sorted, compact JSON).

    The safetensors library writes its header from a hash map whose order changes from one
    process to the next; sorting makes identical weights give identical bytes.
    """
    header: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))} if metadata else {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        if tensor.dtype not in _DTYPE_NAMES:
            raise CheckpointError(f"{name}: dtype {tensor.dtype} cannot be stored")
        blob = tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": _DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the format aligns the data start to 8 bytes
    return b"".join([struct.pack("<Q", len(encoded)), encoded, *blobs])


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor],
                 metadata: dict[str, Any]) -> Path:
    """Write `tensors` as a safetensors file atomically; metadata values become strings."""
    return write_bytes_atomically(path, safetensors_bytes(tensors, _encode_metadata(metadata)))


def model_metadata(model: nn.Module, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metadata a model file carries: format, preset and config, then the caller's keys."""
    config = dict(getattr(model, "config", None) or {})
    extra = dict(metadata or {})
    preset = extra.pop("preset", None) or getattr(model, "preset", None) or ""
    return {"format": MODEL_FORMAT, "preset": preset, "config": config, **extra}


def save_model(path: str | Path, model: nn.Module, metadata: dict[str, Any] | None = None) -> Path:
    """Save `model`'s state dict as safetensors with {"format", "preset", "config", ...}."""
    if getattr(model, "config", None) is None:
        raise CheckpointError(f"{path}: the model has no `config` to rebuild it from")
    return save_tensors(path, model.state_dict(), model_metadata(model, metadata))


def resolve_model_path(path: str | Path) -> Path:
    """A .safetensors file as given, or a run folder's final, best or newest checkpoint weights."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / FINAL_NAME, path / BEST_NAME):
            if candidate.is_file():
                return candidate
        latest = latest_checkpoint(path / CHECKPOINT_DIR)
        if latest is not None:
            return latest[1]
        raise CheckpointError(f"{path}: run folder holds no {FINAL_NAME}, {BEST_NAME} "
                              f"or checkpoint")
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file or run folder")
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The raw string metadata of a safetensors file (CheckpointError if it is not one)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as error:  # safetensors raises several types for corrupt headers
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from None


def read_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            return {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from None


def decode_metadata(raw: dict[str, str]) -> dict[str, Any]:
    """Metadata with JSON values decoded (plain strings stay strings)."""
    decoded = {}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value)
        except (json.JSONDecodeError, TypeError):
            decoded[key] = value
    return decoded


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the architecture from the file's config and load its weights (strictly).

    `path` is a .safetensors model file or a run folder (see `resolve_model_path`).
    Returns (model in eval mode on `device`, decoded metadata).
    """
    from trainer.models import model_from_config

    path = resolve_model_path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    metadata = decode_metadata(read_metadata(path))
    if metadata.get("format") != MODEL_FORMAT or not isinstance(metadata.get("config"), dict):
        kind = metadata.get("format")
        found = f"it is a {kind} file" if kind else "metadata has no model config"
        raise CheckpointError(f"{path}: not a colora-kit model file ({found}; an adapter, a "
                              f"training subset or a degradation estimator is not a model)")
    try:
        model = model_from_config(metadata["config"])
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from None
    load_weights(model, read_tensors(path), path, strict=True)
    model.preset = metadata.get("preset") or None
    return model.to(device).eval(), metadata


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], source: str | Path,
                 strict: bool = True) -> None:
    """Copy `tensors` into `model`; a missing, unexpected or mis-shaped key is a CheckpointError
    (with strict=False only keys present in `tensors` are required to exist in the model)."""
    own = model.state_dict()
    unexpected = sorted(set(tensors) - set(own))
    missing = sorted(set(own) - set(tensors)) if strict else []
    wrong = sorted(k for k in set(tensors) & set(own) if tensors[k].shape != own[k].shape)
    for label, keys in (("unexpected", unexpected), ("missing", missing), ("mis-shaped", wrong)):
        if keys:
            raise CheckpointError(f"{source}: {len(keys)} {label} weight(s) for this model, "
                                  f"e.g. {keys[0]!r}")
    model.load_state_dict(tensors, strict=strict)


# ---------------------------------------------------------------- training state

def rng_states() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) generator states as tensors and builtins only."""
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    states = {
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
        "numpy": {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": int(numpy_state["state"]["pos"]),
                  "has_gauss": int(numpy_state["has_gauss"]),
                  "gauss": float(numpy_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(int(v) for v in internal.tolist()), gauss))
    numpy_state = states["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": numpy_state["key"].numpy().astype(np.uint32),
                                   "pos": numpy_state["pos"]},
                         "has_gauss": numpy_state["has_gauss"], "gauss": numpy_state["gauss"]})
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def checkpoint_paths(folder: str | Path, step: int) -> tuple[Path, Path]:
    """(weights, state) file paths of the checkpoint at `step` inside `folder`."""
    folder = Path(folder)
    return folder / f"step-{step:08d}.safetensors", folder / f"step-{step:08d}.state.pt"


def save_checkpoint(folder: str | Path, step: int, tensors: dict[str, torch.Tensor],
                    metadata: dict[str, Any], state: dict[str, Any], keep: int = 1) -> Path:
    """Write weights, then the state file (its presence marks the checkpoint complete), then
    delete all but the newest `keep` checkpoints. Returns the state file path."""
    weights_path, state_path = checkpoint_paths(folder, step)
    save_tensors(weights_path, tensors, {**metadata, "step": step})
    try:
        # Serialised in memory first: torch.save reports a full disk as a RuntimeError
        # ("unexpected pos"), a file write as the OSError it is.
        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_bytes_atomically(state_path, buffer.getvalue())
    except BaseException:
        weights_path.unlink(missing_ok=True)  # the previous checkpoint stays the newest
        raise
    for old_step in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        for old in checkpoint_paths(folder, old_step):
            old.unlink(missing_ok=True)
    return state_path


def list_checkpoints(folder: str | Path) -> list[int]:
    """Steps of the complete checkpoints in `folder`, ascending."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    steps = [int(m.group(1)) for p in folder.iterdir() if (m := _CHECKPOINT_RE.match(p.name))]
    return sorted(s for s in steps if checkpoint_paths(folder, s)[0].is_file())


def latest_checkpoint(folder: str | Path) -> tuple[int, Path, Path] | None:
    """(step, weights path, state path) of the newest complete checkpoint, or None."""
    steps = list_checkpoints(folder)
    if not steps:
        return None
    return (steps[-1], *checkpoint_paths(folder, steps[-1]))


def load_train_state(path: str | Path) -> dict[str, Any]:
    """Read a training-state file without unpickling arbitrary objects."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path}: unreadable training state ({error})") from None
