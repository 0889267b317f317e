"""LoRA layers: a frozen base Conv2d/Linear plus a low-rank weight delta (alpha / r) * B @ A.

Every layer kind factorises the weight *as stored* by torch, viewed as a d x k matrix with
d = out_features/out_channels and k = the rest (in_channels / groups * kh * kw for convolutions).
For dense convolutions this is the usual conv LoRA. For grouped and depthwise convolutions the
stored weight (C_out, C_in / g, kh, kw) already holds only the in-group connections, so a low-rank
delta of that (C_out, C_in/g*kh*kw) matrix keeps the group structure and merges exactly; for
NAFNet's 3x3 depthwise convs it is a (C, 9) matrix, i.e. every channel's kernel is a mix of r
shared 3x3 basis kernels. (Factorising the block-diagonal dense equivalent would break the group
structure and could not be merged; a separate factorisation per group costs more than the weight.)

The forward pass convolves with W0 + delta, so the cost is the base layer's plus one small matmul.
Merge and unmerge add and subtract the same `delta_weight()`.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

SUPPORTED = (nn.Conv2d, nn.Linear)


def weight_matrix_shape(weight: torch.Tensor) -> tuple[int, int]:
    """(d, k) of the matrix LoRA factorises: output units x everything else."""
    return int(weight.shape[0]), int(weight[0].numel())


def max_rank(module: nn.Module) -> int:
    """The largest useful rank of a layer's weight delta: min(d, k)."""
    return min(weight_matrix_shape(module.weight))


class LoRALayer(nn.Module):
    """Shared LoRA machinery; subclasses only say how to run the base op with a given weight."""

    def __init__(self, base_layer: nn.Module, rank: int, alpha: float | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        d, k = weight_matrix_shape(base_layer.weight)
        if not 1 <= rank <= min(d, k):
            raise ValueError(f"rank: {rank} must be in [1, {min(d, k)}] for a {d}x{k} weight")
        self.base_layer = base_layer
        self.rank = rank
        self.scaling = (rank if alpha is None else alpha) / rank
        weight = base_layer.weight
        self.lora_A = nn.Parameter(torch.empty(rank, k, dtype=weight.dtype, device=weight.device))
        # B = 0 makes the adapted layer equal to the base layer at step 0, bit for bit.
        self.lora_B = nn.Parameter(torch.zeros(d, rank, dtype=weight.dtype, device=weight.device))
        init_a = torch.empty(rank, k, dtype=torch.float32)
        nn.init.kaiming_uniform_(init_a, a=math.sqrt(5), generator=generator)
        with torch.no_grad():
            self.lora_A.copy_(init_a)
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """(alpha / r) * B @ A in the base weight's shape: the one formula merge and forward use."""
        delta = (self.lora_B @ self.lora_A) * self.scaling
        return delta.reshape(self.base_layer.weight.shape)

    def effective_weight(self) -> torch.Tensor:
        weight = self.base_layer.weight
        return weight if self.merged else weight + self.delta_weight()

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.base_layer.weight.add_(self.delta_weight())
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.base_layer.weight.sub_(self.delta_weight())
            self.merged = False

    def lora_parameter_count(self) -> int:
        return self.lora_A.numel() + self.lora_B.numel()

    def extra_repr(self) -> str:
        return f"rank={self.rank}, scaling={self.scaling:g}, merged={self.merged}"


class LoRAConv2d(LoRALayer):
    """Conv2d of any kernel size and group count (1x1, kxk, grouped, depthwise)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_layer._conv_forward(x, self.effective_weight(), self.base_layer.bias)


class LoRALinear(LoRALayer):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.base_layer.bias)


def wrap_layer(module: nn.Module, rank: int, alpha: float | None = None,
               generator: torch.Generator | None = None) -> LoRALayer:
    """The LoRA layer for a supported base layer; TypeError names an unsupported kind."""
    if isinstance(module, nn.Conv2d):
        return LoRAConv2d(module, rank, alpha, generator)
    if isinstance(module, nn.Linear):
        return LoRALinear(module, rank, alpha, generator)
    raise TypeError(f"LoRA supports Conv2d and Linear layers, not {type(module).__name__}")
