"""The one error boundary of both command lines (`degrade` and `trainer`).

Every command runs inside `error_boundary()` (the command groups install it; `guarded` does it
for a stand-alone click command). It turns the classes of error that are the user's input,
data or environment into one line and an exit status, and lets everything else through with its
traceback, because that is a bug:

    degrade.errors.ConfigError  -> "Error: Invalid value for '--steps': must be ..."  exit 2
    degrade.errors.KitError     -> "Error: --data shards/x.tar: ..." (fields the message
                                   names in backticks, or its `field`, become options)  exit 1
    OSError (read-only folder,  -> "Error: runs/x/model.safetensors: No space left on
    disk full, missing file)       device"                                              exit 1

Usage errors (click's own, and ConfigError) exit 2; runtime and data errors exit 1. A library
error names its config field (`field="data"`), never a flag: the boundary maps the field to
the running command's option of that name (`--data`, or the argument `SHARDS`).

`route_log_warnings()` (also installed by the groups) prints library warnings, such as the
reader's "skipped" lines, on their own line rather than glued to a progress bar.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import sys
import threading
from contextlib import contextmanager

import click

from degrade.errors import ConfigError, KitError

USAGE_EXIT, RUNTIME_EXIT = 2, 1


def option_hint(field, ctx: click.Context | None = None, quote: str = "") -> str:
    """The running command's name for config field(s) `field`: --shard-size, SHARDS."""
    ctx = ctx or click.get_current_context(silent=True)
    fields = field if isinstance(field, tuple) else (field,)
    params = {p.name: p for p in (ctx.command.params if ctx is not None else [])}
    names = []
    for name in fields:
        param = params.get(name)
        if isinstance(param, click.Argument):
            names.append(param.human_readable_name)
        elif param is not None:
            names.append(max(param.opts, key=len))
        else:
            names.append("--" + name.replace("_", "-"))
    return " / ".join(f"{quote}{name}{quote}" for name in names)


def describe_os_error(error: OSError) -> str:
    """'PATH: reason' for an OSError (the path it names, when it names one)."""
    reason = error.strerror or str(error) or type(error).__name__
    if error.filename is None:
        return reason
    where = os.fsdecode(error.filename)
    if error.filename2 is not None:
        where += f" -> {os.fsdecode(error.filename2)}"
    return f"{where}: {reason}"


def one_line(text: str) -> str:
    """The last line of a message that arrived wrapped in another process's traceback (a
    DataLoader worker re-raises 'Caught X in DataLoader worker ...' + the traceback)."""
    lines = [line for line in str(text).splitlines() if line.strip()]
    if len(lines) <= 1:
        return str(text).strip()
    last = lines[-1]
    head, _, rest = last.partition(": ")
    return rest if rest and "." in head and " " not in head else last


def kit_message(error: KitError) -> str:
    """The error's one line with its fields as the running command's options: a message may
    name fields in backticks (`train_count` -> --train-count); otherwise an error with a
    `field` is prefixed with that field's option."""
    message = one_line(str(error))
    if "`" in message:
        return re.sub(r"`(\w+)`", lambda m: option_hint(m.group(1)), message)
    if error.field is not None:
        return f"{option_hint(error.field)}: {message}"
    return message


@contextmanager
def error_boundary():
    """Re-raise the user's errors as click exceptions (one line, exit 1 or 2); bugs pass."""
    try:
        yield
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except ConfigError as error:
        raise click.BadParameter(one_line(error.reason),
                                 param_hint=option_hint(error.field, quote="'")) from None
    except KitError as error:
        raise click.ClickException(kit_message(error)) from None
    except OSError as error:
        raise click.ClickException(describe_os_error(error)) from None


def _thread_os_errors(args) -> None:
    """threading.excepthook: a background writer's OSError (TensorBoard's event writer on a
    full disk) is one warning line; anything else keeps the default report."""
    if issubclass(args.exc_type, OSError):
        sys.stderr.write(f"warning: a background writer stopped: "
                         f"{describe_os_error(args.exc_value)}\n")
        return
    threading.__excepthook__(args)


def guarded(callback):
    """Run a click command's callback inside error_boundary (idempotent)."""
    if getattr(callback, "__error_boundary__", False):
        return callback

    @functools.wraps(callback)
    def run(*args, **kwargs):
        route_log_warnings()
        threading.excepthook = _thread_os_errors
        with error_boundary():
            return callback(*args, **kwargs)

    run.__error_boundary__ = True
    return run


def guard_command(command: click.Command) -> click.Command:
    """Install the boundary on a command (its callback); groups do this for every subcommand."""
    if command.callback is not None:
        command.callback = guarded(command.callback)
    return command


class _ProgressAwareHandler(logging.Handler):
    """Writes a record on a line of its own: through tqdm in the process that draws the bars,
    and after a carriage return over the bar's width in loader worker processes (which share
    the terminal but not the bar)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.owner = os.getpid()
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record):
        try:
            message = self.format(record)
            if os.getpid() == self.owner:
                from tqdm import tqdm

                tqdm.write(message, file=sys.stderr)
            else:
                width = shutil.get_terminal_size((80, 20)).columns
                sys.stderr.write("\r" + message.ljust(width - 1) + "\n")
                sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


def route_log_warnings() -> None:
    """Send warnings of the library's loggers (no handler of their own) through
    _ProgressAwareHandler instead of Python's last-resort stderr writer (idempotent)."""
    root = logging.getLogger()
    if not any(isinstance(h, _ProgressAwareHandler) for h in root.handlers):
        root.addHandler(_ProgressAwareHandler())
