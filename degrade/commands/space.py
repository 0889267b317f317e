"""`degrade space`: how many distinct chains PROD can draw from K ops up to length N."""
from __future__ import annotations

import click

from degrade.commands.common import pool_options, resolve_pool_option


@click.command("space")
@pool_options
def space(ops, k, max_length):
    """Print the size of PROD's degradation space: (K^(N+1) - 1) / (K - 1) op sequences of
    length 0..N over K ops (137,257 for K=7, N=6), beside the fixed-order and single-op
    baselines.

    \b
    Examples:
      degrade space --k 7 --n 6
      degrade space --ops jpeg,rain --n 3
    """
    from math import comb

    from degrade.chain import space_size

    pool = resolve_pool_option(ops, k, max_length)
    size, n = len(pool), max_length
    click.echo(f"pool K={size}: {', '.join(pool)}")
    click.echo(f"PROD  (K^(N+1) - 1) / (K - 1) = ({size}^{n + 1} - 1) / ({size} - 1) = "
               f"{space_size(size, n):,} sequences of length 0..{n}"
               if size > 1 else f"PROD  N + 1 = {space_size(size, n):,} sequences of length 0..{n}")
    fixed = sum(comb(size, length) for length in range(min(size, n) + 1))
    click.echo(f"fixed order: {fixed:,} subsets of at most {n} ops; single op: {size}")
