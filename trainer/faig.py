"""FAIG (filter attribution integrated gradients): how much each filter, layer, block and
parameter kind contributes to turning a base model into a task's target model.

For every weight element, with rho(beta) = beta * theta_base + (1 - beta) * theta_target (the path
of Xie et al.'s reference code, from the target towards the base) and L the restoration loss on
the task images (mean over all images):

    faig = | (theta_base - theta_target) * (1/M) * sum_{t=0}^{M-1} dL/dtheta (rho(t/M)) |

The absolute value is taken per element after integration; scores are then summed per filter
(output unit), per parameter tensor, per block and per parameter kind. The scores are pure
functions of (base, target, batches); the one file written here is plot_block_scores' chart.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn


Batch = tuple[torch.Tensor, torch.Tensor]
KINDS = ("conv", "norm", "bias", "other")


def elementwise_faig(base: nn.Module, target: nn.Module, batches: Sequence[Batch],
                     steps: int = 100, loss_fn: Callable | None = None,
                     progress: bool = False) -> dict[str, torch.Tensor]:
    """Per-element FAIG of every parameter of `base` (same architecture as `target`).

    batches: (lq, gt) float tensors Bx3xHxW in [0, 1]; the loss is their image-weighted mean,
    so how the images are split into batches does not change the result.
    """
    if steps < 1:
        raise ValueError(f"steps: {steps} must be >= 1")
    batches = list(batches)
    if not batches:
        raise ValueError("batches: FAIG needs at least one (lq, gt) batch")
    loss_fn = loss_fn or _default_loss()
    base_params, target_params = _matching_parameters(base, target)
    work = copy.deepcopy(base).eval().requires_grad_(True)
    device = next(work.parameters()).device
    batches = [(lq.to(device), gt.to(device)) for lq, gt in batches]
    total_images = sum(int(lq.shape[0]) for lq, _ in batches)
    for t in _steps_iter(steps, progress):
        _interpolate(work, base_params, target_params, t / steps)
        for lq, gt in batches:
            (loss_fn(work(lq), gt) * (lq.shape[0] / total_images)).backward()
    return {name: _attribution(base_params[name], target_params[name], param.grad, steps)
            for name, param in work.named_parameters()}


def _default_loss() -> Callable:
    from trainer.loop import psnr_loss
    return psnr_loss


def _matching_parameters(base: nn.Module, target: nn.Module):
    base_params = {n: p.detach().clone() for n, p in base.named_parameters()}
    target_params = {n: p.detach().to(base_params[n].device) if n in base_params else p
                     for n, p in target.named_parameters()}
    if base_params.keys() != target_params.keys():
        odd = sorted(base_params.keys() ^ target_params.keys())[0]
        raise ValueError(f"target: parameter {odd!r} is not in both models (different architectures?)")
    for name, value in base_params.items():
        if value.shape != target_params[name].shape:
            raise ValueError(f"target: parameter {name!r} has shape "
                             f"{tuple(target_params[name].shape)}, base {tuple(value.shape)}")
    return base_params, target_params


@torch.no_grad()
def _interpolate(work: nn.Module, base_params: Mapping, target_params: Mapping, beta: float):
    for name, param in work.named_parameters():
        param.copy_(beta * base_params[name] + (1.0 - beta) * target_params[name])


def _attribution(base_value, target_value, grad_sum, steps: int) -> torch.Tensor:
    if grad_sum is None:  # a parameter the forward pass never uses
        return torch.zeros_like(base_value)
    return ((base_value - target_value) * grad_sum / steps).abs()


def _steps_iter(steps: int, progress: bool) -> Iterable[int]:
    from tqdm import tqdm
    return tqdm(range(steps), desc="faig", unit="step", disable=not progress)


def filter_scores(elementwise: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Score per filter (output unit, dim 0) of each tensor; scalars count as one filter."""
    return {n: v.reshape(v.shape[0] if v.dim() else 1, -1).sum(dim=1)
            for n, v in elementwise.items()}


def layer_scores(elementwise: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Score per parameter tensor: the sum over its filters."""
    return {n: float(v.double().sum()) for n, v in elementwise.items()}


def faig_scores(base: nn.Module, target: nn.Module, batches: Sequence[Batch], steps: int = 100,
                loss_fn: Callable | None = None, progress: bool = False) -> dict[str, float]:
    """Parameter name -> FAIG score (what CoLoRA's allocation consumes)."""
    return layer_scores(elementwise_faig(base, target, batches, steps, loss_fn, progress))


def average_scores(per_task: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The mean over tasks of each parameter's score (the paper averages, e.g., blur and rain)."""
    if not per_task:
        raise ValueError("per_task: no task scores to average")
    tables = list(per_task.values())
    return {name: sum(t[name] for t in tables) / len(tables) for name in tables[0]}


def summarize(model: nn.Module, scores: Mapping[str, float],
              kind_of: Callable | None = None) -> dict:
    """Group parameter scores by block (model.blocks() order) and by parameter kind.

    Returns {"blocks": [{index, name, part, score, kinds: {kind: score}}], "kinds": {kind:
    {score, params, per_param}}, "outside_blocks": score, "total": score}.
    """
    if kind_of is None:
        from trainer.models import param_kind as kind_of
    owner = _block_of_parameter(model)
    modules = dict(model.named_modules())
    blocks = [{"index": b.index, "name": b.name, "part": b.part, "score": 0.0,
               "kinds": dict.fromkeys(KINDS, 0.0)} for b in model.blocks()]
    kinds = {k: {"score": 0.0, "params": 0} for k in KINDS}
    outside = 0.0
    for name, param in model.named_parameters():
        kind = kind_of(name, param, modules[name.rpartition(".")[0]])
        score = float(scores[name])
        kinds[kind]["score"] += score
        kinds[kind]["params"] += param.numel()
        block = owner.get(name)
        if block is None:
            outside += score
        else:
            blocks[block]["score"] += score
            blocks[block]["kinds"][kind] += score
    for entry in kinds.values():
        entry["per_param"] = entry["score"] / entry["params"] if entry["params"] else 0.0
    return {"blocks": blocks, "kinds": kinds, "outside_blocks": outside,
            "total": sum(float(scores[n]) for n, _ in model.named_parameters())}


def _block_of_parameter(model: nn.Module) -> dict[str, int]:
    by_id = {id(p): b.index for b in model.blocks() for p in b.module.parameters()}
    return {n: by_id[id(p)] for n, p in model.named_parameters() if id(p) in by_id}


def faig_report(model: nn.Module, per_task: Mapping[str, Mapping[str, float]], steps: int,
                kind_of: Callable | None = None) -> dict:
    """The JSON document `trainer faig` writes: per task and averaged, per block and per kind,
    plus every parameter's scores (what `trainer colora --faig` reads back)."""
    average = average_scores(per_task)
    return {
        "steps": steps,
        "tasks": {task: summarize(model, s, kind_of) for task, s in per_task.items()},
        "average": summarize(model, average, kind_of),
        "parameters": {name: {"average": average[name],
                              **{task: float(s[name]) for task, s in per_task.items()}}
                       for name in average},
    }


def scores_from_report(report: Mapping) -> dict[str, float]:
    """Parameter name -> averaged score, from a faig.json document."""
    try:
        return {name: float(entry["average"]) for name, entry in report["parameters"].items()}
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not a faig.json document (missing {error})") from None


def kind_table(summary: Mapping) -> str:
    """The per-kind table as aligned text: total score, parameter count, score per parameter."""
    lines = [f"{'kind':<6} {'score':>12} {'params':>12} {'per param':>12}"]
    for kind, entry in summary["kinds"].items():
        lines.append(f"{kind:<6} {entry['score']:>12.4e} {entry['params']:>12,d} "
                     f"{entry['per_param']:>12.4e}")
    return "\n".join(lines)


PART_COLOURS = {"encoder": "tab:blue", "middle": "tab:grey", "decoder": "tab:orange",
                "other": "tab:green"}


def plot_block_scores(summary: Mapping, path, title: str = "FAIG per block") -> None:
    """Bar chart PNG of the score per block index, coloured by part (matplotlib, Agg)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from pipelines.files import atomic_path

    blocks = summary["blocks"]
    figure, axes = plt.subplots(figsize=(max(6.0, 0.25 * len(blocks)), 3.5))
    axes.bar([b["index"] for b in blocks], [b["score"] for b in blocks],
             color=[PART_COLOURS[b["part"]] for b in blocks])
    parts = [p for p in PART_COLOURS if any(b["part"] == p for b in blocks)]
    axes.legend(handles=[Patch(color=PART_COLOURS[p], label=p) for p in parts])
    axes.set(xlabel="block index", ylabel="FAIG score", title=title)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
