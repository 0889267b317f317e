"""The error classes every library module raises for bad input, and what the commands make of them.

`KitError` is the base of every error that is the user's input, data or environment rather
than a bug (a corrupt shard, a missing model file, a run folder that is not a run). `field`
names the configuration field it concerns (e.g. "data"), never a command-line flag: library
messages are for library users too, and each command maps the field to its own option (see
`degrade.cliboundary`). `ConfigError` is a bad configuration value: the command reports it as
a usage error naming the option.
"""
from __future__ import annotations


class KitError(Exception):
    """Bad input, data or environment (not a bug); `field` names the config field concerned."""

    def __init__(self, *args, field: str | tuple[str, ...] | None = None):
        super().__init__(*args)
        self.field = field

    def __reduce__(self):  # keep `field` across process boundaries (pool and Ray workers)
        return (self.__class__, self.args, {"field": self.field})


class ConfigError(KitError, ValueError):
    """A configuration value that cannot work: `ConfigError("steps", "must be at least 1")`."""

    def __init__(self, field: str | tuple[str, ...], reason: str):
        super().__init__(field, reason, field=field)
        self.reason = reason

    def __reduce__(self):
        return (self.__class__, (self.field, self.reason))

    def __str__(self) -> str:
        names = self.field if isinstance(self.field, tuple) else (self.field,)
        return f"{' and '.join(names)}: {self.reason}"
