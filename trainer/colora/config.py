"""AdapterConfig: the one schema describing how a model is adapted (method, budget, rank, scale)."""
from __future__ import annotations

from dataclasses import dataclass

METHODS = ("colora", "lora", "decoder", "full")


@dataclass(frozen=True)
class AdapterConfig:
    """How to adapt a pre-trained model to one task.

    method: colora (ranks and bias/norm tuning from FAIG contributions), lora (one rank for every
        conv/linear layer, no bias/norm), decoder (every parameter of the decoder blocks) or full.
    budget: share of the model's parameters to tune (colora; lora when rank is None).
    rank: lora only: the one rank, instead of the largest rank that fits the budget.
    alpha: LoRA scale numerator (delta = alpha / r * B A); None means alpha = r, a scale of 1, so
        layers of different ranks start from the same effective learning rate.
    seed: seeds the LoRA `A` initialisation.
    """

    method: str = "colora"
    budget: float = 0.07
    rank: int | None = None
    alpha: float | None = None
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method: {self.method!r} is not one of {', '.join(METHODS)}")
        if not 0.0 < self.budget <= 1.0:
            raise ValueError(f"budget: {self.budget} must be in (0, 1]")
        if self.rank is not None and (self.method != "lora" or self.rank < 1):
            raise ValueError(f"rank: {self.rank} applies to method lora only and must be >= 1")
        if self.alpha is not None and self.alpha <= 0:
            raise ValueError(f"alpha: {self.alpha} must be > 0")
