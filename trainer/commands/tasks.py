"""`trainer tasks make-mixed`: paired test sets of mixed degradations, with their labels."""
from __future__ import annotations

from pathlib import Path

import click

from degrade.clioutputs import overwrite_option
from degrade.lazycli import LazyGroup
from trainer.commands.options import quiet_option


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def tasks():
    """Task data: the degradations adapters are trained and tested on.

    \b
    Start here:
      trainer tasks make-mixed --out mixed/                  embedded images, every mixture
      trainer tasks make-mixed --src cbsd68/ --crop 128 --out mixed/ --mixtures blur+noise
    """


@tasks.command("make-mixed")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: one paired folder per mixture and strength "
                   "(OUT/MIXTURE-STRENGTH/{lq,gt}/STEM.png and labels.json).")
@click.option("--src", type=click.Path(path_type=Path), multiple=True,
              help="Clean images: files or folders (repeatable) [default: the embedded images].")
@click.option("--mixtures", default="all", show_default=True,
              help="Comma-separated mixtures: noise+jpeg, blur+noise, blur+jpeg, "
                   "blur+noise+jpeg, rain+noise, or any '+'-joined families of blur, noise, "
                   "rain, jpeg; all: the five named ones.")
@click.option("--strengths", default="light,heavy", show_default=True,
              help="Comma-separated strengths: light (op levels 0.15-0.35) and/or heavy "
                   "(0.45-0.75).")
@click.option("--crop", type=click.IntRange(min=0), default=128, show_default=True,
              help="Centre crop of each clean image in pixels (0: whole images).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Same seed and images, same bytes.")
@overwrite_option
@quiet_option
def make_mixed(out, src, mixtures, strengths, crop, seed, overwrite, quiet):
    """Degrade clean images by two or three task families in turn (blur, rain, noise, JPEG in
    that order) at a light or heavy strength, and write paired folders with labels.

    Each image of a set gets one op per family, drawn from the family's ops, with params drawn
    until the op's level lies in the strength's band. labels.json holds each image's chain
    record (replayable with `degrade apply --record`); `trainer eval --weights oracle
    --labels` reads it.

    \b
    Examples:
      trainer tasks make-mixed --out mixed/
      trainer tasks make-mixed --src ../shared/data/cbsd68 --out mixed/ --strengths heavy
      trainer eval runs/pretrain --data mixed/noise+jpeg-heavy --adapters runs/adapters/ \\
          --estimator runs/estimator
    """
    from tqdm import tqdm

    from degrade.clioutputs import check_outputs
    from degrade.errors import ConfigError
    from trainer.commands.restore import list_images
    from trainer.mixtures import (LABELS_NAME, MIXTURES, clean_crops, mixed_set,
                                  mixture_families, strength_band, write_mixed_set)

    names = list(MIXTURES) if mixtures.strip() == "all" else _split(mixtures, "mixtures")
    for name in names:
        mixture_families(name)
    levels = _split(strengths, "strengths")
    for strength in levels:
        strength_band(strength)
    sources = list_images(src) if src else None
    folders = [out / f"{name}-{strength}" for name in names for strength in levels]
    clean = clean_crops(sources, crop)
    stems = [stem for stem, _ in clean]
    if len(set(stems)) != len(stems):
        raise ConfigError("src", "two clean images share a file name stem; their pairs would "
                                 "overwrite each other")
    outputs = [folder / part / f"{stem}.png" for folder in folders for part in ("lq", "gt")
               for stem in stems]
    check_outputs([*outputs, *[folder / LABELS_NAME for folder in folders]],
                  list(sources or []), overwrite)
    sets = [(n, s) for n in names for s in levels]
    for folder, (name, strength) in zip(tqdm(folders, unit="set", desc="make-mixed",
                                             disable=quiet), sets):
        write_mixed_set(mixed_set(name, strength, clean, seed), folder)
    click.echo(f"{len(folders)} mixed set(s) of {len(clean)} image(s) -> {out} "
               f"({', '.join(f.name for f in folders)})")


def _split(text: str, field: str) -> list[str]:
    from degrade.errors import ConfigError

    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ConfigError(field, "name at least one")
    if len(set(parts)) != len(parts):
        raise ConfigError(field, f"{text!r} names one twice")
    return parts
