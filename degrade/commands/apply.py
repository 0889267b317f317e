"""`degrade apply`: degrade one image by a named chain, or replay a chain record."""
from __future__ import annotations

import json

import click

from degrade.clioutputs import check_outputs, overwrite_option
from degrade.commands.common import check_output_path, encode_image, read_image
from degrade.registry import ops_help
from pipelines.files import write_files_atomically


def _load_record(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except OSError as error:
        raise click.BadParameter(f"{path}: cannot read ({error.strerror})", param_hint="'--record'")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise click.BadParameter(f"{path}: not valid JSON ({error})", param_hint="'--record'")


def _run(image, chain: str | None, record_path: str | None, seed: int):
    """(degraded image, record) for --chain or --record; click errors name the culprit."""
    from degrade.chain import degrade_named, replay
    from degrade.registry import resolve_pool

    if record_path is not None:
        record = _load_record(record_path)
        try:
            return replay(record, image), record
        except ValueError as error:
            raise click.BadParameter(f"{record_path}: {error}", param_hint="'--record'") from None
    names = [name.strip() for name in chain.split(",")]
    try:
        resolve_pool(names)  # one-line error for an unknown name
        return degrade_named(image, names, seed)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--chain'") from None


@click.command("apply")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--chain", default=None,
              help="Comma-separated ops applied in this order, e.g. 'gaussian_blur,jpeg'; their "
                   f"parameters are drawn from --seed. Ops: {ops_help()}.")
@click.option("--record", "record_path", default=None, type=click.Path(dir_okay=False),
              help="Replay a chain record (JSON) instead, bit for bit.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the --chain parameters.")
@click.option("--out", required=True,
              help="Output image; the chain record is written beside it as OUT.json.")
@overwrite_option
def apply_command(image, chain, record_path, seed, out, overwrite):
    """Degrade IMAGE by a named chain of ops (parameters drawn from --seed), or replay a chain
    record, and write the result with its record beside it (OUT.json). Grey, 16-bit and RGBA
    images keep their layout; alpha is passed through untouched (`trainer restore`, whose
    networks see RGB only, drops it). Existing files are never replaced without --overwrite.

    \b
    Examples:
      degrade apply photo.png --chain gaussian_blur,jpeg --seed 3 --out degraded.png
      degrade apply photo.png --record degraded.json --out again.png
    """
    if (chain is None) == (record_path is None):
        raise click.UsageError("give exactly one of --chain and --record")
    if seed < 0:
        raise click.BadParameter(f"must be >= 0, got {seed}", param_hint="'--seed'")
    out_path = check_output_path(out)
    record_out = out_path.with_suffix(".json")
    check_outputs([out_path, record_out], [image, record_path], overwrite)
    picture = read_image(image)
    degraded, record = _run(picture, chain, record_path, seed)
    record_bytes = (json.dumps(record, indent=1) + "\n").encode("utf-8")
    write_files_atomically({out_path: encode_image(degraded, out_path.suffix.lower()),
                            record_out: record_bytes})
    names = " > ".join(step["name"] for step in record["ops"]) or "identity"
    click.echo(f"wrote {out_path} and {record_out}: {names}")
