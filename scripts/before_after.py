"""The demo's last step: how much the adapter gained, in numbers and in a picture.

Restores the task's held-out test pairs (the ones `trainer colora` scored: synthesised from the
embedded images kept out of training, same task, count, size and seed) with the base model and
with base + adapter; writes a before/after picture of the first test pair (input, base model,
adapter output, clean, each labelled with its PSNR) and prints one line with the three mean
PSNRs over all the test pairs.

Example:
  python scripts/before_after.py --base runs/demo/pretrain \\
      --adapter runs/demo/colora-haze/adapter.safetensors --task haze --test-count 8 --size 128 \\
      --out runs/demo/before-after.png
"""
from __future__ import annotations

from pathlib import Path

import click
import cv2
import numpy as np

FONT, SCALE, ZOOM, GAP, LABEL = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 2, 6, 22


def restore_all(model, images: list[np.ndarray]) -> list[np.ndarray]:
    from trainer.restore import restore_image
    return [restore_image(model, image) for image in images]


def mean_psnr(outputs: list[np.ndarray], cleans: list[np.ndarray]) -> float:
    from trainer.metrics import psnr
    return float(np.mean([psnr(out, gt) for out, gt in zip(outputs, cleans)]))


def panel(image: np.ndarray, label: str) -> np.ndarray:
    """The image enlarged ZOOM times (nearest neighbour: pixels stay visible) under a label."""
    big = cv2.resize(image, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)
    strip = np.full((LABEL, big.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, label, (4, LABEL - 7), FONT, SCALE, (20, 20, 20), 1, cv2.LINE_AA)
    return np.vstack([strip, big])


def before_after_picture(images: list[np.ndarray], labels: list[str]) -> np.ndarray:
    """uint8 RGB row of labelled panels separated by white gaps."""
    panels = [panel(image, label) for image, label in zip(images, labels)]
    gap = np.full((panels[0].shape[0], GAP, 3), 255, np.uint8)
    row = [piece for p in panels for piece in (p, gap)][:-1]
    return np.hstack(row)


def write_png(path: Path, rgb: np.ndarray) -> None:
    from pipelines.files import write_bytes_atomically

    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise click.ClickException(f"{path}: PNG encoding failed")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(path, encoded.tobytes())


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--base", required=True, help="The pre-trained model (file or run folder).")
@click.option("--adapter", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The adapter file `trainer colora` wrote.")
@click.option("--task", required=True, help="The adapter's task (as given to trainer colora).")
@click.option("--test-count", type=click.IntRange(1), default=8, show_default=True)
@click.option("--size", type=click.IntRange(8), default=128, show_default=True,
              help="Test pair size: twice trainer colora's --patch.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("runs/demo/before-after.png"), show_default=True)
def main(base, adapter, task, test_count, size, seed, out):
    """Score base and adapter on the held-out test pairs and draw the before/after picture."""
    from trainer.adapters import AdapterError
    from trainer.checkpoint import CheckpointError
    from trainer.numerics import flush_denormals
    from trainer.restore import load_for_inference
    from trainer.tasks import synthesize_pairs

    flush_denormals()  # an entry point, like the trainer commands
    try:
        base_model, _ = load_for_inference(base)
        adapted, _ = load_for_inference(base, adapter)
        pairs = synthesize_pairs(task, test_count, size, seed, "test")
    except (CheckpointError, AdapterError, ValueError) as error:
        raise click.ClickException(str(error).splitlines()[0]) from None
    inputs, cleans = [lq for _, lq, _ in pairs], [gt for _, _, gt in pairs]
    base_out, adapter_out = restore_all(base_model, inputs), restore_all(adapted, inputs)
    scores = {"input": mean_psnr(inputs, cleans), "base": mean_psnr(base_out, cleans),
              "adapter": mean_psnr(adapter_out, cleans)}
    first = [mean_psnr([im], cleans[:1]) for im in (inputs[0], base_out[0], adapter_out[0])]
    write_png(out, before_after_picture(
        [inputs[0], base_out[0], adapter_out[0], cleans[0]],
        [f"input {first[0]:.2f} dB", f"base model {first[1]:.2f} dB",
         f"adapter {first[2]:.2f} dB", "clean"]))
    click.echo(f"{task}, {test_count} held-out test pairs: input {scores['input']:.2f} dB, "
               f"base {scores['base']:.2f} dB, adapter {scores['adapter']:.2f} dB ({out})")


if __name__ == "__main__":
    main()
