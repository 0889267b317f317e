"""A click group that imports each command's module only when that command runs, and runs it
inside the shared error boundary (degrade.cliboundary).

Keeps `degrade --help` and `trainer --help` instant (numba, torch and pyarrow load on use).
"""
from __future__ import annotations

import importlib

import click

from degrade.cliboundary import guard_command


class LazyGroup(click.Group):
    """Commands given as {name: "module.path:attribute"}, imported on first use; every
    command, lazy or not, runs inside error_boundary."""

    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx, name):
        if name in self.lazy_commands:
            module_name, attribute = self.lazy_commands[name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
        else:
            command = super().get_command(ctx, name)
        return guard_command(command) if command is not None else None
