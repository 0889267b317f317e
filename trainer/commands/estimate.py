"""`trainer estimate ESTIMATOR IMAGES...`: which degradations each image carries, how strong."""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("estimator_path", metavar="ESTIMATOR", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every image's estimates (all ops) and the summary as JSON.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Probability from which an op counts as found.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
def estimate(estimator_path, images, json_path, threshold, device):
    """Estimate the degradations of IMAGES (files or folders) with ESTIMATOR (a run folder of
    `trainer estimator train` or its .safetensors).

    Prints, per image, the ops found with their probability and level in natural units
    (noise sigma on 0-255, JPEG quality, blur sigma in pixels...) and the task families its
    family outputs find (noise, blur: "some noise" even where the noise ops look alike), then
    one summary line: how many images carry each degradation. Any size works: images larger than the training
    patch are read as 8x8-grid-aligned tiles whose estimates are averaged. Unreadable images
    are skipped and listed with the reason.

    Faint camera noise (sigma under about 3 after the camera's JPEG) is ranked above clean
    but rarely reaches 0.5, and a clean JPEG re-saved at quality 90-92 on its own 8x8 grid
    is called noisy about one time in six: docs/estimator.md has both measured, and a
    threshold set on clean photographs (bench/estimator_photo_threshold.py).

    \b
    Example:
      trainer estimate runs/estimator photos/ --json estimates.json
    """
    from pipelines.sources import SourceError, load_image
    from pipelines.files import write_text_atomically
    from trainer.commands.restore import list_images
    from trainer.estimator.files import load_estimator
    from trainer.estimator.inference import (UnusableImageError, estimate_image_with_families,
                                             folder_summary, found)

    model, metadata = load_estimator(estimator_path, device)  # KitErrors: the boundary's line
    paths = list_images(images)
    tile = metadata.get("training", {}).get("patch", 64)
    results, skipped = [], []
    for path in paths:
        try:
            estimates, families = estimate_image_with_families(model, load_image(path), tile,
                                                               device)
        except (SourceError, UnusableImageError) as error:  # skipped; anything else: the boundary
            skipped.append({"path": str(path), "reason": str(error)})
            click.echo(f"{path}: skipped ({error})", err=True)
            continue
        results.append((path, estimates, families))
        hits = found(estimates, threshold)
        family_hits = [f"{name} {p:.2f}" for name, p in families.items() if p >= threshold]
        click.echo(f"{path}: " + (", ".join(e.describe() for e in hits) or "nothing found")
                   + (f" (families: {', '.join(family_hits)})" if family_hits else ""))
    counts, line = folder_summary([e for _, e, _ in results], len(skipped), model.ops,
                                  threshold)
    click.echo(line)
    if json_path:
        report = _json_report(results, skipped, counts, threshold)
        write_text_atomically(json_path, json.dumps(report, indent=1) + "\n")
    if not results:
        raise click.ClickException("no image could be read")


def _json_report(results, skipped, counts, threshold) -> dict:
    return {"threshold": threshold,
            "images": [{"path": str(path), "ops": [e.to_json() for e in estimates],
                        "found": [e.op for e in estimates if e.probability >= threshold],
                        "families": {name: round(p, 4) for name, p in families.items()}}
                       for path, estimates, families in results],
            "skipped": skipped, "summary": counts}
