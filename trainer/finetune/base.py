"""The pre-trained base a request names, and the error type of requests."""
from __future__ import annotations

import re

from degrade.errors import KitError

DEFAULT_BASE = "runs/pretrain/model.safetensors"


class AdaptError(KitError):
    """Bad input to a request. `field` is the request field at fault (None: none in
    particular); the message names it and any other field in backticks, which the commands'
    error boundary renders as their options (`option_message` does it by name)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(f"`{field}` {message}" if field else message, field=field)

    def __reduce__(self):
        return (_rebuild, (self.field, str(self)))


def _rebuild(field, text):
    error = AdaptError(None, text)
    error.field = field
    return error


def option_message(error: AdaptError, prefix: str = "--") -> str:
    """The error with every `field` written as a command-line option (`train_count` ->
    --train-count)."""
    return re.sub(r"`(\w+)`", lambda m: prefix + m.group(1).replace("_", "-"), str(error))


def load_base(path: str):
    """(model, metadata, resolved path) of the base; AdaptError explaining a missing default."""
    from trainer.checkpoint import CheckpointError, load_model, resolve_model_path

    try:
        resolved = resolve_model_path(path)
        model, metadata = load_model(resolved)
    except CheckpointError as error:
        hint = " (run 'trainer pretrain' first, or name another `base`)" if path == DEFAULT_BASE else ""
        raise AdaptError("base", f"{error}{hint}") from None
    return model, metadata, resolved
