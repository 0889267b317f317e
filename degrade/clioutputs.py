"""The commands' rule for output paths: nothing the user already has is overwritten.

`check_outputs(outputs, inputs, overwrite)` refuses, before any work, an output that resolves
to one of the command's inputs (the same file, however it is spelt: a link, `./`, a folder
whose outputs take the inputs' names) or that already exists, unless the user passed
--overwrite. Both are usage errors (exit 2) naming the option.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import click


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when both paths name one existing file (or resolve to the same path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_outputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path | None] = (),
                  overwrite: bool = False, option: str = "--out") -> None:
    """click.BadParameter (exit 2) for an output that is an input or already exists, unless
    `overwrite`."""
    if overwrite:
        return
    inputs = [Path(p) for p in inputs if p is not None]
    for output in map(Path, outputs):
        source = next((p for p in inputs if same_file(output, p)), None)
        if source is not None:
            raise click.BadParameter(f"{output} is the input {source}; writing it would destroy "
                                     "it (choose another output, or add --overwrite)",
                                     param_hint=f"'{option}'")
        if output.exists():
            raise click.BadParameter(f"{output} already exists; add --overwrite to replace it",
                                     param_hint=f"'{option}'")


def overwrite_option(command):
    """--overwrite, for every command that writes files named by the user."""
    return click.option("--overwrite", is_flag=True,
                        help="Replace existing output files (even an input named as output).")(command)
