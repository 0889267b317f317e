"""Scoring a model on paired images: per-image PSNR/SSIM, their means, and the identity baseline.

The identity baseline scores the degraded input itself against the target (what "do nothing"
achieves), so a report shows the gain the model brings. Metrics follow `trainer.metrics`.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn

from pipelines.files import write_text_atomically
from pipelines.pairs import PairError
from trainer.metrics import psnr, ssim
from trainer.restore import restore_image

Pair = tuple[str, np.ndarray, np.ndarray]
PSNR_CAP_DB = 100.0


@dataclass(frozen=True)
class ImageScore:
    """One image's scores: the model output's and the degraded input's, against the target."""

    name: str
    psnr: float
    ssim: float
    input_psnr: float
    input_ssim: float


@dataclass(frozen=True)
class EvalReport:
    scores: tuple[ImageScore, ...]

    def mean(self, metric: str) -> float:
        """Mean over images; PSNR values are capped at PSNR_CAP_DB first, so one identical pair
        (inf dB, e.g. a near-delta blur kernel) cannot make the mean infinite. The CSV keeps the
        raw per-image values."""
        values = [getattr(score, metric) for score in self.scores]
        if metric.endswith("psnr"):
            values = [min(value, PSNR_CAP_DB) for value in values]
        return float(np.mean(values)) if values else math.nan

    def means(self) -> dict[str, float]:
        return {f.name: self.mean(f.name) for f in fields(ImageScore) if f.name != "name"}

    def capped(self) -> int:
        """How many PSNR values (output or input) the means count as PSNR_CAP_DB."""
        return sum((s.psnr > PSNR_CAP_DB) + (s.input_psnr > PSNR_CAP_DB) for s in self.scores)

    def cap_note(self) -> str:
        """'' or a note saying the means count PSNRs above the cap (inf: identical images) as it."""
        count = self.capped()
        return (f"; {count} PSNR value(s) above {PSNR_CAP_DB:.0f} dB (inf: identical images) "
                f"counted as {PSNR_CAP_DB:.0f} dB in the means" if count else "")

    def summary(self) -> str:
        m = self.means()
        return (f"{len(self.scores)} image(s): PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f} "
                f"(input {m['input_psnr']:.2f} dB, {m['input_ssim']:.4f}; gain "
                f"{m['psnr'] - m['input_psnr']:+.2f} dB){self.cap_note()}")


def score_pair(model: nn.Module, name: str, lq: np.ndarray, gt: np.ndarray,
               device: torch.device | str = "cpu", amp: str = "none",
               tile: int | None = None, overlap: int = 32) -> ImageScore:
    """Restore `lq` and score it and `lq` itself against `gt` (uint8 HxWx3, same size)."""
    if lq.shape != gt.shape:
        raise PairError(f"{name}: input {lq.shape[1]}x{lq.shape[0]} and target "
                         f"{gt.shape[1]}x{gt.shape[0]} differ in size")
    out = restore_image(model, lq, device, tile=tile, overlap=overlap, amp=amp)
    return ImageScore(name, psnr(out, gt), ssim(out, gt), psnr(lq, gt), ssim(lq, gt))


def evaluate_pairs(model: nn.Module, pairs: Iterable[Pair], device: torch.device | str = "cpu",
                   amp: str = "none", tile: int | None = None, overlap: int = 32,
                   progress: bool = False, total: int | None = None) -> EvalReport:
    """Score every (name, lq, gt) pair with `model` in eval mode (gradients off)."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    try:
        bar = tqdm(pairs, total=total, disable=not progress, unit="img", desc="eval")
        scores = tuple(score_pair(model, name, lq, gt, device, amp, tile, overlap)
                       for name, lq, gt in bar)
    finally:
        model.train(was_training)
    return EvalReport(scores)


def validation_fn(pairs: list[Pair], device: torch.device | str, amp: str = "none",
                  tile: int | None = 512):
    """A `val_fn` for `trainer.loop.fit`: mean PSNR/SSIM of the model on in-memory pairs."""
    def run(model: nn.Module) -> dict[str, float]:
        means = evaluate_pairs(model, pairs, device, amp, tile).means()
        return {"psnr": means["psnr"], "ssim": means["ssim"]}
    return run


def report_csv(report: EvalReport) -> str:
    """CSV text: one row per image, then a "mean" row (labelled as capped when a PSNR was)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f.name for f in fields(ImageScore)])
    for score in report.scores:
        writer.writerow([score.name] + [f"{v:.6f}" for v in astuple(score)[1:]])
    label = f"mean (psnr capped at {PSNR_CAP_DB:.0f} dB)" if report.capped() else "mean"
    writer.writerow([label] + [f"{v:.6f}" for v in report.means().values()])
    return buffer.getvalue()


def write_report(report: EvalReport, path: str | Path) -> Path:
    """Write the per-image CSV atomically."""
    write_text_atomically(path, report_csv(report))
    return Path(path)
