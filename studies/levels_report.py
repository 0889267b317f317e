"""docs/levels.md from the level study's results: per-level tables, the PSNR-vs-level chart,
parameter counts, inference cost, each target of issue 13 labelled met / missed / not resolved
with paired per-image standard errors, the command and the hardware."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pipelines.files import atomic_path, write_text_atomically
from studies.levels import ARM_LABELS

FIGURE = "levels-psnr.png"
TABLE_ARMS = ("input", "base", "blind", "dedicated", "levels", "levels-full", "levels-est")
CHART_ARMS = ("base", "blind", "levels", "levels-full", "levels-est")
TARGET_DEDICATED_DB, TARGET_ESTIMATED_DB = 0.15, 0.2


# ---------------------------------------------------------------- numbers

def paired(a, b) -> tuple[float, float, int]:
    """Mean and standard error of the per-image differences a - b (lists of equal length)."""
    diffs = np.subtract(np.concatenate([np.asarray(x, float) for x in a]),
                        np.concatenate([np.asarray(x, float) for x in b]))
    se = float(diffs.std(ddof=1) / math.sqrt(diffs.size)) if diffs.size > 1 else math.inf
    return float(diffs.mean()), se, int(diffs.size)


def at_least(mean: float, se: float, bound: float) -> str:
    """Whether a gap is >= bound: met / missed when 2 SE clear of it, else not resolved."""
    if mean - 2 * se >= bound:
        return "met"
    if mean + 2 * se < bound:
        return "missed"
    return f"not resolved (within 2 SE = {2 * se:.2f} dB of the bound)"


def within(mean: float, se: float, bound: float) -> str:
    """|gap| <= bound: met / missed when 2 SE clear, else not resolved."""
    if abs(mean) + 2 * se <= bound:
        return "met"
    if abs(mean) - 2 * se > bound:
        return "missed"
    return f"not resolved (within 2 SE = {2 * se:.2f} dB of the bound)"


def trained_keys(task: dict) -> list[str]:
    return [f"{v:g}" for v in task["task"]["trained"]]


def sweep_keys(task: dict) -> list[str]:
    return [f"{v:g}" for v in task["task"]["sweep"]]


def target_rows(name: str, task: dict, estimator_span: float = 1.0) -> list[tuple[str, str, str]]:
    """(target, figures, verdict) for one task; estimator_span: the highest level (degrade's
    linear scale) the estimator was trained on."""
    psnr, trained = task["psnr"], trained_keys(task)
    rows = []
    mean, se, n = paired([psnr["levels"][k] for k in trained], [psnr["dedicated"][k] for k in trained])
    rows.append((f"{name}: levels within {TARGET_DEDICATED_DB} dB of the dedicated adapters "
                 f"(mean over the trained levels)",
                 f"levels - dedicated = {mean:+.3f} dB (SE {se:.3f}, {n} pairs)",
                 at_least(mean, se, -TARGET_DEDICATED_DB)))
    verdicts = []
    worst = (math.inf, 0.0, "")
    for key in sweep_keys(task):
        m, s, _ = paired([psnr["levels"][key]], [psnr["blind"][key]])
        verdicts.append(at_least(m, s, 0.0).split(" ")[0])
        if m < worst[0]:
            worst = (m, s, key)
    count = {v: verdicts.count(v) for v in ("met", "missed", "not")}
    overall = "met" if count["met"] == len(verdicts) else (
        "missed" if count["missed"] else "not resolved at every level")
    rows.append((f"{name}: levels at or above the blind adapter at every level of the sweep",
                 f"above (2 SE) at {count['met']} of {len(verdicts)} levels, below at "
                 f"{count['missed']}, not resolved at {count['not']}; smallest gap "
                 f"{worst[0]:+.3f} dB (SE {worst[1]:.3f}) at {worst[2]}", overall))
    mean, se, n = paired([psnr["levels-est"][k] for k in sweep_keys(task)],
                         [psnr["levels"][k] for k in sweep_keys(task)])
    rows.append((f"{name}: estimated c within {TARGET_ESTIMATED_DB} dB of the true c (mean over "
                 f"the sweep)", f"estimated - true = {mean:+.3f} dB (SE {se:.3f}, {n} pairs)",
                 within(mean, se, TARGET_ESTIMATED_DB)))
    inside = [k for k in sweep_keys(task) if _estimator_range_ok(task, k, estimator_span)]
    if inside and len(inside) < len(sweep_keys(task)):
        m, s, n = paired([psnr["levels-est"][k] for k in inside], [psnr["levels"][k] for k in inside])
        rows.append((f"{name}: the same, only levels the estimator was trained on "
                     f"({_span(inside, task)})", f"estimated - true = {m:+.3f} dB (SE {s:.3f}, "
                     f"{n} pairs)", within(m, s, TARGET_ESTIMATED_DB)))
    full_mean, full_se, _ = paired([psnr["levels-full"][k] for k in trained],
                                   [psnr["dedicated"][k] for k in trained])
    rows.append((f"{name}: levels-full beside it (reported)",
                 f"levels-full - dedicated = {full_mean:+.3f} dB (SE {full_se:.3f}); "
                 f"{task['tuned']['levels-full']:,} tuned parameters vs levels "
                 f"{task['tuned']['levels']:,}", "reported"))
    return rows


def _estimator_range_ok(task: dict, key: str, span: float = 1.0) -> bool:
    """Whether the level lies in the range the estimator was trained on: levels 0..span on
    degrade's linear scale (1: the op's sampled range)."""
    scale = task["scale"]
    level = (float(key) - scale["zero"]) / (scale["full"] - scale["zero"])
    return 0.0 <= level <= span


def _span(keys: list[str], task: dict) -> str:
    return f"{task['scale']['symbol']} {keys[0]}..{keys[-1]}"


# ---------------------------------------------------------------- text

def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def level_table(task: dict) -> str:
    psnr, trained = task["psnr"], set(trained_keys(task))
    lo, hi = task["scale"]["low"], task["scale"]["high"]
    header = [task["scale"]["symbol"]] + [ARM_LABELS[a] for a in TABLE_ARMS] + ["estimated level"]
    rows = []
    for key in sweep_keys(task):
        mark = " (trained)" if key in trained else (
            " (extrapolated)" if not lo <= float(key) <= hi else "")
        cells = [f"{np.mean(psnr[a][key]):.2f}" if key in psnr[a] else "" for a in TABLE_ARMS]
        estimated = task["estimated"][key]
        rows.append([key + mark, *cells, f"{np.mean(estimated):.1f} (MAE "
                     f"{np.mean(np.abs(np.subtract(estimated, float(key)))):.1f})"])
    return _table(header, rows)


def parameter_table(results: dict) -> str:
    rows = []
    for name, task in results["tasks"].items():
        total = task["model_params"]
        for arm in ("dedicated", "blind", "levels", "levels-full"):
            tuned = task["tuned"][arm]
            note = " each (x4 adapters)" if arm == "dedicated" else ""
            rows.append([name, ARM_LABELS[arm], f"{tuned:,}{note}", f"{100 * tuned / total:.1f}%"])
    return _table(["task", "arm", "tuned parameters", "of the model"], rows)


def inference_table(results: dict) -> str:
    rows = []
    for name, task in results["tasks"].items():
        cost = task["inference"]
        for arm in ("colora", "levels", "levels-full"):
            row = cost[arm]
            rows.append([name, arm, f"{1000 * row['one']:.1f}", f"{1000 * row['batch4']:.1f}",
                         f"{row.get('ratio_one', 1.0):.2f}", f"{row.get('ratio_batch4', 1.0):.2f}"])
    size = results["config"]["timing_size"]
    return _table(["task", "adapter", f"1 image {size}px (ms)", "4 images, one c each (ms)",
                   "ratio vs CoLoRA (1 image)", "ratio vs CoLoRA (batch of 4)"], rows)


def setup_table(results: dict) -> str:
    config = results["config"]
    keys = ("model", "pretrain_steps", "pretrain_batch", "pretrain_patch", "train_crops",
            "patch", "level_steps", "level_crops",
            "eval_count", "eval_crop", "budget", "faig_steps", "level_centre", "seed")
    return _table(["setting", "value"], [[k, str(config[k])] for k in keys if k in config])


def _rerun_note(results: dict) -> str:
    rerun = results.get("rerun")
    if not rerun:
        return ""
    arms = rerun.get("arms", ["dedicated"])
    named = ", ".join(ARM_LABELS[a] for a in arms) + (
        f" and {ARM_LABELS['levels-est']}" if "levels" in arms else "")
    return (f" Then {named} were trained and scored again "
            f"(`{rerun.get('command', '--rerun ' + ','.join(arms))}`): "
            f"{rerun['wall_seconds'] / 60:.1f} min, {rerun['cpu_seconds'] / 60:.1f} CPU min; "
            f"the other arms are the first run's.")


def _rescore_note(results: dict) -> str:
    rescore = results.get("rescore")
    if not rescore:
        return ""
    previous = next(iter(results["tasks"].values())).get("previous_estimate", {})
    return (f" The estimated-c arm was then scored again with the estimator "
            f"{results['estimator']} (`{rescore.get('command', '--rescore-estimate')}`; the "
            f"run's was {previous.get('estimator', 'another')}): "
            f"{rescore['wall_seconds'] / 60:.1f} min, {rescore['cpu_seconds'] / 60:.1f} CPU min.")


def render(results: dict, command: str, figure: str, notes: str = "") -> str:
    hw = results["hardware"]
    config = results["config"]
    lines = [
        "# Level-conditioned adapters: one adapter for every strength of a degradation",
        "",
        f"Configuration `{config['name']}` of `bench/levels.py` (issue 13; the hyper-network "
        "paper's `k = c w + b` as adapters, `trainer/adapters/levels.py`). Arms: one dedicated "
        "CoLoRA adapter per trained level; one blind CoLoRA adapter trained on all trained "
        "levels without c; `levels` (B0A0 + c B1A1 at FAIG ranks, both terms in the 7% budget) "
        "and `levels-full` (W0 + c W1 on every parameter) with the true c; `levels` with c from "
        "the degradation estimator (as `--level auto`, clipped to the trained range); the "
        "pre-trained base alone. Blind and the level arms see every crop of a batch at each "
        "trained level (the paper's recipe); each dedicated adapter is trained with the same "
        "schedule (steps and images per step) at its one level. Every arm is scored on the same degraded CBSD68 centre crops, so "
        "gaps are paired per image; a target is *met* or *missed* only when the gap clears it "
        "by two standard errors.",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Hardware: {hw['cpu']}, {hw['cores']} cores, torch {hw['torch']} on "
        f"{hw['torch_threads']} thread(s), device {hw['device']}"
        + (f" ({hw['gpu']})" if hw.get("gpu") else "") + f". Wall time "
        f"{results['wall_seconds'] / 60:.1f} min, {results['cpu_seconds'] / 60:.1f} CPU min "
        f"(1-minute load average {hw.get('load_average_1min_at_start', float('nan')):.1f} at "
        f"the start, {hw['load_average_1min']:.1f} at the end)." + _rerun_note(results)
        + _rescore_note(results),
        "",
        "## Targets",
        "",
        _table(["target", "measured", "verdict"],
               [list(row) for name, task in results["tasks"].items()
                for row in target_rows(name, task, results.get("estimator_span", 1.0))]),
        "",
        f"![PSNR against the level]({figure})",
        "",
    ]
    if notes.strip():
        lines += ["## Reading", "", notes.strip(), ""]
    for name, task in results["tasks"].items():
        lines += [f"## {name}: mean PSNR (dB) per level, {len(results['images'])} CBSD68 crops",
                  "", level_table(task), ""]
    lines += USAGE + ["## Tuned parameters", "", parameter_table(results), "",
              "## Inference cost", "",
              "Median forward time on this machine. With one c for the batch a level adapter's "
              "weights are composed once per c and cached, so it costs what a merged model "
              "does; a c per image runs the grouped per-image path.", "",
              inference_table(results), "", "## Setup", "", setup_table(results), ""]
    return "\n".join(lines)


USAGE = [
    "## Using a level adapter", "",
    "```bash",
    "trainer colora --task noise --method levels --levels 15,35,55,75    # the paper's recipe",
    "trainer colora --task jpeg --method levels --level-range 10:80      # c drawn per image",
    "trainer colora --task noise --method levels --data real/ --level-labels sigmas.csv",
    "trainer restore runs/pretrain noisy.png --adapter A --level 25 --out r/     # sigma 25",
    "trainer restore runs/pretrain noisy/ --adapter A --level auto --out r/      # estimator",
    "trainer eval runs/pretrain --data pairs/ --adapter A --level 30",
    "trainer sweep runs/pretrain noisy.png --adapter A --levels 15:75:5 --out sweep.html",
    "```", "",
    "Levels are in the op's natural units (noise sigma on 0-255, JPEG quality; `25sigma`, "
    "`30quality` also work). A level outside the trained range is refused unless "
    "`--extrapolate`; `--level auto` keeps the estimate inside it. The GPU configuration "
    "(`--config cuda`, sized for one 9-minute H200 run) writes docs/levels-cuda.md once run.",
    "",
]


# ---------------------------------------------------------------- chart

def chart(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = results["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for axis, (name, task) in zip(axes[0], tasks.items()):
        keys = sweep_keys(task)
        x = [float(k) for k in keys]
        for arm in CHART_ARMS:
            axis.plot(x, [np.mean(task["psnr"][arm][k]) for k in keys], marker=".",
                      label=ARM_LABELS[arm])
        trained = trained_keys(task)
        axis.plot([float(k) for k in trained], [np.mean(task["psnr"]["dedicated"][k])
                                                for k in trained],
                  "k*", markersize=11, label=ARM_LABELS["dedicated"])
        axis.set_xlabel(task["scale"]["unit"])  # "sigma at mid-grey (0-255)", "quality"
        axis.set_ylabel("PSNR (dB)")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        if task["scale"]["zero"] > task["scale"]["full"]:
            axis.invert_xaxis()  # JPEG: stronger to the right
        axis.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as partial:
        fig.savefig(partial, dpi=90, format="png")
    plt.close(fig)
    return path


def write_report(results: dict, report: Path, command: str, notes: str = "") -> Path:
    """The report and its chart (beside it, in a folder named after it); notes: a reading
    written after the run, placed after the targets."""
    folder = report.parent / report.stem
    folder.mkdir(parents=True, exist_ok=True)
    chart(results, folder / FIGURE)
    write_text_atomically(report, render(results, command, f"{report.stem}/{FIGURE}", notes))
    return report
