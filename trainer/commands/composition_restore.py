"""`trainer restore` and `trainer eval` with --adapters: the composed path of both commands
(kept apart from their plain path so each stays small)."""
from __future__ import annotations

import click

from degrade.clioutputs import check_outputs
from trainer.commands.composition_options import (check_composition, composition_inputs,
                                                  load_composition)

EXPLAIN_ROWS = 8  # images shown by --explain (the first ones)


def _require_set(composition: dict) -> None:
    if composition["adapter_set"] is None:
        raise click.UsageError("--explain shows the weights of composed adapters: give "
                               "--adapters too")


def restore_composed(model_path, paths, outputs, out, adapter, tile, overlap, device, amp,
                     overwrite, quiet, explain_path, composition: dict) -> None:
    """Restore each image with its own adapter weights, printing them; --explain's picture."""
    from tqdm import tqdm

    from pipelines.codecs import encode_png
    from pipelines.files import write_bytes_atomically
    from trainer.commands.restore import read_image
    from trainer.composition import check_weight_spec, describe_weights, restore_weighted
    from trainer.distributed import resolve_device

    _require_set(composition)
    check_composition(adapter, composition["adapter_set"])
    check_weight_spec(composition["weights_spec"], composition["estimator_path"],
                      composition["labels_path"])
    inputs = composition_inputs(composition["adapter_set"], composition["estimator_path"],
                                composition["labels_path"])
    check_outputs([*outputs, *([explain_path] if explain_path else [])],
                  [*paths, model_path, *inputs], overwrite)
    model, adapters, source = load_composition(model_path, device=resolve_device(device),
                                               **composition)
    device = next(model.parameters()).device
    shown, totals = [], None
    bar = tqdm(list(zip(paths, outputs)), unit="img", desc="restore", disable=quiet)
    for path, output in bar:
        image = read_image(path)
        weights = source.weights(path.stem, image)
        result = restore_weighted(model, adapters, weights, image, device, tile, overlap, amp)
        write_bytes_atomically(output, encode_png(result))
        totals = weights if totals is None else totals + weights
        if not quiet:
            bar.write(f"{path}: {describe_weights(adapters.names, weights)}")
        if explain_path and len(shown) < EXPLAIN_ROWS:
            shown.append((path.name, image, result, weights))
    if explain_path:
        from trainer.explain import explain_figure

        explain_figure(shown, adapters.names, explain_path, total=len(paths))
    mean = describe_weights(adapters.names, totals / len(paths))
    click.echo(f"restored {len(paths)} image(s) -> {out} ({source.mode} weights, mean: {mean})"
               + (f"; explained in {explain_path}" if explain_path else ""))


def evaluate_composed(model_path, data, limit, out, adapter, device, amp, tile, overlap,
                      overwrite, quiet, composition: dict) -> None:
    """Score paired images, each restored with its own adapter weights."""
    from pipelines.pairs import iter_pairs
    from trainer.composition import check_weight_spec, describe_weights, evaluate_weighted
    from trainer.distributed import resolve_device
    from trainer.evaluate import write_report

    check_composition(adapter, composition["adapter_set"])
    check_weight_spec(composition["weights_spec"], composition["estimator_path"],
                      composition["labels_path"])
    inputs = composition_inputs(composition["adapter_set"], composition["estimator_path"],
                                composition["labels_path"])
    check_outputs([out], [model_path, *inputs], overwrite)
    model, adapters, source = load_composition(model_path, device=resolve_device(device),
                                               **composition)
    device = next(model.parameters()).device
    report, used = evaluate_weighted(model, adapters, source, iter_pairs(data, limit=limit),
                                     device, amp, tile, overlap, progress=not quiet, total=limit)
    if not report.scores:
        raise click.ClickException(f"--data {data}: no image pairs found")
    write_report(report, out)
    mean = [sum(w[i] for w in used) / len(used) for i in range(len(adapters.names))]
    click.echo(f"{report.summary()}; {source.mode} weights, mean: "
               f"{describe_weights(adapters.names, mean)} -> {out}")
