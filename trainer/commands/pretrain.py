"""`trainer pretrain SHARDS`: PROD pre-training of a restoration preset into a run folder."""
from __future__ import annotations

from pathlib import Path

import click

from trainer.commands.options import quiet_option


@click.command()
@click.argument("shards", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", default="nafnet-sidd-w32", show_default=True,
              help="Model preset (`trainer models` lists them).")
@click.option("--steps", type=int, default=200_000, show_default=True,
              help="Total optimizer steps (the cosine schedule spans them).")
@click.option("--batch", type=int, default=32, show_default=True,
              help="Global batch; split evenly over torchrun processes.")
@click.option("--patch", type=int, default=256, show_default=True, help="Training crop size.")
@click.option("--lr", type=float, default=1e-3, show_default=True,
              help="AdamW peak learning rate (betas 0.9/0.9, no weight decay, cosine to 1e-7).")
@click.option("--loss", type=click.Choice(["psnr", "l1"]), default="psnr", show_default=True,
              help="psnr: NAFNet's PSNR loss, logged as -PSNR in dB (lower is better, -30 is "
                   "30 dB); l1: mean absolute error on [0, 1].")
@click.option("--val", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Validation pairs: a paired folder (lq/ + gt/) or a shard folder.")
@click.option("--val-limit", type=int, default=8, show_default=True,
              help="Validate on at most this many pairs.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/pretrain"),
              show_default=True, help="Run folder.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace the run already in --out.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True,
              help="Data loader worker processes (they keep decoding off the training process).")
@click.option("--reader-threads", type=int, default=0, show_default=True,
              help="Decode threads in each loader process; on few cores, --workers 0 "
                   "--reader-threads N reads the most pairs per CPU second. Batches do not depend on it.")
@click.option("--amp", type=click.Choice(["bf16", "fp16", "none"]),
              help="Mixed precision [default: bf16 on CUDA, none on CPU].")
@click.option("--channels-last/--no-channels-last", default=None,
              help="NHWC memory layout [default: on for CUDA].")
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the model.")
@click.option("--log-every", type=int, default=50, show_default=True,
              help="Write a metrics.jsonl record every N steps.")
@click.option("--val-every", type=int, default=1000, show_default=True,
              help="Validate every N steps (and at the end).")
@click.option("--ckpt-every", type=int, default=1000, show_default=True,
              help="Checkpoint every N steps (and at the end).")
@click.option("--device", help="cpu or cuda [default: cuda when available].")
@quiet_option
def pretrain(shards, model, steps, batch, patch, lr, loss, val, val_limit, out, resume,
             overwrite, seed, workers, reader_threads, amp, channels_last, compile_model, log_every,
             val_every, ckpt_every, device, quiet):
    """Pre-train a restoration network on PROD shards (built by `degrade build-shards`).

    With no option this is NAFNet's SIDD width-32 recipe on the paper's preset. The network
    starts at the identity (its last layer before the global residual zeroed), so even a short
    run starts from, not below, its inputs' PSNR. The run folder
    gets model.safetensors, checkpoints/, metrics.jsonl, curves.png and summary.json; a killed
    run continues exactly with the same command plus --resume.

    \b
    Examples:
      trainer pretrain shards/ --model nafnet-tiny --steps 200 --batch 4 --patch 64 --out runs/demo
      torchrun --nproc_per_node 8 -m trainer pretrain shards/      (DDP, batch split per GPU)
    """
    from trainer.distributed import shutdown
    from trainer.pretrain import PretrainConfig, pretrain as run_pretrain

    try:
        config = PretrainConfig(
            shards=shards, model=model, steps=steps, batch=batch, patch=patch, lr=lr, loss=loss,
            val=val, val_limit=val_limit, out=out, resume=resume, overwrite=overwrite, seed=seed,
            workers=workers, reader_threads=reader_threads, amp=amp, channels_last=channels_last,
            compile=compile_model, log_every=log_every, val_every=val_every, ckpt_every=ckpt_every, device=device,
            progress=not quiet)
        result = run_pretrain(config)
    finally:
        shutdown()
    if result is not None:
        click.echo(result.summary)
