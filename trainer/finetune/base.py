"""The pre-trained base a request names, and the error type of requests."""
from __future__ import annotations

import re

DEFAULT_BASE = "runs/pretrain/model.safetensors"


class AdaptError(Exception):
    """Bad input to a request. `field` is the request field at fault; the message names it
    and any other field in backticks, which commands render as their options
    (`option_message`)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"`{field}` {message}")
        self.field = field


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
