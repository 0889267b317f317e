"""The options that compose task adapters per image, shared by `trainer restore` and `trainer eval`
(light: no torch), and the small steps both commands take with them."""
from __future__ import annotations

from pathlib import Path

import click

from trainer.routing import NORMALISATIONS, SIMILARITIES, RouterConfig

_DEFAULT = RouterConfig()


def composition_options(command):
    """The router's defaults are the settings docs/composition.md measured best. Add --adapters, --weights, --top-k, --estimator, --labels, --similarity, --normalise and
    --temperature to a command (keyword arguments of the same names)."""
    options = [
        click.option("--adapters", "adapter_set", metavar="FILES|FOLDER",
                     help="Task adapters to compose per image: comma-separated adapter files "
                          "and/or folders of them (*.safetensors, or */adapter.safetensors as "
                          "`trainer colora` writes). All must share this model as their base."),
        click.option("--weights", "weights_spec", default="auto", show_default=True,
                     metavar="auto|oracle|W1,W2,...",
                     help="With --adapters: auto (from --estimator's estimate of each image), "
                          "oracle (from the true degradations in --labels), or one number per "
                          "adapter for every image."),
        click.option("--top-k", type=click.IntRange(min=0), default=_DEFAULT.top_k or 0,
                     show_default=True,
                     help="auto/oracle: keep the K most similar adapters (0: all; measured "
                          "best in docs/composition.md)."),
        click.option("--estimator", "estimator_path", type=click.Path(path_type=Path),
                     help="--weights auto, --level auto: a degradation estimator (run folder "
                          "of `trainer estimator train`; --level auto defaults to "
                          "runs/estimator)."),
        click.option("--labels", "labels_path", type=click.Path(path_type=Path),
                     help="--weights oracle: a labels.json of `trainer tasks make-mixed` (or "
                          "its folder: each image's chain record, by file stem), or one chain "
                          "record (`degrade apply`'s JSON) for every image."),
        click.option("--similarity", type=click.Choice(SIMILARITIES),
                     default=_DEFAULT.similarity, show_default=True,
                     help="auto/oracle: an adapter's similarity to an image: probability (the "
                          "most probable of its ops) or strength (probability x level, within "
                          "its level range)."),
        click.option("--normalise", type=click.Choice(NORMALISATIONS),
                     default=_DEFAULT.normalise, show_default=True,
                     help="auto/oracle: sum (weights sum to 1), softmax (with --temperature), "
                          "max (the most similar adapter at weight 1, the others in "
                          "proportion) or none (the similarities themselves)."),
        click.option("--temperature", type=float, default=_DEFAULT.temperature,
                     show_default=True, help="--normalise softmax: its temperature."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def router_config(top_k: int, similarity: str, normalise: str, temperature: float) -> RouterConfig:
    return RouterConfig(similarity, top_k or None, normalise, temperature)


def check_composition(adapter, adapter_set) -> None:
    if adapter is not None and adapter_set is not None:
        raise click.UsageError("--adapter and --adapters exclude each other: give one adapter, "
                               "or a set to compose")


def check_router_inputs_used(adapter_set, estimator_path, labels_path, level) -> None:
    """--labels and --estimator serve a composition (or --level auto): refused when nothing
    would read them, so a mistyped command does not run a plain pass in silence."""
    from trainer.levelling_defaults import AUTO

    if adapter_set is not None:
        return
    if labels_path is not None:
        raise click.UsageError("--labels gives oracle weights to a composition: add --adapters "
                               "(and --weights oracle)")
    if estimator_path is not None and str(level or "").strip().lower() != AUTO:
        raise click.UsageError("--estimator serves --weights auto (with --adapters) and "
                               "--level auto: add one of them, or drop --estimator")


def split_specs(adapter_set: str) -> list[Path]:
    return [Path(part.strip()) for part in adapter_set.split(",") if part.strip()]


def composition_inputs(adapter_set, estimator_path, labels_path) -> list:
    """Input paths the output guard must never overwrite."""
    from trainer.composition import adapter_files

    if adapter_set is None:
        return []
    return [*adapter_files(split_specs(adapter_set)), estimator_path, labels_path]


def load_composition(model_path, adapter_set, weights_spec, top_k, estimator_path, labels_path,
                     similarity, normalise, temperature, device):
    """(model carrying the adapter set, AdapterSet, weight source)."""
    from trainer.composition import load_composed, weight_source

    config = router_config(top_k, similarity, normalise, temperature)
    model, adapters = load_composed(model_path, split_specs(adapter_set), device)
    source = weight_source(weights_spec, adapters, estimator_path, labels_path, config,
                           str(next(model.parameters()).device))
    return model, adapters, source
