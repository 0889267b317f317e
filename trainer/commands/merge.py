"""`trainer merge BASE a.safetensors:0.6 b.safetensors:0.4 --out m.safetensors`: weighted
adapters folded into their base model, or composed into one adapter."""
from __future__ import annotations

import math
from pathlib import Path

import click

from degrade.clioutputs import check_outputs, overwrite_option


@click.command()
@click.argument("base", type=click.Path(exists=True, path_type=Path))
@click.argument("adapters", nargs=-1, required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The merged model (or with --as-adapter, adapter) file to write.")
@click.option("--weights", help="Comma-separated weights, one per adapter (instead of ':W').")
@click.option("--as-adapter", is_flag=True,
              help="Write one composed adapter instead of a model: exact (ranks concatenated).")
@click.option("--rank", type=click.IntRange(1),
              help="With --as-adapter: truncate every weight change to this rank by SVD "
                   "(approximate; prints the relative error).")
@overwrite_option
def merge(base, adapters, out, weights, as_adapter, rank, overwrite):
    """Write BASE with weighted ADAPTERS merged in, as an ordinary model file.

    BASE is the model file (or run folder) the adapters were trained on; each ADAPTER an
    adapter.safetensors from `trainer colora`, optionally followed by ':WEIGHT' (default 1).
    Every layer becomes W0 + sum_i w_i dW_i (tuned vectors v0 + sum_i w_i (v_i - v0)). The
    model loads anywhere a model does, at the base model's size and speed. --as-adapter writes
    the same combination as one adapter file instead.

    \b
    Examples:
      trainer merge runs/pretrain runs/colora/blur-colora/adapter.safetensors --out blur.safetensors
      trainer merge runs/pretrain blur.safetensors:0.6 noise.safetensors:0.4 --out mix.safetensors
      trainer merge runs/pretrain blur.safetensors noise.safetensors --weights 0.6,0.4 \\
          --as-adapter --out mix-adapter.safetensors
    """
    from trainer.adapters.merging import read_sources
    from trainer.checkpoint import load_model, resolve_model_path

    if rank is not None and not as_adapter:
        raise click.UsageError("--rank applies to --as-adapter only")
    paths, values = _weighted(adapters, weights)
    check_outputs([out], [resolve_model_path(base), *paths], overwrite)
    files = read_sources(paths, values)
    model, metadata = load_model(base)
    line = (_write_adapter(model, files, values, rank, out) if as_adapter else
            _write_model(model, metadata, files, values, out) + f" ({base} itself is unchanged)")
    click.echo(line)


def _weighted(adapters, weights) -> tuple[list[Path], list[float]]:
    """(paths, weights) from 'PATH[:WEIGHT]' arguments or --weights."""
    paths, values = [], []
    for item in adapters:
        path, _, weight = item.rpartition(":")
        if not path or not _is_number(weight):
            path, weight = item, None
        paths.append(Path(path))
        values.append(weight)
    if weights is not None:
        if any(v is not None for v in values):
            raise click.UsageError("--weights: give weights either as PATH:W or with --weights")
        values = [w.strip() for w in weights.split(",")]
        if not all(_is_number(v) for v in values):
            raise click.UsageError(f"--weights: {weights!r} is not a comma-separated list of numbers")
        if len(values) != len(paths):
            raise click.UsageError(f"--weights: {len(values)} weights for {len(paths)} adapters")
    numbers = [1.0 if v is None else float(v) for v in values]
    bad = [v for v in numbers if not math.isfinite(v)]
    if bad:
        raise click.UsageError(f"--weights: {bad[0]} is not a finite number")
    return paths, numbers


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _write_model(model, metadata, files, weights, out: Path) -> str:
    from trainer.adapters.merging import merge_into_model
    from trainer.checkpoint import save_model

    merged = merge_into_model(model, files, weights)
    tasks = [f.record.task.get("name", "") for f in files]
    save_model(out, merged, {"preset": metadata.get("preset") or "",
                             "merged_adapters": [str(f.path) for f in files],
                             "merge_weights": list(weights), "task": "+".join(tasks),
                             "method": "+".join(f.method for f in files)})
    return f"merged {_listing(files, weights)} into a plain model -> {out}"


def _write_adapter(model, files, weights, rank, out: Path) -> str:
    from trainer.adapters import write_adapter
    from trainer.adapters.merging import compose

    composed = compose(model, files, weights, rank)
    write_adapter(out, composed.tensors, "composed", composed.config, composed.plan,
                  composed.base_fingerprint, composed.task, composed.info)
    kind = ("exact (ranks concatenated)" if rank is None else
            f"APPROXIMATE: rank {rank} by SVD, relative error {composed.relative_error:.3e}")
    return (f"composed {_listing(files, weights)} into one adapter, {kind}; "
            f"{composed.plan.tuned_count / 1e6:.3f}M values -> {out}")


def _listing(files, weights) -> str:
    return ", ".join(f"{f.path.name}:{w:g}" for f, w in zip(files, weights))
