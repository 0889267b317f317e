"""Several named adapters on one model (PEFT's vocabulary): add or load them, choose which run
and with what weights, delete them, or merge them back into a plain model.

    apply_plan(model, plan, config)        a new trainable adapter ("default"), the rest frozen
    set_adapters(model, ["a", "b"], [0.6, 0.4])     or a (B, 2) tensor: one row per image
    active_adapters(model) -> ("a", "b")
    delete_adapter(model, "a")
    merge_and_unload(model)                the active composition folded into a plain model

load_adapter (trainer.adapters.files) adds an adapter from a file. Layers are wrapped where an
adapter needs them (the union of every adapter's layers) and unwrapped when no adapter is left.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from degrade.errors import KitError
from trainer.adapters.layer import SUPPORTED, AdaptedLayer, AdapterSet
from trainer.adapters.levels import LEVEL_PREFIX, expand, level_slot, require_levels
from trainer.adapters.plan import AdapterPlan

DEFAULT_NAME = "default"
_SET_ATTR = "_colora_adapters"


class AdapterError(KitError):
    """An adapter that cannot be used as asked; the message is one line naming the file, the
    adapter or the option."""


@dataclass(frozen=True)
class AdapterRecord:
    """What a model knows about one of its adapters (and an adapter file stores).
    task: {"name", "ops", "level_range"} (the router of composed adapters reads it)."""

    name: str
    method: str
    config: object
    plan: AdapterPlan
    task: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


# ---------------------------------------------------------------- adding

def apply_plan(model: nn.Module, plan: AdapterPlan, config=None,
               name: str = DEFAULT_NAME) -> nn.Module:
    """Add a new trainable adapter following `plan` and make it the only active one: new
    low-rank B factors are zero and tuned tensors start at the base values, so outputs are
    unchanged; every other parameter is frozen."""
    if config is None:
        from trainer.adapters.configs import method_config
        config = method_config(plan.method)
    model.requires_grad_(False)
    add_adapter(model, AdapterRecord(name, plan.method, config, plan), trainable=True)
    set_adapters(model, [name])
    return model


def add_adapter(model: nn.Module, record: AdapterRecord, trainable: bool = False,
                values: Mapping[str, torch.Tensor] | None = None, source: str = "") -> None:
    """Add adapter `record.name` (not activated). values: the file's tensors (prefix/name) to
    copy in; checked against the plan before the model is touched (AdapterError names
    `source`)."""
    from trainer.adapters.registry import get_method

    if not record.name or "." in record.name or "@" in record.name:
        raise AdapterError(f"{source or 'adapter'}: adapter name {record.name!r} must be "
                           f"non-empty and without '.' or '@'")
    adapters = _adapter_set(model, create=True)
    if record.name in adapters.records:
        raise AdapterError(f"{source or 'adapter'}: an adapter named {record.name!r} is already "
                           f"loaded; pass another name")
    method = get_method(record.method)
    terms = {record.name: _build_slots(model, record, method.variant)}
    if method.levels:  # the level term: a second slot, its own initial factors
        terms[level_slot(record.name)] = _build_slots(model, record, method.variant, 1)
    if values is not None:
        for slot_name, slots in terms.items():
            _fill_slots(slots, _term_values(values, slot_name != record.name), source)
    for slot_name, slots in terms.items():
        for layer_name, (factors, tuned) in slots.items():
            _wrap(model, layer_name, adapters).add(slot_name, factors, tuned)
        for slot in _slot_parameters(slots):
            slot.requires_grad_(trainable)
    adapters.records[record.name] = record
    if method.levels and not adapters.level_hook:
        adapters.level_hook = model.register_forward_pre_hook(require_levels)


def _term_values(values: Mapping[str, torch.Tensor], level_term: bool) -> dict:
    """A file's tensors of one term: level/<key> for the level term, the rest otherwise."""
    prefix = LEVEL_PREFIX + "/"
    if level_term:
        return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}
    return {k: v for k, v in values.items() if not k.startswith(prefix)}


def _build_slots(model: nn.Module, record: AdapterRecord, variant, term: int = 0) -> dict:
    """{module name: (variant or None, {parameter: value})} for the record's plan, unattached;
    term: which term of a multi-term adapter (its own initial factors)."""
    modules = _modules_by_plain_name(model)
    slots: dict[str, list] = {}
    seed = int(getattr(record.config, "seed", 0))
    generator = torch.Generator().manual_seed(seed if term == 0 else seed + 7919 * term)
    alpha = getattr(record.config, "alpha", None)
    for name, rank in record.plan.lora_ranks.items():
        module = _base_module(modules, name, f"plan adapts layer {name!r}")
        if not isinstance(module, SUPPORTED) or variant is None:
            raise AdapterError(f"plan adapts {name!r}, which is not a conv/linear layer")
        slots.setdefault(name, [None, {}])[0] = variant(module.weight, rank, alpha, generator)
    for name in record.plan.tuned_parameters:
        owner_name, _, leaf = name.rpartition(".")
        module = _base_module(modules, owner_name, f"plan tunes {name!r}")
        param = module._parameters.get(leaf)
        if param is None or not owner_name:
            raise AdapterError(f"plan tunes {name!r}, which this model does not have")
        slots.setdefault(owner_name, [None, {}])[1][leaf] = nn.Parameter(param.detach().clone())
    return {name: tuple(value) for name, value in slots.items()}


def _fill_slots(slots: dict, values: Mapping[str, torch.Tensor], source: str) -> None:
    from trainer.adapters.registry import TUNED_PREFIX

    targets = {}
    for layer_name, (factors, tuned) in slots.items():
        for factor in getattr(factors, "factor_names", ()):
            targets[f"{factor}/{layer_name}"] = getattr(factors, factor)
        for leaf, param in tuned.items():
            targets[f"{TUNED_PREFIX}/{_join(layer_name, leaf)}"] = param
    if set(targets) != set(values):
        odd = sorted(set(targets) ^ set(values))[0]
        raise AdapterError(f"{source}: tensor {odd!r} does not match the adapter's plan")
    with torch.no_grad():
        for key, target in targets.items():
            if target.shape != values[key].shape:
                raise AdapterError(f"{source}: tensor {key!r} has shape "
                                   f"{tuple(values[key].shape)}, expected {tuple(target.shape)}")
            target.copy_(values[key])


def _slot_parameters(slots: dict):
    for factors, tuned in slots.values():
        if factors is not None:
            yield from factors.parameters()
        yield from tuned.values()


def _join(module: str, leaf: str) -> str:
    return f"{module}.{leaf}" if module else leaf


# ---------------------------------------------------------------- choosing

def set_adapters(model: nn.Module, names: str | Sequence[str], weights=None) -> None:
    """Run adapters `names` with `weights`: None (1 each), one number per adapter for the whole
    batch, or a (B, n) tensor/array with one row per image of the next batches."""
    adapters = _adapter_set(model)
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if name not in adapters.records:
            raise AdapterError(f"adapter {name!r} is not loaded (loaded: "
                               f"{', '.join(adapters.records) or 'none'})")
    if len(set(names)) != len(names):
        raise AdapterError(f"adapters: {', '.join(names)} names one adapter twice")
    _activate(adapters, names, _weight_tensor(weights, names))


def _activate(adapters: AdapterSet, names: Sequence[str], weights: torch.Tensor) -> None:
    slots, slot_weights, missing = expand(adapters, names, weights)
    adapters.activate(slots, slot_weights, (tuple(names), weights))
    adapters.missing_levels = missing


def reactivate(model: nn.Module) -> None:
    """Recompute the slots of the chosen adapters (after a level changed)."""
    adapters = _adapter_set(model)
    _activate(adapters, *adapters.chosen)


def _weight_tensor(weights, names: list[str]) -> torch.Tensor:
    if weights is None:
        return torch.ones(len(names))
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().cpu().double().numpy()
    values = np.asarray(weights, dtype=np.float64)
    if values.ndim not in (1, 2) or values.shape[-1] != len(names) or values.size == 0:
        raise AdapterError(f"weights: {_describe(values)} given for {len(names)} adapter(s) "
                           f"({', '.join(names)}); give one per adapter, or a row per image")
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        where = tuple(bad[0])
        raise AdapterError(f"weights: {values[where]} for adapter {names[where[-1]]!r} is not "
                           f"a finite number")
    return torch.from_numpy(values).float()


def _describe(values: np.ndarray) -> str:
    return f"{values.size} value(s)" if values.ndim <= 1 else f"a {'x'.join(map(str, values.shape))} array"


def active_adapters(model: nn.Module) -> tuple[str, ...]:
    """Names of the adapters that run, in order (empty for a plain model)."""
    adapters = getattr(model, _SET_ATTR, None)
    return adapters.chosen[0] if adapters else ()


def adapter_weights(model: nn.Module) -> torch.Tensor | None:
    """The active weights: (n,) for the batch or (B, n) per image; None for a plain model."""
    adapters = getattr(model, _SET_ATTR, None)
    return adapters.chosen[1].clone() if adapters else None


def adapter_records(model: nn.Module) -> dict[str, AdapterRecord]:
    """Every loaded adapter by name, in loading order."""
    adapters = getattr(model, _SET_ATTR, None)
    return dict(adapters.records) if adapters else {}


# ---------------------------------------------------------------- removing

def delete_adapter(model: nn.Module, name: str) -> None:
    """Remove adapter `name` (its factors, tuned values and record); layers that no adapter
    uses any more become plain again."""
    adapters = _adapter_set(model)
    if name not in adapters.records:
        raise AdapterError(f"adapter {name!r} is not loaded (loaded: {', '.join(adapters.records)})")
    for real, layer in _deepest_first(model):
        layer.remove(name)
        layer.remove(level_slot(name))
        if not layer.adapter_names():
            _set_module(model, real, layer.base_layer)
    del adapters.records[name]
    adapters.levels.pop(name, None)
    names, weights = adapters.chosen
    keep = [i for i, n in enumerate(names) if n != name]
    _activate(adapters, [names[i] for i in keep], weights[..., keep])
    if not adapters.records:
        _forget_adapters(model)


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Fold the active composition into the base layers and put the plain layers back, in
    place; the result has the original parameter names and every parameter trainable."""
    for real, layer in _deepest_first(model):
        layer.merge()
        _set_module(model, real, layer.base_layer)
    if hasattr(model, _SET_ATTR):
        _forget_adapters(model)
    model.requires_grad_(True)
    return model


# ---------------------------------------------------------------- looking

def adapted_layers(model: nn.Module) -> dict[str, AdaptedLayer]:
    """Adapted layers by the plain name of the module they wrap."""
    return {plain_name(n): m for n, m in model.named_modules() if isinstance(m, AdaptedLayer)}


def plain_name(name: str) -> str:
    """A name in the unwrapped model ('x.base_layer.bias' -> 'x.bias')."""
    return name.replace(".base_layer.", ".").replace(".base_layer", "")


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def model_fingerprint(model: nn.Module) -> str:
    """sha256 of the base weights (plain names, dtypes, shapes, bytes): identifies the model an
    adapter was trained on, whichever file or device it came from, with or without adapters."""
    skip = {id(p) for layer in adapted_layers(model).values()
            for p in [*layer.factors.parameters(), *layer.tuned.parameters()]}
    state = {plain_name(k): v for k, v in model.state_dict(keep_vars=True).items()
             if id(v) not in skip}
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- wrapping

def _adapter_set(model: nn.Module, create: bool = False) -> AdapterSet:
    adapters = getattr(model, _SET_ATTR, None)
    if adapters is None:
        if not create:
            raise AdapterError("the model carries no adapter; load one first")
        adapters = AdapterSet()
        object.__setattr__(model, _SET_ATTR, adapters)
    return adapters


def _forget_adapters(model: nn.Module) -> None:
    adapters = getattr(model, _SET_ATTR)
    if adapters.level_hook is not None:
        adapters.level_hook.remove()
    delattr(model, _SET_ATTR)


def _modules_by_plain_name(model: nn.Module) -> dict[str, tuple[str, nn.Module]]:
    """plain name -> (real name, module); a wrapped module is found as its AdaptedLayer."""
    found: dict[str, tuple[str, nn.Module]] = {}
    for real, module in model.named_modules():
        found.setdefault(plain_name(real), (real, module))
    return found


def _base_module(modules: dict, name: str, what: str) -> nn.Module:
    if name not in modules:
        raise AdapterError(f"{what}, which this model does not have")
    module = modules[name][1]
    return module.base_layer if isinstance(module, AdaptedLayer) else module


def _wrap(model: nn.Module, name: str, adapters: AdapterSet) -> AdaptedLayer:
    real, module = _modules_by_plain_name(model)[name]
    if isinstance(module, AdaptedLayer):
        return module
    layer = AdaptedLayer(module, adapters)
    _set_module(model, real, layer)
    return layer


def _set_module(model: nn.Module, real: str, new: nn.Module) -> None:
    parent, _, attr = real.rpartition(".")
    setattr(model.get_submodule(parent), attr, new)


def _deepest_first(model: nn.Module) -> list[tuple[str, AdaptedLayer]]:
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, AdaptedLayer)]
    return sorted(layers, key=lambda item: -item[0].count("."))
