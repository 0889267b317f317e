"""The `degrade` command: degradation previews, single images, and dataset building."""
from __future__ import annotations

import click

from degrade.lazycli import LazyGroup
from degrade.registry import ops_help

COMMANDS = {
    "space": "degrade.commands.space:space",
    "preview": "degrade.commands.preview:preview",
    "apply": "degrade.commands.apply:apply_command",
    "build-shards": "degrade.commands.build_shards:build_shards",
    "verify": "degrade.commands.verify:verify",
    "info": "degrade.commands.info:info",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]},
             epilog=f"Ops: {ops_help()}.")
@click.version_option(package_name="colora-kit")
def main():
    """PROD synthetic degradations: preview them, apply them, and build WebDataset shards.

    \b
    Start here:
      degrade space --k 7 --n 6          how many distinct chains PROD can draw
      degrade preview --out preview.png  a labelled grid of degraded crops
      degrade build-shards --k 7 --n 6   a training set in shards/ (embedded images)
    """
