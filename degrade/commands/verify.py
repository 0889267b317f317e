"""`degrade verify DIR`: a thin CLI over pipelines.verify.verify_dataset."""
from __future__ import annotations

import click


@click.command("verify")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--no-decode", is_flag=True, help="Skip decoding images (sizes, hashes and counts only).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def verify(folder, no_decode, quiet):
    """Re-check a build-shards folder: shard sizes and sha256 against manifest.json, sample counts,
    that every sample is complete and decodes, and that index.parquet matches the shards.

    Exits 0 when everything checks out, 1 with a report of every problem otherwise.

    \b
    Example:
      degrade verify shards/
    """
    import json
    from pathlib import Path

    from tqdm import tqdm

    from pipelines.verify import verify_dataset

    try:
        shards = len(json.loads((Path(folder) / "manifest.json").read_text())["shards"])
    except Exception:  # noqa: BLE001 - verify_dataset itself reports a missing or bad manifest
        shards = None
    with tqdm(total=shards, unit="shard", desc="verify", disable=quiet) as bar:
        report = verify_dataset(folder, decode=not no_decode, on_shard=lambda _: bar.update(1))
    click.echo(report.text())
    if not report.ok:
        raise SystemExit(1)
