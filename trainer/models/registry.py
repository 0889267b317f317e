"""Model presets by name (timm-style): `create_model(name)` only looks the name up.

An architecture registers its frozen config dataclass, its builder and, when official weights
exist, its official checkpoint layout, once, in its own module; each preset is a name, an
architecture and a config. A model's `config` dict ({"arch": ..., fields...}) rebuilds it with
`model_from_config`; checkpoints store {"preset": name, "config": model.config}. What a built
model must provide is trainer.models.contract.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn


@dataclass(frozen=True)
class OfficialLayout:
    """How an architecture's officially released checkpoints differ from our modules:
    `to_native(state_dict)` and `to_official(state_dict)` convert keys and shapes both ways,
    `constructor(config dict) -> (official class name, its constructor arguments)`."""

    to_native: Callable[[dict], dict]
    to_official: Callable[[dict], dict]
    constructor: Callable[[dict], tuple[str, dict]]


@dataclass(frozen=True)
class Architecture:
    name: str
    config_class: type
    build: Callable[[Any], nn.Module]
    official: OfficialLayout | None = None


@dataclass(frozen=True)
class Preset:
    name: str
    arch: str
    config: Any
    description: str


_ARCHITECTURES: dict[str, Architecture] = {}
_PRESETS: dict[str, Preset] = {}


def register_architecture(name: str, config_class: type, build: Callable[[Any], nn.Module],
                          official: OfficialLayout | None = None) -> None:
    if name in _ARCHITECTURES:
        raise ValueError(f"architecture {name!r} is registered twice")
    _ARCHITECTURES[name] = Architecture(name, config_class, build, official)


def get_architecture(name: str) -> Architecture:
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown arch {name!r}; known: {', '.join(_ARCHITECTURES)}")
    return _ARCHITECTURES[name]


def register_preset(name: str, arch: str, config: Any, description: str) -> None:
    if name in _PRESETS:
        raise ValueError(f"model preset {name!r} is registered twice")
    if not isinstance(config, _ARCHITECTURES[arch].config_class):
        raise TypeError(f"preset {name!r}: config is not a {arch} config")
    _PRESETS[name] = Preset(name, arch, config, description)


def list_presets() -> list[str]:
    """Registered preset names, in registration order."""
    return list(_PRESETS)


def get_preset(name: str) -> Preset:
    if name not in _PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known: {', '.join(_PRESETS)}")
    return _PRESETS[name]


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build preset `name`, optionally overriding config fields (e.g. `width=16`)."""
    preset = get_preset(name)
    config = replace_config(preset.config, overrides, where=f"preset {name!r}")
    model = _ARCHITECTURES[preset.arch].build(config)
    model.preset = name
    return model


def model_from_config(config: dict) -> nn.Module:
    """Rebuild a model from its `model.config` dict (as stored in checkpoints)."""
    if not isinstance(config, dict) or "arch" not in config:
        raise ValueError("model config must be a dict with an 'arch' key")
    fields = dict(config)
    try:
        architecture = get_architecture(fields.pop("arch"))
    except ValueError as error:
        raise ValueError(f"model config: {error}") from None
    arch = architecture.name
    config_object = replace_config(architecture.config_class(), fields, where=f"{arch} config")
    model = architecture.build(config_object)
    model.preset = None
    return model


def replace_config(config: Any, overrides: dict, where: str) -> Any:
    """`dataclasses.replace` with a one-line ValueError naming an unknown field."""
    known = {field.name for field in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    return dataclasses.replace(config, **overrides)


def config_to_dict(arch: str, config: Any) -> dict:
    """Plain-JSON dict of a config: {"arch": arch, field: value}, tuples as lists."""
    fields = {key: list(value) if isinstance(value, tuple) else value
              for key, value in dataclasses.asdict(config).items()}
    return {"arch": arch, **fields}


def check_positive_ints(config: Any, names: tuple[str, ...], where: str) -> None:
    """ValueError naming the first of `names` that is not an int >= 1 on `config`."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
