"""The `trainer` command: PROD pre-training, evaluation, FAIG and CoLoRA fine-tuning."""
from __future__ import annotations

import click

from degrade.lazycli import LazyGroup

COMMANDS = {
    "pretrain": "trainer.commands.pretrain:pretrain",
    "eval": "trainer.commands.evaluate:evaluate",
    "restore": "trainer.commands.restore:restore",
    "faig": "trainer.commands.faig:faig",
    "colora": "trainer.commands.colora:colora",
    "merge": "trainer.commands.merge:merge",
    "export": "trainer.commands.export:export",
    "models": "trainer.commands.models:models",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="colora-kit")
def main():
    """Pre-train restoration networks on PROD shards and adapt them with CoLoRA.

    \b
    Start here:
      trainer pretrain shards/              PROD pre-training (NAFNet, paper preset)
      trainer colora --task blur            FAIG, then CoLoRA fine-tuning on one task
      trainer eval runs/pretrain --data DIR PSNR/SSIM against the identity baseline
    """
