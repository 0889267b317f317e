"""What a run reports as it goes: metrics.jsonl, TensorBoard when installed, the progress bar."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pipelines.files import naming, write_text_atomically
from trainer.loop.config import LoopConfig
from trainer.loop.losses import LOSS_MEANINGS

METRICS_NAME = "metrics.jsonl"


class MetricsLog:
    """metrics.jsonl (and TensorBoard when installed) on rank 0; nothing on other ranks."""

    def __init__(self, out_dir: Path | None, enabled: bool, resume_step: int):
        self.path = out_dir / METRICS_NAME if (out_dir and enabled) else None
        self.tb = None
        if self.path is None:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self._truncate_after(resume_step)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return
        with naming(out_dir / "tensorboard"):  # its event file, e.g. on a full disk
            self.tb = SummaryWriter(str(out_dir / "tensorboard"), purge_step=resume_step + 1)

    def _truncate_after(self, step: int) -> None:
        """Drop records written after the checkpoint we resume from (they will be redone)."""
        if not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= step]
        write_text_atomically(self.path, "".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        with naming(self.path), open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def progress_bar(config: LoopConfig, start: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=config.steps, initial=start, disable=not (enabled and config.progress),
                file=sys.stderr, unit="step", dynamic_ncols=True,
                desc=f"train (loss: {LOSS_MEANINGS[config.loss]})")
