"""Which parameters a method tunes: per-layer LoRA ranks and the bias/norm tensors tuned in full.

CoLoRA gives layer i the rank r_i = min(cap_i, floor(lam * s_i)), s_i its FAIG contribution and
cap_i = max(1, floor(d_i k_i / (d_i + k_i))) <= min(d_i, k_i): the break-even rank, beyond which
the factors would cost more than the d_i x k_i weight itself (so delta_i = r_i (d_i + k_i) /
(d_i k_i) <= 1, the paper's ratio of learnable parameters, for every layer but rank-1 ones).
A bias or normalization vector of n_v values is a rank-1 item (cap 1) tuned in full when
floor(lam * (s_v / n_v) * D) >= 1, D being the median weight size d_i k_i: a vector competes by
its contribution per value, and one as dense as a typical conv weight is tuned at the lam where
that weight gets its first rank. (Competing by its total score, a vector of a few hundred
values never outbids a conv layer of tens of thousands, although the paper measures bias and
normalization as the largest contributors per parameter; the recorded score stays s_v.)
One scalar lam is chosen so that the total tuned count (LoRA factors
r_i * (d_i + k_i) plus tuned vectors) lands closest to the budget. Ranks are therefore monotone in
the contribution (s_i >= s_j implies r_i >= min(r_j, cap_i)) and zero for layers that do not
contribute.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

from trainer.adapters.layer import SUPPORTED, weight_matrix_shape
from trainer.adapters.plan import LOW_RANK, TUNED, AdapterPlan, LayerPlan

VECTOR_KINDS = ("bias", "norm")


def allocate_ranks(scores, unit_costs, caps, budget: float) -> np.ndarray:
    """Integer ranks r_i = min(caps_i, floor(lam * scores_i)) with sum r_i * unit_costs_i closest to
    budget. Items with equal thresholds move together, so equal scores get equal ranks."""
    scores, unit_costs, caps = (np.asarray(a, dtype=np.float64) for a in (scores, unit_costs, caps))
    if np.any(scores < 0) or not np.isfinite(scores).all():
        raise ValueError("scores: contributions must be finite and >= 0")
    item, lam = _rank_events(scores, caps.astype(np.int64))
    if lam.size == 0:
        raise ValueError("scores: every contribution is zero; nothing to allocate")
    order = np.argsort(lam, kind="stable")
    item, lam = item[order], lam[order]
    group_ends = np.flatnonzero(np.r_[lam[1:] != lam[:-1], True])
    totals = np.cumsum(unit_costs[item])[group_ends]
    chosen = _closest_prefix(totals, budget)
    if chosen < 0:
        return np.zeros(scores.size, dtype=np.int64)
    included = item[: group_ends[chosen] + 1]
    return np.bincount(included, minlength=scores.size).astype(np.int64)


def _rank_events(scores: np.ndarray, caps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(item, lam) for every rank step: item i gains its m-th rank once lam >= m / s_i."""
    live = np.flatnonzero((scores > 0) & (caps > 0))
    counts = caps[live]
    item = np.repeat(live, counts)
    step = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    return item, step / scores[item]


def _closest_prefix(totals: np.ndarray, budget: float) -> int:
    """Index of the cumulative total nearest the budget (-1: taking nothing is nearest)."""
    candidates = np.r_[0.0, totals]
    return int(np.argmin(np.abs(candidates - budget))) - 1


def lora_candidates(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every Conv2d/Linear module, by its name, in model order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SUPPORTED)]


def plan_by_contribution(model: nn.Module, scores: Mapping[str, float], budget: float,
                         kind_of: Callable, method: str, variant) -> AdapterPlan:
    """CoLoRA's allocation: ranks and tuned bias/norm vectors from per-parameter contributions
    `scores` (parameter name -> FAIG score, e.g. faig's layer scores averaged over tasks).
    The ranks depend on the scores and the budget alone; `variant` only counts what each layer
    costs at its rank (DoRA adds a magnitude per output)."""
    layers = lora_candidates(model)
    vectors = [(name, p) for name, p, kind in _named_kinds(model, kind_of) if kind in VECTOR_KINDS]
    shapes = [weight_matrix_shape(m.weight) for _, m in layers]
    item_scores = [_score(scores, f"{name}.weight") for name, _ in layers]
    vector_scores = [_score(scores, name) for name, _ in vectors]
    typical_weight = float(np.median([d * k for d, k in shapes])) if shapes else 1.0
    costs = [d + k for d, k in shapes] + [p.numel() for _, p in vectors]
    caps = [rank_cap(d, k) for d, k in shapes] + [1] * len(vectors)
    total = _parameter_count(model)
    bids = item_scores + [s / p.numel() * typical_weight for s, (_, p) in zip(vector_scores, vectors)]
    ranks = allocate_ranks(bids, costs, caps, budget * total)
    item_scores += vector_scores
    plans = [_lora_plan(name, int(r), shape, s, variant)
             for (name, _), r, shape, s in zip(layers, ranks, shapes, item_scores)]
    plans += [_tuned_plan(name, p, bool(r), s)
              for (name, p), r, s in zip(vectors, ranks[len(layers):], item_scores[len(layers):])]
    return AdapterPlan(method, tuple(plans), total, budget)


def plan_uniform(model: nn.Module, budget: float, rank: int | None, method: str,
                 variant) -> AdapterPlan:
    """One rank (capped per layer) for every conv/linear layer, bias/norm frozen; without
    `rank`, the rank whose total (as `variant` counts it) is closest to the budget."""
    layers = lora_candidates(model)
    shapes = [weight_matrix_shape(m.weight) for _, m in layers]
    total = _parameter_count(model)
    if rank is None:
        rank = _uniform_rank_for_budget(shapes, budget * total, variant)
    plans = [_lora_plan(name, min(rank, rank_cap(*shape)), shape, 0.0, variant)
             for (name, _), shape in zip(layers, shapes)]
    return AdapterPlan(method, tuple(plans), total, budget)


def rank_cap(d: int, k: int) -> int:
    """The largest rank worth giving a d x k weight: where r (d + k) reaches d k (at least 1)."""
    return max(1, (d * k) // (d + k))


def _uniform_rank_for_budget(shapes: list[tuple[int, int]], budget: float, variant) -> int:
    caps = [rank_cap(d, k) for d, k in shapes]
    totals = np.array([sum(variant.parameter_count(min(r, cap), d, k)
                           for (d, k), cap in zip(shapes, caps))
                       for r in range(1, max(caps) + 1)])
    return int(np.argmin(np.abs(totals - budget))) + 1


def plan_decoder(model: nn.Module) -> AdapterPlan:
    """Only-decoder: in full, every parameter first used after the last encoder/middle block in
    the forward pass: up-sampling layers, decoder blocks and the output layer."""
    owned = decoder_path_parameters(model)
    plans = [_tuned_plan(name, p, id(p) in owned, 0.0) for name, p in model.named_parameters()]
    return AdapterPlan("decoder", tuple(plans), _parameter_count(model), None)


def decoder_path_parameters(model: nn.Module) -> set[int]:
    """ids of the parameters whose module first runs after the last non-decoder block ends,
    found by tracing one small forward pass (the blocks list names no up-sampling layers)."""
    blocks = model.blocks()
    last_front = max((b.index for b in blocks if b.part in ("encoder", "middle")), default=None)
    if last_front is None:
        raise ValueError("decoder: the model has no encoder/middle blocks to split at")
    clock, first_run, front_end = [0], {}, {}

    def before(module, _inputs):
        clock[0] += 1
        first_run.setdefault(module, clock[0])

    def after(module, _inputs, _output):
        clock[0] += 1
        front_end[module] = clock[0]

    handles = [m.register_forward_pre_hook(before) for m in model.modules()]
    front = blocks[last_front].module
    handles.append(front.register_forward_hook(after))
    try:
        weight = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, _input_channels(model), 32, 32, device=weight.device,
                              dtype=weight.dtype))
    finally:
        for handle in handles:
            handle.remove()
    split = front_end[front]
    return {id(p) for m, t in first_run.items() if t > split for p in m.parameters(recurse=False)}


def _input_channels(model: nn.Module) -> int:
    config = getattr(model, "config", None) or {}
    return int(config.get("img_channels", config.get("inp_channels", 3)))


def plan_full(model: nn.Module) -> AdapterPlan:
    plans = [_tuned_plan(name, p, True, 0.0) for name, p in model.named_parameters()]
    return AdapterPlan("full", tuple(plans), _parameter_count(model), None)


def _lora_plan(name: str, rank: int, shape: tuple[int, int], score: float,
               variant) -> LayerPlan:
    d, k = shape
    params = variant.parameter_count(rank, d, k) if rank else 0
    return LayerPlan(name, LOW_RANK, rank, params, params / (d * k), float(score), d, k)


def _tuned_plan(name: str, param: nn.Parameter, tuned: bool, score: float) -> LayerPlan:
    n = param.numel()
    d = int(param.shape[0]) if param.dim() else 1
    return LayerPlan(name, TUNED, 0, n if tuned else 0, float(tuned), float(score), d, n // d)


def _score(scores: Mapping[str, float], name: str) -> float:
    if name not in scores:
        raise ValueError(f"scores: no contribution for parameter {name!r} (FAIG of another model?)")
    return float(scores[name])


def _named_kinds(model: nn.Module, kind_of: Callable):
    modules = dict(model.named_modules())
    for name, param in model.named_parameters():
        owner = modules[name.rpartition(".")[0]]
        yield name, param, kind_of(name, param, owner)


def _parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
