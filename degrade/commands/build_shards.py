"""`degrade build-shards`: a thin CLI over pipelines.build.build_shards."""
from __future__ import annotations

import click

from degrade.registry import ops_help


@click.command("build-shards")
@click.option("--src", "src_dir", type=click.Path(file_okay=False), default=None,
              help="Folder of source images, searched recursively (jpg, png, webp, bmp, tif). "
                   "Default: scikit-image's bundled colour photographs.")
@click.option("--src-list", type=click.Path(dir_okay=False), default=None,
              help="Text file with one source image path per line (relative to the list's folder).")
@click.option("--out", default="shards", show_default=True, help="Output folder.")
@click.option("--count", type=int, default=1024, show_default=True, help="Pairs in total.")
@click.option("--patch", type=int, default=256, show_default=True,
              help="Random square crop size; 0 keeps whole images.")
@click.option("--mode", type=click.Choice(["prod", "fixed", "single"]), default="prod", show_default=True,
              help="prod: random-order chains with repetition; fixed: canonical order without "
                   "repetition; single: one op per pair.")
@click.option("--ops", default=None,
              help=f"Comma-separated op pool (default: the canonical order). Ops: {ops_help()}.")
@click.option("--k", type=int, default=None, help="Keep the first K ops of the pool (default: all).")
@click.option("--n", type=int, default=6, show_default=True, help="Maximum chain length N.")
@click.option("--min-length", type=int, default=1, show_default=True, help="Minimum chain length.")
@click.option("--seed", type=int, default=0, show_default=True, help="Global seed; same seed, same bytes.")
@click.option("--workers", type=int, default=None, help="Parallel shard tasks (default: all cores).")
@click.option("--shard-size", type=int, default=256, show_default=True, help="Pairs per shard.")
@click.option("--format", "fmt", type=click.Choice(["png", "npy"]), default="png", show_default=True,
              help="Lossless image storage: png (smaller) or npy (about 10x faster to read).")
@click.option("--distributor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local process pool, or Ray (RAY_ADDRESS, else a local instance).")
@click.option("--overwrite", is_flag=True, help="Replace a build with different options in --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def build_shards(src_dir, src_list, out, count, patch, mode, ops, k, n, min_length, seed, workers,
                 shard_size, fmt, distributor, overwrite, quiet):
    """Build PROD training pairs as WebDataset shards, with index.parquet, stats.json and manifest.json.

    Each pair is KEY.lq.png (degraded), KEY.gt.png (clean crop) and KEY.json (the chain record,
    source path and sha256, crop box). Interrupted builds resume with the same command and give
    the same bytes; a finished build re-run does nothing. Same --seed, same bytes, whatever
    --workers and --distributor.

    \b
    Examples:
      degrade build-shards --k 7 --n 6
      degrade build-shards --src photos/ --out data/prod --count 100000 --workers 16
      degrade build-shards --k 3 --n 2 --mode fixed --format npy --out data/small
    """
    from pipelines.build import BuildConfig, build_shards as run_build

    config = BuildConfig(out=out, src_dir=src_dir, src_list=src_list, count=count, patch=patch, mode=mode,
                         ops=tuple(ops.split(",")) if ops is not None else None, k=k, n=n, min_length=min_length,
                         seed=seed, shard_size=shard_size, fmt=fmt, workers=workers,
                         distributor=distributor, overwrite=overwrite, progress=not quiet)
    click.echo(run_build(config).line())
