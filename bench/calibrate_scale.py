"""Calibrate a CPU scale of bench/reproduce.py before running it: time and paired SE per candidate.

Measures, on this machine and under its current load, the costs a reproduction run is made of
(seconds per pre-training step, per fine-tuning step of each method, per evaluated test image,
per FAIG), and the spread of paired per-image PSNR differences between the fine-tuning study's
methods after a short fine-tuning from a briefly pre-trained PROD model (the pre-training
study's gaps, between full fine-tunings of similar models, spread less). It then prints, for candidate sizes, the
predicted wall time of the whole run and the paired standard error (SE) of its claims, so the
smallest gap a run of that size resolves at 2 SE is known before spending the hour.

CPU seconds are what the process itself used; wall time is predicted as CPU time divided by the
share of a core the run will get (`--cpu-share`: 1.0 on an idle machine, less when other
processes compete). Run it at the priority the run will have. On Linux with autogroup scheduling
(/proc/sys/kernel/sched_autogroup_enabled = 1) `nice` only orders processes of one session:
every busy session (terminal, job) gets an equal share of the cores whatever its nice value, so
expect 2 cores / (busy sessions) rather than what nice suggests.

Example:
  python bench/calibrate_scale.py --data ../shared/data --scale smoke
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # studies/ is an application at the repository root
    sys.path.insert(0, str(REPO))
from studies.scales import SCALES  # noqa: E402  (light: no torch)

METHODS = ("full", "lora", "decoder", "colora")


@dataclass(frozen=True)
class Candidate:
    """The sizes a scale could take (everything else as in the base scale)."""

    pretrain_steps: int
    finetune_steps: int
    train_counts: tuple[int, ...]
    polyu_test: int
    cbsd68_test: int

    @property
    def test_images(self) -> int:
        return self.polyu_test + 4 * self.cbsd68_test


class Clock:
    """CPU seconds of this process and wall seconds since start."""

    def __init__(self):
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def read(self) -> tuple[float, float]:
        return time.process_time() - self.cpu, time.perf_counter() - self.wall


def measure_pretrain(folder, scale, work: Path, steps: int, log):
    """A PROD model pre-trained `steps` steps, and CPU seconds per step (build amortised)."""
    from studies.pretraining import build_mode_shards, pretrain_mode, write_source_list
    from trainer.checkpoint import load_model

    short = replace(scale, pretrain_steps=steps)
    source_list = write_source_list(folder, work / "sources.txt")
    clock = Clock()
    build_mode_shards("prod", source_list, work / "shards-prod", short)
    build_cpu, _ = clock.read()
    clock = Clock()
    result = pretrain_mode(work / "shards-prod", work / "pretrain-prod", short, "cpu")
    cpu, wall = clock.read()
    log(f"pre-training: build {build_cpu:.1f} s CPU; {steps} steps {cpu:.1f} s CPU, {wall:.1f} s wall")
    model, _ = load_model(result.model_path, "cpu")
    return model, build_cpu, cpu / steps


def measure_runs(model, tasks, scale, log):
    """Per method: CPU seconds per fine-tuning step; per task and method: per-image PSNRs; CPU
    seconds per evaluated test image and per FAIG."""
    from studies.finetuning import faig_for_task, finetune_and_score, input_psnrs, score_test_set
    from studies.reproduction import run_seed

    count = scale.max_train_count
    per_step: dict[str, list[float]] = {m: [] for m in METHODS}
    per_image: dict[str, dict[str, np.ndarray]] = {m: {} for m in METHODS}
    eval_costs, faig_costs = [], []
    for index, task in enumerate(tasks):
        seed = run_seed(scale, index, count)
        clock = Clock()
        score_test_set(model, task, "cpu")
        eval_costs.append(clock.read()[0] / len(task.test))
        clock = Clock()
        scores = faig_for_task(model, task, scale, seed, "cpu")
        faig_costs.append(clock.read()[0])
        for method in METHODS:
            clock = Clock()
            outcome = finetune_and_score(model, task, count, method, scale, seed, "cpu",
                                         scores=scores)
            cpu = clock.read()[0] - eval_costs[-1] * len(task.test)
            per_step[method].append(cpu / scale.finetune_steps)
            per_image[method][task.name] = np.asarray(outcome.per_image)
        log(f"{task.name}: " + ", ".join(f"{m} {per_image[m][task.name].mean():.2f} dB"
                                         for m in METHODS)
            + f" (input {np.mean(input_psnrs(task)):.2f} dB)")
    return ({m: float(np.mean(v)) for m, v in per_step.items()}, per_image,
            float(np.mean(eval_costs)), float(np.mean(faig_costs)))


def margins_over_input(per_image: dict, tasks) -> dict:
    """{method: {task: mean PSNR - mean input PSNR}}: whether each run beats the identity."""
    from studies.finetuning import input_psnrs

    inputs = {t.name: float(np.mean(input_psnrs(t))) for t in tasks}
    return {m: {t.name: float(per_image[m][t.name].mean()) - inputs[t.name] for t in tasks}
            for m in per_image}


def paired_sd(per_image: dict, a: str, b: str, tasks) -> float:
    """SD of per-image PSNR(a) - PSNR(b) pooled over tasks (what the report's SE divides)."""
    diffs = np.concatenate([per_image[a][t.name] - per_image[b][t.name] for t in tasks])
    return float(diffs.std(ddof=1))


def predicted_cpu_seconds(c: Candidate, costs: dict, arms_and_methods: int) -> float:
    runs = 5 * len(c.train_counts) * arms_and_methods
    step = float(np.mean(list(costs["step"].values())))
    return (3 * (costs["build"] + c.pretrain_steps * costs["pretrain_step"]) + 5 * costs["faig"]
            + runs * (c.finetune_steps * step + c.test_images / 5 * costs["eval_image"]))


CANDIDATES = (
    Candidate(600, 100, (16, 64), 30, 68),
    Candidate(600, 200, (16, 64), 30, 68),
    Candidate(600, 200, (32, 64), 30, 68),  # chosen: 16 pairs overfit PolyU at 100 passes
    Candidate(1000, 150, (16, 64), 30, 68),
    Candidate(1500, 150, (16, 64), 30, 68),
    Candidate(1500, 200, (16, 64), 30, 68),
    Candidate(2000, 200, (16, 64), 30, 68),
    Candidate(2000, 250, (16, 64), 30, 68),
    Candidate(1500, 200, (16, 32, 64), 30, 68),
    Candidate(3000, 300, (16, 64), 30, 68),
)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data_dir", type=click.Path(path_type=Path),
              help="The shared data folder (see bench/reproduce.py --help); needed unless "
                   "--table-only.")
@click.option("--scale", "scale_name", type=click.Choice(list(SCALES)), default="smoke", show_default=True,
              help="Base scale: model, batch, patch, crops and lr come from it.")
@click.option("--pretrain-steps", type=click.IntRange(min=1), default=200, show_default=True,
              help="Steps of the calibration's own PROD pre-training.")
@click.option("--finetune-steps", type=click.IntRange(min=1), default=60, show_default=True,
              help="Steps of the calibration's fine-tuning runs (one per task and method).")
@click.option("--cpu-share", type=click.FloatRange(min=0.05, max=1.0), default=1.0,
              show_default=True, help="Share of one core the real run is expected to get.")
@click.option("--extra-arms", type=click.IntRange(min=0), default=2, show_default=True,
              help="Confound arms the run adds to the 4 arms + 3 methods.")
@click.option("--work", type=click.Path(path_type=Path), default=Path("runs/calibrate"),
              show_default=True, help="Folder for the calibration's shards, model and "
                                      "measurements (calibration.json).")
@click.option("--table-only", is_flag=True,
              help="Measure nothing: print the table again from WORK/calibration.json.")
def main(data_dir, scale_name, pretrain_steps, finetune_steps, cpu_share, extra_arms, work,
         table_only):
    """Print predicted minutes and paired SEs of candidate CPU scales."""
    if table_only:
        try:
            measured = json.loads((work / "calibration.json").read_text())
        except (OSError, ValueError) as error:
            raise click.BadParameter(f"{work / 'calibration.json'}: {error}",
                                     param_hint="--work") from None
    elif data_dir is None:
        raise click.UsageError("--data is needed to measure (or pass --table-only)")
    else:
        from studies.datafolder import DataFolderError

        try:
            measured = measure(data_dir, scale_name, pretrain_steps, finetune_steps, work)
        except DataFolderError as error:
            raise click.ClickException(str(error)) from None
        from pipelines.files import write_text_atomically

        work.mkdir(parents=True, exist_ok=True)
        write_text_atomically(work / "calibration.json", json.dumps(measured, indent=1) + "\n")
    print_table(measured["costs"], measured["sds"], cpu_share, extra_arms,
                measured.get("batch", 8))


def measure(data_dir, scale_name, pretrain_steps, finetune_steps, work) -> dict:
    """{"costs": CPU seconds of each part, "sds": paired SD per claim} measured on this machine."""
    import torch

    from studies.datafolder import check_data_folder
    from studies.downstream import prepare_tasks
    from studies.scales import get_scale
    from trainer.numerics import flush_denormals

    flush_denormals()  # as bench/reproduce.py does, so the costs are the run's
    torch.set_num_threads(1)
    base = get_scale(scale_name)
    scale = replace(base, finetune_steps=finetune_steps, train_counts=(64,), polyu_test_count=30,
                    cbsd68_count=68, faig_pairs=min(base.faig_pairs, 64))
    log = lambda line: click.echo(line, err=True)  # noqa: E731
    folder = check_data_folder(data_dir, scale.cbsd68_count)
    tasks = prepare_tasks(folder, scale)
    model, build, pretrain_step = measure_pretrain(folder, scale, work, pretrain_steps, log)
    step, per_image, eval_image, faig = measure_runs(model, tasks, scale, log)
    costs = {"build": build, "pretrain_step": pretrain_step, "step": step,
             "eval_image": eval_image, "faig": faig}
    click.echo(f"CPU seconds: pre-training step {pretrain_step:.3f}, fine-tuning step "
               + ", ".join(f"{m} {s:.3f}" for m, s in step.items())
               + f", eval image {eval_image:.4f}, FAIG {faig:.1f}, shard build {build:.1f}")
    pairs = {"colora-full": ("colora", "full"), "colora-lora": ("colora", "lora"),
             "colora-decoder": ("colora", "decoder")}
    sds = {name: paired_sd(per_image, a, b, tasks) for name, (a, b) in pairs.items()}
    click.echo("paired SD per image (pooled over tasks): "
               + ", ".join(f"{k} {v:.3f}" for k, v in sds.items()))
    margins = margins_over_input(per_image, tasks)
    method, task = min(((m, t) for m in margins for t in margins[m]),
                       key=lambda mt: margins[mt[0]][mt[1]])
    click.echo(f"smallest margin over the input after {finetune_steps} fine-tuning steps from "
               f"{pretrain_steps} pre-training steps: {method} on {task} "
               f"{margins[method][task]:+.2f} dB")
    return {"costs": costs, "sds": sds, "margins": margins, "batch": scale.finetune_batch,
            "pretrain_steps": pretrain_steps, "finetune_steps": finetune_steps}


def print_table(costs: dict, sds: dict, cpu_share: float, extra_arms: int, batch: int) -> None:
    """One line per candidate; `epochs`: times a fine-tuning run sees its largest training set
    (steps x batch patches, one patch per training crop drawn)."""
    click.echo(f"\n{'pretrain':>8} {'ft steps':>8} {'counts':>16} {'epochs':>6} {'test':>5} "
               f"{'CPU min':>8} {'wall min':>8}  smallest gap resolved at 2 SE")
    for c in CANDIDATES:
        cpu = predicted_cpu_seconds(c, costs, 7 + extra_arms)
        epochs = c.finetune_steps * batch / max(c.train_counts)
        gaps = ", ".join(f"{k} {2 * v / np.sqrt(c.test_images):.3f}" for k, v in sds.items())
        click.echo(f"{c.pretrain_steps:>8} {c.finetune_steps:>8} {str(c.train_counts):>16} "
                   f"{epochs:>6.1f} {c.test_images:>5} {cpu / 60:>8.1f} "
                   f"{cpu / 60 / cpu_share:>8.1f}  {gaps}")


if __name__ == "__main__":
    main()
