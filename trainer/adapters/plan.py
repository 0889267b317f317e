"""AdapterPlan: which tensors a method tunes on one model, and at what rank, before training."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

LOW_RANK, TUNED = "lora", "tuned"  # roles; "lora" is the name format-1 files use


@dataclass(frozen=True)
class LayerPlan:
    """One candidate of a plan. role: lora (name is a module whose weight gets low-rank factors)
    or tuned (name is a parameter tuned in full). params: tuned values this item costs."""

    name: str
    role: str
    rank: int
    params: int
    delta: float
    score: float
    d: int
    k: int


@dataclass(frozen=True)
class AdapterPlan:
    """The outcome of planning: every candidate with its rank, share and source score."""

    method: str
    layers: tuple[LayerPlan, ...]
    model_params: int
    budget: float | None

    @property
    def lora_ranks(self) -> dict[str, int]:
        return {p.name: p.rank for p in self.layers if p.role == LOW_RANK and p.rank > 0}

    @property
    def tuned_parameters(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.layers if p.role == TUNED and p.params > 0)

    @property
    def tuned_count(self) -> int:
        return sum(p.params for p in self.layers)

    def counts_by_role(self) -> dict[str, int]:
        return {role: sum(p.params for p in self.layers if p.role == role)
                for role in (LOW_RANK, TUNED)}

    def to_dict(self) -> dict:
        return {"method": self.method, "model_params": self.model_params, "budget": self.budget,
                "tuned_count": self.tuned_count, "layers": [asdict(p) for p in self.layers]}

    @classmethod
    def from_dict(cls, data: Mapping) -> "AdapterPlan":
        layers = tuple(LayerPlan(**p) for p in data["layers"])
        return cls(data["method"], layers, int(data["model_params"]), data.get("budget"))
