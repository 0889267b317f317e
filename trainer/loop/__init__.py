"""The one optimisation loop, shared by pre-training and fine-tuning.

`fit(model, batches, config, params=..., val_fn=..., out_dir=..., resume=...)` trains the given
parameters (all of the model's by default; fine-tuning passes only its adapters) with AdamW and a
cosine schedule, optional AMP / channels_last / torch.compile, gradient clipping, a progress bar,
JSONL metrics, periodic validation, TensorBoard when installed, and atomic checkpoints that
`resume=True` continues from exactly (same losses as an uninterrupted run). Under torchrun it
wraps the model in DistributedDataParallel; only rank 0 writes files.

Recipe defaults follow NAFNet's official SIDD width-32 configuration: AdamW lr 1e-3,
betas (0.9, 0.9), weight decay 0, cosine annealing over the whole run down to 1e-7, no warm-up,
PSNR loss, gradient-norm clipping at 0.01 (NAFNet's `use_grad_clip`, on by default).

One job per module: `config` (what a run is asked to do and what it did), `losses`, `step` (one
optimizer update and what it needs), `checkpoints` (what a checkpoint holds), `resume`
(continuing from one, or refusing to mix runs), `metrics_log` (metrics.jsonl, TensorBoard, the
progress bar), `fitting` (the loop itself).
"""
from trainer.loop.config import AMP_MODES, BatchSource, FitError, FitResult, LoopConfig, ValFn
from trainer.loop.fitting import fit
from trainer.loop.losses import LOSS_FUNCTIONS, LOSS_MEANINGS, LOSSES, l1_loss, psnr_loss
from trainer.loop.metrics_log import METRICS_NAME
from trainer.loop.step import Training, make_training, trainable_parameters

__all__ = ["AMP_MODES", "BatchSource", "FitError", "FitResult", "LOSSES", "LOSS_FUNCTIONS",
           "LOSS_MEANINGS", "LoopConfig", "METRICS_NAME", "Training", "ValFn", "fit", "l1_loss",
           "make_training", "psnr_loss", "trainable_parameters"]
