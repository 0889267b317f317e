"""results.md from a results document: setup, tables, charts, hardware, and a reading against the
paper's claims, with paired per-image differences to say which gaps this run can resolve."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np

from pipelines.files import atomic_path, write_text_atomically
from studies import plots

PAPER_ARM_ORDER = ("prod", "fixed", "single", "random")  # the paper's few-shot ranking
FIGURES = {"pretraining_line": "pretraining-line.png", "pretraining_radar": "pretraining-radar.png",
           "finetuning": "finetuning.png"}


# ---------------------------------------------------------------- numbers

def mean_over_tasks(psnr: dict, count: int) -> dict[str, float]:
    """{arm: mean PSNR over tasks at `count` pairs}."""
    return {arm: float(np.mean([by_count[str(count)] for by_count in by_task.values()]))
            for arm, by_task in psnr.items()}


def paired_difference(runs: dict, a: str, b: str, count: int) -> tuple[float, float, int]:
    """Mean and standard error of per-image PSNR(a) - PSNR(b) at `count`, over all tasks' images."""
    diffs = np.concatenate([np.subtract(runs[a][task][str(count)]["per_image"],
                                        runs[b][task][str(count)]["per_image"])
                            for task in runs[a]])
    se = float(diffs.std(ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else math.inf
    return float(diffs.mean()), se, len(diffs)


def describe_gap(runs: dict, a: str, b: str, count: int, labels: dict) -> str:
    mean, se, n = paired_difference(runs, a, b, count)
    verdict = "resolved" if abs(mean) > 2 * se else "within 2 SE: not resolved"
    return (f"{labels[a]} - {labels[b]} = {mean:+.2f} dB (SE {se:.2f} over {n} paired test "
            f"images; {verdict})")


def gap_sign(runs: dict, a: str, b: str, count: int) -> int:
    """+1 if a beats b by more than 2 SE of the paired differences, -1 if b beats a, 0 if not
    resolved."""
    mean, se, _ = paired_difference(runs, a, b, count)
    return 0 if abs(mean) <= 2 * se else (1 if mean > 0 else -1)


# (study, a, b, what the paper finds: +1 a clearly better, 0 about equal)
PAPER_CLAIMS = (("pretraining", "prod", "random", 1), ("pretraining", "prod", "single", 1),
                ("pretraining", "prod", "fixed", 1), ("finetuning", "colora", "full", 0),
                ("finetuning", "colora", "lora", 1), ("finetuning", "colora", "decoder", 1))


# An equality claim agrees only when this run could have seen a gap of the paper's size
# (its paired gaps are 0.05-0.15 dB): unseparated with 2 SE above this is "not resolved".
EQUAL_WITHIN = 0.15


def claim_verdicts(results: dict, count: int) -> list[str]:
    """Each paired claim of the paper, checked at `count` pairs: agrees, disagrees or not
    resolved, with the measured gap and the smallest gap this run resolves (2 SE)."""
    lines = []
    for study, a, b, paper in PAPER_CLAIMS:
        labels = results[study]["labels"]
        mean, se, _ = paired_difference(results[study]["runs"], a, b, count)
        sign = gap_sign(results[study]["runs"], a, b, count)
        claim = (f"{labels[a]} > {labels[b]}" if paper > 0 else f"{labels[a]} = {labels[b]}")
        if sign == 0:
            found = ("not resolved" if paper or 2 * se > EQUAL_WITHIN else
                     f"within {EQUAL_WITHIN} dB, as the paper finds: agrees")
        else:
            winner, loser = (a, b) if sign > 0 else (b, a)
            found = (f"{labels[winner]} better than {labels[loser]}: "
                     + ("agrees" if sign == paper else "disagrees"))
        lines.append(f"paper {claim}; here {found} ({labels[a]} - {labels[b]} = {mean:+.2f} dB, "
                     f"smallest resolvable gap 2 SE = {2 * se:.2f} dB)")
    return lines


def confound_reading(results: dict, count: int) -> list[str]:
    """Each confound arm against the claim it tests and against the method it changes."""
    ft = results["finetuning"]
    labels, lines = ft["labels"], []
    for name, arm in ft.get("confound_arms", {}).items():
        other = {"CoLoRA = Full": "full", "CoLoRA > Decoder-only": "decoder",
                 "CoLoRA > LoRA": "lora"}.get(arm["checks"])
        change = (f"lr x{arm['lr_factor']:g}" if arm["lr_factor"] != 1.0 else
                  f"the parameter budget of {labels[arm['budget_of']]}")
        tuned = ft["tuned"][name]["percent"]
        gaps = [describe_gap(ft["runs"], name, arm["method"], count, labels)]
        if other:
            gaps.append(describe_gap(ft["runs"], name, other, count, labels))
        lines.append(f"{labels[name]} ({labels[arm['method']]} with {change}, {tuned:.1f}% of the "
                     f"model tuned; tests the paper's {arm['checks']}): " + "; ".join(gaps) + ".")
    return lines


def order_agreement(means: dict[str, float], paper_order: tuple[str, ...]) -> tuple[int, int]:
    """How many of the pairs in the paper's ranking the measured means order the same way."""
    pairs = [(paper_order[i], paper_order[j]) for i in range(len(paper_order))
             for j in range(i + 1, len(paper_order))]
    return sum(means[hi] > means[lo] for hi, lo in pairs), len(pairs)


# ---------------------------------------------------------------- tables

def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def average_table(psnr: dict, counts: list[int], labels: dict, lead: list[str] | None = None,
                  extra: dict | None = None) -> str:
    header = ["", *(lead or []), *[f"{c} pairs" for c in counts]]
    rows = [[labels[arm], *((extra or {}).get(arm, [])),
             *[f"{plots.average_curve(psnr[arm], counts)[i]:.2f}" for i in range(len(counts))]]
            for arm in psnr]
    return _table(header, rows)


def per_task_table(psnr: dict, tasks: list[dict], count: int, labels: dict) -> str:
    header = ["", *[t["label"] for t in tasks]]
    rows = [[labels[arm], *[f"{psnr[arm][t['name']][str(count)]:.2f}" for t in tasks]]
            for arm in psnr]
    rows.append(["*input (no restoration)*", *[f"{t['input_psnr']:.2f}" for t in tasks]])
    return _table(header, rows)


def setup_table(results: dict) -> str:
    s = results["scale"]
    rows = [
        ["model", f"`{s['model']}` ({results['model_params']:,} parameters)"],
        ["pre-training", f"{s['pretrain_pairs']} shard pairs of {s['pretrain_patch']}x"
                         f"{s['pretrain_patch']} per mode (bsds500/train + sun80 crops), "
                         f"{s['pretrain_steps']} steps, batch {s['pretrain_batch']}, lr "
                         f"{s['pretrain_lr']}; K={s['prod_k']}, N={s['prod_n']}"],
        ["fine-tuning", f"{s['finetune_steps']} steps, batch {s['finetune_batch']} of "
                        f"{s['finetune_patch']}x{s['finetune_patch']} patches from "
                        f"{s['train_crop']}x{s['train_crop']} training crops, lr "
                        f"{s['finetune_lr']}, same steps for every pair count "
                        f"({s['finetune_steps'] * s['finetune_batch']} patches drawn per run)"],
        ["CoLoRA", f"budget {100 * s['colora_budget']:.0f}% of the parameters; FAIG with "
                   f"{s['faig_steps']} integration steps on the first {s['faig_pairs']} "
                   f"training pairs, target = PROD model fully tuned {s['faig_target_steps']} "
                   "steps; LoRA: one rank for every layer, closest to the same budget"],
        ["evaluation", f"PolyU: first {s['polyu_test_count']} of the last 30 pairs by name; "
                       f"synthetic tasks: first {s['cbsd68_count']} CBSD68 images by name; "
                       + (f"centre crops of {s['eval_crop']}x{s['eval_crop']}"
                          if s['eval_crop'] else "whole images")
                       + "; PSNR on RGB 0-255, no border crop"],
        ["seed", str(s["seed"])],
    ]
    return _table(["", "setting"], rows)


def pretrain_table(results: dict) -> str:
    """Per pre-trained arm: shard pairs, steps, last logged training loss, time."""
    pre = results["pretraining"]
    rows = [[pre["labels"][arm], str(r["pairs"]), str(r["steps"]),
             "n/a" if r["final_loss"] is None else f"{-r['final_loss']:.2f}", f"{r['seconds']:.0f}"]
            for arm, r in pre["pretrain_runs"].items() if arm != "random"]
    return _table(["pre-training", "shard pairs", "steps", "last training PSNR (dB)",
                   "seconds (build + train)"], rows)


def task_table(tasks: list[dict]) -> str:
    rows = [[t["label"], t["description"], f"{len(t['test_images'])} x "
             f"{t['test_size'][1]}x{t['test_size'][0]}", f"{t['input_psnr']:.2f}"]
            for t in tasks]
    return _table(["task", "degradation", "test images", "input PSNR (dB)"], rows)


# ---------------------------------------------------------------- reading

def pretraining_reading(results: dict) -> list[str]:
    pre = results["pretraining"]
    counts, labels = results["counts"], pre["labels"]
    lines = []
    for count in (counts[0], counts[-1]):
        means = mean_over_tasks(pre["psnr"], count)
        order = " > ".join(labels[a] for a in sorted(means, key=means.get, reverse=True))
        agree, total = order_agreement(means, PAPER_ARM_ORDER)
        gaps = "; ".join(describe_gap(pre["runs"], "prod", other, count, labels)
                         for other in ("fixed", "single", "random"))
        lines.append(f"At {count} pairs the measured order is {order}; {agree} of the {total} "
                     "pairwise orderings of the paper's PROD > Fixed > Single > Random hold. "
                     f"{gaps}.")
    last = counts[-1]
    novel = "haze"
    if any(t["name"] == novel for t in results["tasks"]):
        per_arm = {a: pre["psnr"][a][novel][str(last)] for a in pre["psnr"]}
        best = max(per_arm, key=per_arm.get)
        lines.append(f"Novel task (haze, outside the pre-training pool) at {last} pairs: best arm "
                     f"{labels[best]} ({per_arm[best]:.2f} dB); PROD {per_arm['prod']:.2f} dB, "
                     f"Random init {per_arm['random']:.2f} dB.")
    return lines


def worse_than_input(results: dict, count: int) -> list[str]:
    """'arm on task' for every pre-training arm whose fine-tuned output at `count` pairs is worse
    than the degraded input (the scale is then too small to say much about that arm)."""
    pre = results["pretraining"]
    return [f"{pre['labels'][arm]} on {t['label']}" for arm in pre["psnr"] for t in results["tasks"]
            if pre["psnr"][arm][t["name"]][str(count)] <= t["input_psnr"]]


def scale_caveats(results: dict) -> list[str]:
    """What this scale cannot show, from its own numbers."""
    s, counts = results["scale"], results["counts"]
    drawn = s["finetune_steps"] * s["finetune_batch"]
    lines = [f"Each fine-tuning run draws {drawn} patches, {drawn / counts[-1]:.0f} per training "
             f"pair of the largest set ({counts[-1]} pairs)"
             + (": the larger sets are barely used, so differences along the pair-count axis "
                "are compressed here." if drawn < 2 * counts[-1] else ".")]
    if s["finetune_steps"] < 200:
        lines.append(f"Every method gets the same {s['finetune_steps']} steps at lr "
                     f"{s['finetune_lr']}. LoRA factors start with B = 0, so an adapted layer "
                     "moves only as B grows, while Full and Decoder-only move their weights "
                     "from the first step: a schedule this short favours them over LoRA and "
                     "CoLoRA.")
    tuned = results["finetuning"]["tuned"]
    ratio = tuned["decoder"]["percent"] / tuned["colora"]["percent"]
    if ratio > 1.5:
        lines.append(f"Decoder-only tunes {tuned['decoder']['percent']:.1f}% of this model "
                     f"({ratio:.1f} times CoLoRA's share; 6.7% in the paper's NAFNet-w32), so "
                     "it is not a same-budget comparison with CoLoRA and LoRA here.")
    for count in (counts[0], counts[-1]):
        worse = worse_than_input(results, count)
        lines.append(f"At {count} pairs, " + (
            "every pre-training arm, Random init included, beats the input on every task "
            "after fine-tuning." if not worse else
            "output no better than the input (too few steps to learn the identity mapping "
            f"plus a correction): {', '.join(worse)}."))
    return lines


def finetuning_reading(results: dict) -> list[str]:
    ft = results["finetuning"]
    counts, labels, tuned = results["counts"], ft["labels"], ft["tuned"]
    last = counts[-1]
    lines = [f"Tuned parameters: CoLoRA {tuned['colora']['percent']:.1f}%, LoRA "
             f"{tuned['lora']['percent']:.1f}%, Decoder-only {tuned['decoder']['percent']:.1f}%, "
             "Full 100% (paper, NAFNet-w32: 7.1%, 8.4%, 6.7%, 100%)."]
    for count in (counts[0], last):
        lines.append(f"At {count} pairs: " + "; ".join(
            describe_gap(ft["runs"], "colora", other, count, labels)
            for other in ("full", "lora", "decoder")) + ".")
    means = mean_over_tasks(ft["psnr"], last)
    lines.append("The paper finds CoLoRA about equal to Full and well above LoRA and "
                 "Decoder-only; here the mean over tasks at "
                 f"{last} pairs is " + ", ".join(f"{labels[m]} {means[m]:.2f} dB" for m in means)
                 + ".")
    return lines


# ---------------------------------------------------------------- files

def write_plots(results: dict, folder: Path) -> dict[str, Path]:
    """The three charts into `folder`; returns {figure key: path}."""
    pre, ft, counts = results["pretraining"], results["finetuning"], results["counts"]
    task_names = [t["name"] for t in results["tasks"]]
    label = f"({results['scale']['name']} scale)"
    return {
        "pretraining_line": plots.line_chart(
            pre["psnr"], counts, f"Pre-training study {label}, full fine-tuning",
            folder / FIGURES["pretraining_line"], pre["labels"], set_aside="random"),
        "pretraining_radar": plots.radar_chart(
            pre["psnr"], task_names, counts[-1], f"Pre-training study {label}",
            folder / FIGURES["pretraining_radar"], pre["labels"],
            {t["name"]: t["label"] for t in results["tasks"]}, set_aside="random"),
        "finetuning": plots.finetuning_chart(
            ft["psnr"], counts, {m: v["percent"] for m, v in ft["tuned"].items()},
            folder / FIGURES["finetuning"], ft["labels"]),
    }


def copy_figures(figures: dict[str, Path], folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    copies = {}
    for key, source in figures.items():
        target = folder / source.name
        with atomic_path(target) as partial:
            shutil.copyfile(source, partial)
        copies[key] = target
    return copies


def load_note(hw: dict, wall: float | None = None, cpu: float | None = None) -> str:
    """How busy the machine was: the wall time is only comparable between equally idle runs."""
    start, end = hw.get("load_average_1min_at_start"), hw.get("load_average_1min")
    if start is None or end is None:
        return ""
    note = (f" The 1-minute load average was {start:.1f} at the start and {end:.1f} at the end "
            f"on {hw['cores']} cores" + (": other processes shared the CPU, so this wall time "
                                          "overstates an idle machine's." if max(start, end)
                                         > hw["cores"] else "."))
    if wall and cpu:
        note += (f" The run used {cpu / 60:.1f} CPU minutes, {100 * cpu / wall:.0f}% of one core "
                 "on average over its wall time.")
    return note


def confound_section(results: dict, count: int) -> list[str]:
    lines = confound_reading(results, count)
    if not lines:
        return []
    return [f"Confound arms at {count} pairs (one recipe change each, same tasks, seeds, steps "
            "and batches):", "\n".join(f"- {line}" for line in lines)]


SCALE_INTROS = {
    "smoke": "**Smoke scale**: a tiny model and a few dozen optimisation steps on a CPU. It proves "
             "that the whole pipeline runs end to end on real photographs; its numbers are far "
             "from converged, so read the agreements and disagreements below as facts about this "
             "small run, not as a test of the paper.",
    "medium": "**Medium scale**: the CPU scale sized (with `bench/calibrate_scale.py`) so that "
              "its numbers mean something: fine-tuning runs that see their largest training set "
              "many times, and test sets large enough to state, for each of the paper's claims, "
              "the smallest gap this run resolves. The "
              "model is still tiny (NAFNet width 8), so read it as evidence about the method "
              "on a small network, not as the paper's numbers.",
    "lite": "**Lite scale**: one GPU, a small NAFNet, a few thousand pre-training steps.",
    "gpu": "**GPU scale**: one H200 run of at most 9 minutes, NAFNet width 16.",
}


def scale_intro(name: str) -> str:
    if name.endswith(" dry run"):
        return (f"**A dry run of the {name.removesuffix(' dry run')} scale** (`--dry-run`): its "
                "model, crops, batches, counts and arms with almost no steps, to check the "
                "configuration. Its numbers mean nothing.")
    return SCALE_INTROS.get(name, SCALE_INTROS["smoke"])


def render(results: dict, figure_links: dict[str, str]) -> str:
    """The Markdown text of the report."""
    hw, scale = results["hardware"], results["scale"]
    pre, ft, counts = results["pretraining"], results["finetuning"], results["counts"]
    device = hw.get("gpu", hw["device"])
    tuned = {m: [f"{v['mean']:,.0f}", f"{v['percent']:.1f}%"] for m, v in ft["tuned"].items()}
    parts = [
        f"# Reproduction of the CoLoRA paper's ablations ({scale['name']} scale)",
        f"Written by `bench/reproduce.py` from a run finished {results['finished_utc']}. "
        + scale_intro(scale["name"]),
        "## How it was run",
        f"```\n{results['command']}\n```",
        f"Hardware: {hw['cpu']}, {hw['cores']} cores (torch threads {hw['torch_threads']}); "
        f"device {device}; torch {hw['torch']}, Python {hw['python']}. Wall time "
        f"{results['wall_seconds'] / 60:.1f} min for everything below."
        + load_note(hw, results["wall_seconds"], results.get("cpu_seconds")),
        setup_table(results),
        "The training PSNR is minus the PSNR loss on the last logged batches of pre-training "
        "patches; chains differ per arm, so it measures how hard each arm's data is more than "
        "how good its model is.",
        pretrain_table(results),
        "## Tasks",
        "Training pairs are crops; the N-pair training set is the first N of them (nested). "
        "PolyU: first 70 pairs by name for training (pair i from image i mod 70), last 30 for "
        "testing. Synthetic tasks: clean crops of bsds500/train and sun80 (training) and CBSD68 "
        "(testing), degraded by the engine with fixed seeds.",
        task_table(results["tasks"]),
        "## 1. Pre-training study (full fine-tuning from each initialisation)",
        "Mean PSNR (dB) over the five tasks:",
        average_table(pre["psnr"], counts, pre["labels"]),
        f"Per-task PSNR (dB) at {counts[-1]} pairs:",
        per_task_table(pre["psnr"], results["tasks"], counts[-1], pre["labels"]),
        f"![pre-training line chart]({figure_links['pretraining_line']}) "
        f"![pre-training radar chart]({figure_links['pretraining_radar']})",
        "## 2. Fine-tuning study (from the PROD model)",
        "Mean PSNR (dB) over the five tasks, with the tuned parameters (mean over runs; CoLoRA's "
        "count varies with each task's FAIG scores):",
        average_table(ft["psnr"], counts, ft["labels"], ["tuned params", "% of model"], tuned),
        f"Per-task PSNR (dB) at {counts[-1]} pairs:",
        per_task_table(ft["psnr"], results["tasks"], counts[-1], ft["labels"]),
        f"![fine-tuning comparison]({figure_links['finetuning']})",
        "## Reading",
        f"In short, the paper's claims checked at {counts[-1]} pairs (a gap is resolved "
        "when it exceeds 2 SE of the paired per-image differences):",
        "\n".join(f"- {line}" for line in claim_verdicts(results, counts[-1])),
        "Pre-training study:",
        "\n".join(f"- {line}" for line in pretraining_reading(results)),
        "Fine-tuning study:",
        "\n".join(f"- {line}" for line in finetuning_reading(results)),
        *confound_section(results, counts[-1]),
        "SE is the standard error of the mean paired per-image difference (same test images, "
        "same fine-tuning batches); a gap within 2 SE is not resolved by this run.",
    ]
    caveats = scale_caveats(results)
    if caveats:
        parts += ["Limits of this scale:", "\n".join(f"- {line}" for line in caveats)]
    if results.get("notes"):
        parts += ["## Notes", results["notes"]]
    return "\n\n".join(parts) + "\n"


def write_report(results: dict, out: Path, report: Path) -> Path:
    """Charts into `out` and beside the report (REPORT_STEM/), then the report itself."""
    figures = write_plots(results, out)
    copies = copy_figures(figures, report.parent / report.stem)
    links = {key: path.relative_to(report.parent).as_posix() for key, path in copies.items()}
    write_text_atomically(report, render(results, links))
    return report
