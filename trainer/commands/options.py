"""Options every long-running trainer command shares, defined once (light: no torch)."""
from __future__ import annotations

import click

quiet_option = click.option(
    "--quiet", "-q", is_flag=True,
    help="No progress bars; print only the final summary line (and errors).")
