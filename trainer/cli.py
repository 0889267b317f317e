"""The `trainer` command: PROD pre-training, evaluation, FAIG and CoLoRA fine-tuning."""
from __future__ import annotations

import functools

import click

from degrade.lazycli import LazyGroup

COMMANDS = {
    "pretrain": "trainer.commands.pretrain:pretrain",
    "eval": "trainer.commands.evaluate:evaluate",
    "restore": "trainer.commands.restore:restore",
    "sweep": "trainer.commands.sweep:sweep",
    "faig": "trainer.commands.faig:faig",
    "colora": "trainer.commands.colora:colora",
    "merge": "trainer.commands.merge:merge",
    "export": "trainer.commands.export:export",
    "models": "trainer.commands.models:models",
    "estimator": "trainer.commands.estimator:estimator",
    "estimate": "trainer.commands.estimate:estimate",
    "tasks": "trainer.commands.tasks:tasks",
}


class TrainerGroup(LazyGroup):
    """Runs every command with the trainer's process-wide float settings (trainer.numerics),
    applied when the command starts, so that `--help` stays free of torch."""

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is not None and not getattr(command.callback, "float_settings", False):
            command.callback = _with_float_settings(command.callback)
        return command


def _with_float_settings(callback):
    @functools.wraps(callback)
    def run(*args, **kwargs):
        from trainer.numerics import flush_denormals

        flush_denormals()
        return callback(*args, **kwargs)

    run.float_settings = True
    return run


@click.group(cls=TrainerGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="colora-kit")
def main():
    """Pre-train restoration networks on PROD shards and adapt them with CoLoRA.

    \b
    Start here:
      trainer pretrain shards/              PROD pre-training (NAFNet, paper preset)
      trainer colora --task blur            FAIG, then CoLoRA fine-tuning on one task
      trainer eval runs/pretrain --data DIR PSNR/SSIM against the identity baseline
      trainer sweep MODEL IMG --adapter A   a level adapter's outputs over its levels (HTML)
      trainer estimate runs/estimator DIR   which degradations each image carries
    """
