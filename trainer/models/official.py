"""Loading the official released NAFNet and Restormer checkpoints.

Official files are PyTorch pickles holding {"params": state_dict} (BasicSR style; sometimes
"params_ema", "state_dict" or a bare state dict), possibly with DataParallel's "module."
prefixes. They are read with `torch.load(weights_only=True)` only. Each architecture registers
its own key and shape differences with it (trainer.models.registry.OfficialLayout, in the
model's module); this module holds no table of architectures:

    nafnet:    beta, gamma            (1, C, 1, 1) -> (C,)
    restormer: normN.body.{weight,bias} -> normN.{weight,bias};
               attn.temperature       (heads, 1, 1) -> (heads,)
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from degrade.errors import KitError
from trainer.models.registry import (OfficialLayout, create_model, get_architecture, get_preset,
                                     list_presets)

_WRAPPER_KEYS = ("params", "params_ema", "state_dict", "model")


class OfficialWeightsError(KitError, ValueError):
    """An official checkpoint does not fit the model (missing/unexpected keys, shapes)."""


def unwrap_state_dict(checkpoint: dict, key: str | None = None) -> dict[str, torch.Tensor]:
    """The state dict inside an official checkpoint: `checkpoint[key]` if given, else the
    first of "params", "params_ema", "state_dict", "model" present, else `checkpoint` itself.
    A "module." prefix on every key (DataParallel) is removed."""
    if key is not None:
        if key not in checkpoint:
            raise OfficialWeightsError(f"checkpoint has no {key!r} entry; it has: "
                                       f"{', '.join(map(str, list(checkpoint)[:8]))}")
        state_dict = checkpoint[key]
    else:
        wrapper = next((k for k in _WRAPPER_KEYS if isinstance(checkpoint.get(k), dict)), None)
        state_dict = checkpoint[wrapper] if wrapper else checkpoint
    if not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise OfficialWeightsError("checkpoint does not hold a state dict of tensors")
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def read_official_checkpoint(path: str | Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """Read an official .pth file safely (weights_only) and return its state dict."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a bad or unsafe file
        raise OfficialWeightsError(f"{path}: cannot be read as a weights-only checkpoint "
                                   f"({type(error).__name__}: {str(error).splitlines()[0]})")
    if not isinstance(checkpoint, dict):
        raise OfficialWeightsError(f"{path}: holds a {type(checkpoint).__name__}, not a dict")
    try:
        return unwrap_state_dict(checkpoint, key)
    except OfficialWeightsError as error:
        raise OfficialWeightsError(f"{path}: {error}") from None


def remap_official_keys(arch: str, state_dict: dict) -> dict[str, torch.Tensor]:
    """An official state dict of architecture `arch` in this package's layout."""
    return official_layout(arch).to_native(state_dict)


def to_official_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """`model`'s state dict in the official layout (what the official code would load)."""
    return official_layout(model.config["arch"]).to_official(model.state_dict())


def official_constructor(model: nn.Module) -> dict:
    """BasicSR's `network_g` entry for `model`: {"type": official class, its arguments...}
    (ValueError when the official code cannot express the model)."""
    name, arguments = official_layout(model.config["arch"]).constructor(model.config)
    return {"type": name, **arguments}


def save_official_checkpoint(model: nn.Module, path: str | Path) -> dict:
    """Write `model` as the official code's checkpoint: {"params": official state dict,
    "network_g": official_constructor(model)}; `torch.load` it and pass "params" to
    `load_state_dict` of the class built from "network_g". Returns network_g."""
    from pipelines.files import atomic_path

    network = official_constructor(model)
    tensors = {k: v.detach().cpu().contiguous() for k, v in to_official_state_dict(model).items()}
    with atomic_path(path) as temporary:
        torch.save({"params": tensors, "network_g": network}, temporary)
    return network


def load_official_state_dict(model: nn.Module, checkpoint: dict, key: str | None = None) -> nn.Module:
    """Load an official checkpoint dict (wrapped or bare) into `model`, strictly: every key
    must be present with the right shape. Returns `model`."""
    native = remap_official_keys(model.config["arch"], unwrap_state_dict(checkpoint, key))
    check_state_dict_fits(model, native)
    model.load_state_dict(native, strict=True)
    return model


def load_official_weights(model: nn.Module, path: str | Path, key: str | None = None) -> nn.Module:
    """Read an official .pth file and load it into `model` (see `load_official_state_dict`)."""
    state_dict = read_official_checkpoint(path, key)
    try:
        return load_official_state_dict(model, state_dict)
    except OfficialWeightsError as error:
        raise OfficialWeightsError(f"{path}: {error}") from None


def find_matching_presets(state_dict: dict) -> list[str]:
    """Registered presets whose official layout has exactly these keys and shapes."""
    given = {k: tuple(v.shape) for k, v in state_dict.items()}
    matches = []
    for name in list_presets():
        if get_architecture(get_preset(name).arch).official is None:
            continue
        with torch.device("meta"):
            model = create_model(name)
        expected = {k: tuple(v.shape) for k, v in to_official_state_dict(model).items()}
        if expected == given:
            matches.append(name)
    return matches


def check_state_dict_fits(model: nn.Module, state_dict: dict) -> None:
    """Raise OfficialWeightsError naming the first missing, unexpected or mis-shaped keys."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state_dict.items()}
    problems = []
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    if missing:
        problems.append(f"{len(missing)} missing key(s) ({_first(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s) ({_first(unexpected)})")
    wrong = [f"{k} {list(given[k])} != {list(expected[k])}"
             for k in expected if k in given and given[k] != expected[k]]
    if wrong:
        problems.append(f"{len(wrong)} shape mismatch(es) ({_first(wrong)})")
    if problems:
        preset = getattr(model, "preset", None) or model.config["arch"]
        raise OfficialWeightsError(f"weights do not fit {preset}: " + "; ".join(problems))


def _first(items: list[str], count: int = 3) -> str:
    return ", ".join(items[:count]) + (", ..." if len(items) > count else "")


def official_layout(arch: str) -> OfficialLayout:
    """The official checkpoint layout architecture `arch` registered (OfficialWeightsError if
    it registered none)."""
    try:
        layout = get_architecture(arch).official
    except ValueError as error:
        raise OfficialWeightsError(str(error)) from None
    if layout is None:
        raise OfficialWeightsError(f"no official checkpoint layout known for arch {arch!r}")
    return layout
