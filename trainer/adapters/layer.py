"""Adapted layers: a frozen base module plus any number of named adapters, composed by weight.

An adapter changes some of a layer's own parameters: its weight through a low-rank *variant*
(LoRA's `(alpha / r) B A`; DoRA's magnitude and direction, in methods/dora.py) and any tensor
tuned in full (a bias, a norm vector, NAFNet's beta). With active adapters i and weights w_i the
layer runs with

    p = p0 + sum_i w_i * delta_i(p)        (delta of a tuned tensor: v_i - v0)

so one adapter at weight 1 is that adapter exactly. Weights are one per adapter for the batch,
or one row per image (B x n). Per-image weights give every image its own composed parameters:
  - conv and linear layers (the costly ones) compose B weights and run them in one call (a
    convolution of B x groups groups; a batched matmul): one pass over the batch, the base
    layer's cost whatever the number of adapters. (Using their linearity instead,
    f(x; p0) + sum_i w_bi f(x; delta_i), is just as exact but costs n + 1 passes.)
  - any other module (norm layers, blocks owning tuned scales) runs once per group of images
    with equal rows: nothing is assumed about how it uses its parameters, and it is cheap.
Either way an image gets what running it alone with its row as batch weights gives (to float
rounding), and the mechanism is general: one scalar per image per adapter. With batch weights
and autograd off (inference), the composed parameters are computed once and reused until a
parameter changes: the adapted model then costs what the merged one does.

Every weight is factorised *as stored* by torch, viewed as a d x k matrix with d = output units
and k = the rest (in_channels / groups * kh * kw for convolutions). For grouped and depthwise
convolutions the stored weight already holds only the in-group connections, so a low-rank delta
of that matrix keeps the group structure and merges exactly; for NAFNet's 3x3 depthwise convs it
is a (C, 9) matrix: every channel's kernel is a mix of r shared 3x3 basis kernels.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

SUPPORTED = (nn.Conv2d, nn.Linear)


def weight_matrix_shape(weight: torch.Tensor) -> tuple[int, int]:
    """(d, k) of the matrix a low-rank variant factorises: output units x everything else."""
    return int(weight.shape[0]), int(weight[0].numel())


def max_rank(module: nn.Module) -> int:
    """The largest useful rank of a layer's weight delta: min(d, k)."""
    return min(weight_matrix_shape(module.weight))


class LowRank(nn.Module):
    """LoRA's variant: delta = (alpha / r) * B @ A in the weight's shape, B = 0 at the start.

    A variant is one adapter's factors for one layer: `factor_names` (its tensors, also the
    prefixes of its adapter files), `parameter_count` (what planning charges for a rank) and
    `delta_weight(weight)` (the one formula forward, merge and composition use).
    """

    factor_names = ("lora_A", "lora_B")

    def __init__(self, weight: torch.Tensor, rank: int, alpha: float | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        d, k = weight_matrix_shape(weight)
        if not 1 <= rank <= min(d, k):
            raise ValueError(f"rank: {rank} must be in [1, {min(d, k)}] for a {d}x{k} weight")
        self.rank = rank
        self.scaling = (rank if alpha is None else alpha) / rank
        self.lora_A = nn.Parameter(torch.empty(rank, k, dtype=weight.dtype, device=weight.device))
        # B = 0 makes the adapted layer equal to the base layer at step 0, bit for bit.
        self.lora_B = nn.Parameter(torch.zeros(d, rank, dtype=weight.dtype, device=weight.device))
        init_a = torch.empty(rank, k, dtype=torch.float32)
        nn.init.kaiming_uniform_(init_a, a=math.sqrt(5), generator=generator)
        with torch.no_grad():
            self.lora_A.copy_(init_a)

    @staticmethod
    def parameter_count(rank: int, d: int, k: int) -> int:
        return rank * (d + k)

    def low_rank_delta(self, weight: torch.Tensor) -> torch.Tensor:
        return ((self.lora_B @ self.lora_A) * self.scaling).reshape(weight.shape)

    def delta_weight(self, weight: torch.Tensor) -> torch.Tensor:
        return self.low_rank_delta(weight)

    def extra_repr(self) -> str:
        return f"rank={self.rank}, scaling={self.scaling:g}"


class AdapterSet:
    """What a model carries: adapter records by name, the active slot names and their weights
    (float32, shape (n,) for the batch or (B, n) per image). Shared by all adapted layers of
    one model; trainer.adapters.model manages it.

    Layers run *slots*: an adapter is one slot, a level-conditioned one two (its constant term
    at weight w and its level term at w * c, trainer.adapters.levels); `chosen` keeps the names
    and weights the user set, `levels` each level adapter's c (a number or one per image)."""

    def __init__(self):
        self.records: dict = {}
        self.active: tuple[str, ...] = ()
        self.weights = torch.ones(0)
        self.shared: tuple[float, ...] = ()  # the batch weights as Python floats
        self.chosen: tuple[tuple[str, ...], torch.Tensor] = ((), torch.ones(0))
        self.levels: dict[str, torch.Tensor] = {}
        self.missing_levels: tuple[str, ...] = ()
        self.level_hook = None
        self._by_device: dict = {}

    @property
    def per_image(self) -> bool:
        return self.weights.dim() == 2

    def activate(self, names: Sequence[str], weights: torch.Tensor, chosen=None) -> None:
        """Run slots `names` with `weights`; chosen: the user's (names, weights) when they differ."""
        self.active, self.weights = tuple(names), weights
        self.chosen = chosen if chosen is not None else (self.active, weights)
        self.shared = () if weights.dim() == 2 else tuple(float(w) for w in weights)
        self._by_device = {}

    def weights_on(self, device: torch.device) -> torch.Tensor:
        if device not in self._by_device:
            self._by_device[device] = self.weights.to(device)
        return self._by_device[device]

    @contextmanager
    def rows(self, index: torch.Tensor):
        """Per-image weights restricted to the images `index` while a group runs (adapted
        layers inside a grouped module then see the group's rows)."""
        saved = self.weights, self._by_device
        self.weights, self._by_device = self.weights[index.cpu()], {}
        try:
            yield
        finally:
            self.weights, self._by_device = saved


class AdaptedLayer(nn.Module):
    """A base module (kept as `base_layer`) with named adapters: `factors[name]` a variant for
    the base weight, `tuned[name]` the full values of tuned parameters of the base module."""

    def __init__(self, base_layer: nn.Module, adapters: AdapterSet):
        super().__init__()
        self.base_layer = base_layer
        self.factors = nn.ModuleDict()
        self.tuned = nn.ModuleDict()
        self.adapter_set = adapters
        self._merged: dict[str, torch.Tensor] | None = None
        self._cache: dict = {}
        self._cache_stamp = None
        self._params: list | None = None  # own parameters, for the cache's stamp

    def adapter_names(self) -> set[str]:
        return set(self.factors) | set(self.tuned)

    def add(self, name: str, factors: nn.Module | None, tuned: dict[str, nn.Parameter]) -> None:
        """Attach adapter `name`: a variant for the weight and/or tuned parameter values."""
        if factors is not None:
            self.factors[name] = factors
        if tuned:
            self.tuned[name] = nn.ParameterDict(tuned)
        self._cache, self._params = {}, None

    def remove(self, name: str) -> None:
        for slots in (self.factors, self.tuned):
            if name in slots:
                del slots[name]
        self._cache, self._params = {}, None

    def base_parameter(self, name: str) -> torch.Tensor:
        return self.base_layer._parameters[name]

    def delta(self, name: str) -> dict[str, torch.Tensor]:
        """Adapter `name`'s change of each parameter it touches."""
        out = {}
        if name in self.factors:
            out["weight"] = self.factors[name].delta_weight(self.base_layer.weight)
        if name in self.tuned:
            for param, value in self.tuned[name].items():
                out[param] = value - self.base_parameter(param)
        return out

    def composed(self, names: Sequence[str], weights: Sequence[float]) -> dict[str, torch.Tensor]:
        """p0 + sum_i w_i delta_i for every parameter an active adapter touches; one adapter at
        weight 1 gives its own tuned values exactly."""
        if len(names) == 1 and weights[0] == 1.0:
            return self._own_values(names[0])
        total: dict[str, torch.Tensor] = {}
        for name, weight in zip(names, weights):
            for param, change in self.delta(name).items():
                total[param] = total[param] + weight * change if param in total else weight * change
        return {param: self.base_parameter(param) + change for param, change in total.items()}

    def _own_values(self, name: str) -> dict[str, torch.Tensor]:
        values = dict(self.tuned[name].items()) if name in self.tuned else {}
        if name in self.factors:
            weight = self.base_layer.weight
            values["weight"] = weight + self.factors[name].delta_weight(weight)
        return values

    # ------------------------------------------------------------ forward

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        adapters = self.adapter_set
        factors, tuned = self.factors._modules, self.tuned._modules
        present = [i for i, name in enumerate(adapters.active) if name in factors or name in tuned]
        if self._merged is not None or not present:
            return self.base_layer(x, *args, **kwargs)
        names = [adapters.active[i] for i in present]
        if adapters.per_image:
            rows = adapters.weights_on(x.device)[:, present]
            if isinstance(self.base_layer, SUPPORTED):
                return self._matrix_per_image(x, names, rows)
            return self._grouped_per_image(x, names, rows, args, kwargs)
        weights = [adapters.shared[i] for i in present]
        params = self._cached(("composed", tuple(names), tuple(weights)),
                              lambda: self.composed(names, weights))
        return self._run(params, x, args, kwargs)

    def _run(self, params: dict, x: torch.Tensor, args=(), kwargs=None) -> torch.Tensor:
        base = self.base_layer
        if isinstance(base, nn.Conv2d):
            return base._conv_forward(x, params.get("weight", base.weight),
                                      params.get("bias", base.bias))
        if isinstance(base, nn.Linear):
            return F.linear(x, params.get("weight", base.weight), params.get("bias", base.bias))
        # Some of the module's own parameters replaced by tensors (autograd flows to them).
        saved = {name: base._parameters[name] for name in params}
        base._parameters.update(params)
        try:
            return base(x, *args, **(kwargs or {}))
        finally:
            base._parameters.update(saved)

    def _matrix_per_image(self, x: torch.Tensor, names, rows: torch.Tensor) -> torch.Tensor:
        """Conv/linear with each image's own composed weight and bias, in one call."""
        if x.shape[0] != rows.shape[0]:
            raise ValueError(f"per-image weights: {rows.shape[0]} rows, but a layer sees a "
                             f"batch of {x.shape[0]}")
        if bool((rows == rows[:1]).all()):  # one composition serves all (a group's images)
            return self._run(self.composed(names, rows[0].tolist()), x)
        params = self._per_image_parameters(names, rows)
        base = self.base_layer
        bias = params.get("bias", base.bias)
        if "weight" not in params:  # only the biases differ: the shared pass, then each bias
            return self._add_bias(self._run({"bias": None}, x), bias)
        if isinstance(base, nn.Conv2d):
            return self._conv_per_image(x, params["weight"], bias)
        return self._add_bias(torch.einsum("b...i,boi->b...o", x, params["weight"]), bias)

    def _add_bias(self, out: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """out + bias, the bias (C,) or one per image (B, C), on the channel axis (conv: 1,
        linear: last)."""
        if bias is None:
            return out
        rows = bias.shape[0] if bias.dim() == 2 else 1
        if isinstance(self.base_layer, nn.Conv2d):
            return out + bias.reshape(rows, -1, *([1] * (out.dim() - 2)))
        return out + bias.reshape(rows, *([1] * (out.dim() - 2)), -1)

    def _per_image_parameters(self, names, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """{parameter: (B, *shape)} = p0 + sum_i w_bi delta_i for the parameters adapters touch."""
        total: dict[str, torch.Tensor] = {}
        for column, name in enumerate(names):
            change = self._cached(("delta", name), lambda name=name: self.delta(name))
            for param, value in change.items():
                term = rows[:, column].to(value.dtype).view(-1, *([1] * value.dim())) * value
                total[param] = total[param] + term if param in total else term
        return {param: self.base_parameter(param) + change for param, change in total.items()}

    def _conv_per_image(self, x: torch.Tensor, weight: torch.Tensor, bias) -> torch.Tensor:
        """B images with B weights as one convolution of B * groups groups."""
        base, batch = self.base_layer, x.shape[0]
        padding = base.padding
        if base.padding_mode != "zeros":
            x = F.pad(x, base._reversed_padding_repeated_twice, mode=base.padding_mode)
            padding = 0
        if bias is not None:
            bias = (bias if bias.dim() == 2 else bias.expand(batch, -1)).reshape(-1)
        out = F.conv2d(x.reshape(1, -1, *x.shape[2:]), weight.reshape(-1, *weight.shape[2:]),
                       bias, base.stride, padding, base.dilation, base.groups * batch)
        return out.view(batch, -1, *out.shape[2:])

    def _grouped_per_image(self, x, names, rows: torch.Tensor, args, kwargs) -> torch.Tensor:
        unique, inverse = torch.unique(rows, dim=0, return_inverse=True)
        out = None
        for group in range(unique.shape[0]):
            index = (inverse == group).nonzero().flatten()
            with self.adapter_set.rows(index):
                part = self._run(self.composed(names, unique[group].tolist()), x[index],
                                 args, kwargs)
            if out is None:
                out = part.new_empty((x.shape[0], *part.shape[1:]))
            out[index] = part
        return out

    def _cached(self, key, compute):
        """compute(), reused while no parameter of this layer changes (inference only)."""
        if torch.is_grad_enabled():
            return compute()
        if self._params is None:
            self._params = [p for p in self._own_parameters() if p is not None]
        stamp = [(p.data_ptr(), p._version) for p in self._params]
        if stamp != self._cache_stamp:
            self._cache, self._cache_stamp = {}, stamp
        if key not in self._cache:
            if key[0] == "composed":  # one composition kept: weights may change every batch
                self._cache = {k: v for k, v in self._cache.items() if k[0] != "composed"}
            self._cache[key] = compute()
        return self._cache[key]

    def _own_parameters(self):
        yield from self.base_layer._parameters.values()
        for slots in (self.factors, self.tuned):
            for slot in slots._modules.values():
                yield from slot._parameters.values()

    # ------------------------------------------------------------ merge

    @torch.no_grad()
    def merge(self) -> None:
        """Write the active batch composition into the base parameters (unmerge restores)."""
        if self._merged is not None:
            return
        adapters = self.adapter_set
        if adapters.per_image:
            raise ValueError("merge: per-image weights cannot be merged; set one weight per adapter")
        mine = self.adapter_names()
        active = [(n, w) for n, w in zip(adapters.active, adapters.shared) if n in mine]
        values = self.composed([n for n, _ in active], [w for _, w in active]) if active else {}
        self._merged = {p: self.base_parameter(p).detach().clone() for p in values}
        for param, value in values.items():
            self.base_parameter(param).copy_(value)

    @torch.no_grad()
    def unmerge(self) -> None:
        if self._merged is None:
            return
        for param, original in self._merged.items():
            self.base_parameter(param).copy_(original)
        self._merged = None

    def extra_repr(self) -> str:
        return f"adapters={sorted(self.adapter_names())}, merged={self._merged is not None}"

