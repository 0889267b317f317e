"""The level options of `trainer colora` (training on levels) and of `trainer restore`,
`trainer eval` and `trainer sweep` (a level adapter's c), defined once (light: no torch)."""
from __future__ import annotations

from pathlib import Path

import click

from trainer.levelling_defaults import AUTO, DEFAULT_ESTIMATOR


def training_level_options(command):
    """--levels, --level-range, --level-labels."""
    for option in reversed([
        click.option("--levels", "levels", metavar="V1,V2,...",
                     help="Train on these levels of the task's op, in its natural units (noise: "
                          "sigma on 0-255; jpeg: quality): every image of a batch is degraded "
                          "at each of them (batch x levels images a step). With --method "
                          "levels/levels-full the adapter learns c; with another method it is "
                          "one blind adapter for all of them. E.g. 15,35,55,75."),
        click.option("--level-range", metavar="LOW:HIGH",
                     help="Train on levels drawn uniformly from LOW..HIGH, one per image "
                          "(natural units, e.g. 5:75)."),
        click.option("--level-labels", type=click.Path(dir_okay=False, path_type=Path),
                     help="CSV of `name,level` rows giving the level (natural units) of every "
                          "pair in --data (and --test): real pairs for a level adapter."),
    ]):
        command = option(command)
    return command


def inference_level_options(command):
    """--level, --extrapolate and, unless the command has one already (composition's, with the
    same name and destination), --estimator."""
    options = [
        click.option("--level", metavar="VALUE|auto",
                     help=f"The degradation level for a level adapter (--method levels), in "
                          f"its op's natural units (noise sigma 0-255: 25 or 25sigma; jpeg "
                          f"quality: 30), or `{AUTO}`: the degradation estimator's level of "
                          f"each image."),
        click.option("--extrapolate", is_flag=True,
                     help="Allow a --level outside the adapter's trained range (a warning "
                          "instead of an error; `auto` estimates are then not clipped to it)."),
    ]
    present = {opt for param in getattr(command, "__click_params__", []) for opt in param.opts}
    if "--estimator" not in present:
        options.append(click.option(
            "--estimator", "estimator_path", type=click.Path(path_type=Path),
            help=f"A degradation estimator (run folder or file); --level {AUTO} reads its "
                 f"level of the adapter's op [default: {DEFAULT_ESTIMATOR}]."))
    for option in reversed(options):
        command = option(command)
    return command


def check_level_use(level, adapter_set) -> None:
    """--level sets one level adapter's c: with --adapters (a composition) it is refused."""
    if level is not None and adapter_set is not None:
        raise click.UsageError("--level sets the level of one level adapter (--adapter); a "
                               "composition (--adapters) takes plain adapters")


def level_choice_for(model, level, adapter, extrapolate, estimator_path, device):
    """The LevelChoice for the options, None without --level; a level adapter without --level
    is refused (ConfigError naming the option)."""
    from degrade.errors import ConfigError
    from trainer.adapters import adapter_records, get_method
    from trainer.levelling import level_choice

    levelled = [r for r in adapter_records(model).values() if get_method(r.method).levels]
    if level is None:
        if levelled:
            raise ConfigError("level", f"{adapter} is a level adapter: give --level (a value "
                                       f"in natural units, or {AUTO})")
        return None
    if adapter is None:
        raise ConfigError("level", "needs a level adapter (--adapter)")
    return level_choice(model, level, adapter, extrapolate,
                        estimator_path or DEFAULT_ESTIMATOR, str(device))
