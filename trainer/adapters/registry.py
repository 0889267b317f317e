"""The registry of adaptation methods: the one place that knows which methods exist.

A method is registered once, by the module named for it in METHOD_MODULES, with a `Method`: its
config dataclass, its planner (which tensors it tunes and at what rank), its layer variant (how
a low-rank factorisation becomes a weight change; None when it tunes tensors in full only) and
its label. The file's tensor prefixes follow from the variant. The CLI choices, the adapter file
reader, `trainer colora --dry-run` and the studies all read this registry.

Adding a method is a new module under trainer/adapters/methods/ that calls `register_method`,
plus its line in METHOD_MODULES (the table is plain data, so `--help` lists the methods without
importing torch).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

# name -> module that registers it. Order is the order of --dry-run rows and of help texts.
METHOD_MODULES: dict[str, str] = {
    "decoder": "trainer.adapters.methods.builtin",
    "lora": "trainer.adapters.methods.builtin",
    "colora": "trainer.adapters.methods.builtin",
    "dora": "trainer.adapters.methods.dora",
    "codora": "trainer.adapters.methods.dora",
    "full": "trainer.adapters.methods.builtin",
    "levels": "trainer.adapters.methods.levels",
    "levels-full": "trainer.adapters.methods.levels",
}
# Methods that describe files made otherwise (`trainer merge --as-adapter`), never trained.
FILE_ONLY_MODULES: dict[str, str] = {"composed": "trainer.adapters.methods.builtin"}
TUNED_PREFIX = "tuned"  # tensors tuned in full, stored under tuned/<parameter name>
LEVEL_PREFIX = "level"  # a level adapter's level term: level/<prefix>/<name>
_METHODS: dict[str, "Method"] = {}


@dataclass(frozen=True)
class Method:
    """One adaptation method.

    plan: (model, config, scores, kind_of) -> AdapterPlan; scores are FAIG contributions
        (parameter name -> score), required when needs_scores.
    variant: the layer variant class of its low-rank layers (trainer.adapters.layer), or None.
    levels: level-conditioned (trainer.adapters.levels): every tensor it changes has a
        constant term and a level term scaled by the degradation level c.
    """

    name: str
    label: str
    config: type
    plan: Callable
    variant: type | None
    needs_scores: bool = False
    summary: str = ""
    levels: bool = False

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Tensor name prefixes of this method's adapter files (prefix/<module or parameter>;
        a level term's tensors are level/<prefix>/<name>)."""
        factors = tuple(self.variant.factor_names) if self.variant is not None else ()
        return factors + (TUNED_PREFIX,) + ((LEVEL_PREFIX,) if self.levels else ())


def register_method(method: Method) -> Method:
    """Called once by the module METHOD_MODULES names for `method.name`."""
    if _module_of(method.name) is None:
        raise ValueError(f"method {method.name!r}: add it to METHOD_MODULES in {__name__}")
    _METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method `name`; ValueError naming the known ones."""
    module = _module_of(name)
    if module is None:
        raise ValueError(f"method: unknown method {name!r}; known: {', '.join(METHOD_MODULES)}")
    if name not in _METHODS:
        importlib.import_module(module)
    return _METHODS[name]


def _module_of(name: str) -> str | None:
    return METHOD_MODULES.get(name) or FILE_ONLY_MODULES.get(name)


def method_names() -> list[str]:
    """The trainable methods' names in table order (light: reads the table only)."""
    return list(METHOD_MODULES)


def all_methods() -> list[Method]:
    """Every trainable method, registered on first use."""
    return [get_method(name) for name in METHOD_MODULES]
