"""docs/composition.md from the composition study's results: setup, router selection, the arms
per mixed set, paired differences with standard errors, each target of issue 12 met or missed,
and two charts."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pipelines.files import atomic_path, write_text_atomically
from studies.report import _table, load_note

ORACLE_WITHIN = 0.3  # dB: the "within 0.3 dB of oracle weights"
ARM_LABELS = {
    "input": "input (no restoration)", "base": "base model", "best-single": "best single adapter "
    "(per set)", "best-single-oracle": "best single per image (oracle)", "uniform":
    "uniform average", "cascade": "cascade (estimated order)", "oracle": "composed, oracle "
    "weights", "auto-top1": "composed, estimated, top-1", "auto-top2": "composed, estimated, "
    "top-2", "auto-all": "composed, estimated, all", "colora-mix": "CoLoRA on the mixture "
    "(upper bound)", "full-mix": "full fine-tuning on the mixture (upper bound)"}
FIGURES = {"arms": "arms.png", "weights": "weights.png"}


# ---------------------------------------------------------------- numbers

def with_best_single(result_set: dict, adapters: list[str]) -> dict:
    """The set's arms plus "best-single": the single adapter with the best mean on this set."""
    arms = dict(result_set["arms"])
    best = max(adapters, key=lambda name: np.mean(arms[f"single:{name}"]))
    arms["best-single"] = arms[f"single:{best}"]
    return {**result_set, "arms": arms, "best_single_name": best}


def sets_of(results: dict) -> list[dict]:
    return [with_best_single(s, results["adapters"]) for s in results["sets"]]


def label(arm: str) -> str:
    if arm.startswith("single:"):
        return f"{arm.split(':', 1)[1]} adapter"
    return ARM_LABELS.get(arm, arm)


def paired(sets: list[dict], a: str, b: str) -> tuple[float, float, int]:
    """Mean and standard error of per-image PSNR(a) - PSNR(b) over the sets' images."""
    diffs = np.concatenate([np.subtract(s["arms"][a], s["arms"][b]) for s in sets])
    se = float(diffs.std(ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else math.inf
    return float(diffs.mean()), se, len(diffs)


def auto_arm(results: dict) -> str:
    """The estimated-weights arm with the router's chosen top-K (the default)."""
    top_k = results["router_selection"]["best"]["top_k"]
    return {1: "auto-top1", 2: "auto-top2"}.get(top_k, "auto-all")


def above_verdict(mean: float, se: float) -> str:
    if mean > 2 * se:
        return "met"
    if mean < -2 * se:
        return "missed"
    return f"not resolved (2 SE {2 * se:.2f} dB)"


def within_verdict(mean: float, se: float, within: float = ORACLE_WITHIN) -> str:
    """met when the whole 2-SE interval of the gap lies above -within, missed when it lies
    below, else not resolved."""
    if mean - 2 * se > -within:
        return "met"
    if mean + 2 * se < -within:
        return "missed"
    return f"not resolved (2 SE {2 * se:.2f} dB)"


def targets(results: dict) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) over every test image of every mixed set."""
    sets, auto = sets_of(results), auto_arm(results)
    rows = []
    for other, text in (("best-single", "above the best single adapter"),
                        ("uniform", "above the uniform average")):
        mean, se, n = paired(sets, auto, other)
        rows.append((f"estimated weights {text}", f"{mean:+.2f} dB (SE {se:.2f}, {n} images)",
                     above_verdict(mean, se)))
    mean, se, n = paired(sets, auto, "oracle")
    rows.append((f"estimated weights within {ORACLE_WITHIN} dB of oracle weights",
                 f"{mean:+.2f} dB (SE {se:.2f}, {n} images)", within_verdict(mean, se)))
    for bound in ("colora-mix", "full-mix"):
        mean, se, n = paired(sets, auto, bound)
        rows.append((f"gap to {label(bound)}", f"{mean:+.2f} dB (SE {se:.2f}, {n} images)",
                     "reported"))
    return rows


# ---------------------------------------------------------------- tables

ARM_ORDER = ("input", "base", "best-single", "best-single-oracle", "uniform", "cascade", "oracle",
             "auto-top1", "auto-top2", "auto-all", "colora-mix", "full-mix")


def arms_table(results: dict) -> str:
    sets = sets_of(results)
    header = ["arm", *[s["mixture"] + " " + s["strength"] for s in sets], "mean"]
    arms = [*ARM_ORDER[:2], *[f"single:{n}" for n in results["adapters"]], *ARM_ORDER[2:]]
    rows = []
    for arm in arms:
        means = [float(np.mean(s["arms"][arm])) for s in sets]
        rows.append([label(arm), *[f"{m:.2f}" for m in means], f"{np.mean(means):.2f}"])
    rows.append(["*best single is*", *[s["best_single_name"] for s in sets], ""])
    return _table(header, rows)


def gaps_table(results: dict) -> str:
    sets, auto = sets_of(results), auto_arm(results)
    others = ("best-single", "best-single-oracle", "uniform", "cascade", "oracle", "colora-mix",
              "full-mix")
    header = ["set", *[f"- {label(o)}" for o in others]]
    rows = []
    for s in [*[[s] for s in sets], sets]:
        name = "all sets" if len(s) > 1 else f"{s[0]['mixture']} {s[0]['strength']}"
        cells = []
        for other in others:
            mean, se, _ = paired(s, auto, other)
            cells.append(f"{mean:+.2f} ({se:.2f})")
        rows.append([name, *cells])
    return _table(header, rows)


def selection_table(results: dict) -> str:
    grid = results["router_selection"]["grid"]
    settings = []
    for row in grid:
        key = (row["similarity"], row["normalise"], row["temperature"])
        if key not in settings:
            settings.append(key)
    best = results["router_selection"]["best"]
    reference = next(r for r in grid if all(r[k] == best[k] for k in best))
    rows = []
    for similarity, normalise, temperature in settings:
        cells = []
        for top_k in (1, 2, 0):
            row = next(r for r in grid if (r["similarity"], r["normalise"], r["temperature"],
                                           r["top_k"]) == (similarity, normalise, temperature,
                                                           top_k))
            diff = np.subtract(row["per_image"], reference["per_image"])
            se = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else math.inf
            mark = "**" if row is reference else ""
            cells.append(f"{mark}{row['psnr']:.2f}{mark} ({diff.mean():+.2f}, SE {se:.2f})")
        norm = f"softmax T={temperature:g}" if normalise == "softmax" else normalise
        rows.append([similarity, norm, *cells])
    return _table(["similarity", "normalise", "top-1", "top-2", "all"], rows)


def single_tasks_table(results: dict) -> str:
    """Each task adapter alone on its own single degradation: input, base, adapter and the
    paired gains."""
    rows = []
    for family, arms in results["single_tasks"].items():
        cells = [f"{np.mean(arms[arm]):.2f}" for arm in ("input", "base", "adapter")]
        for other in ("base", "input"):
            diff = np.subtract(arms["adapter"], arms[other])
            se = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else math.inf
            cells.append(f"{diff.mean():+.2f} ({se:.2f})")
        rows.append([family, str(len(arms["adapter"])), *cells])
    return _table(["task", "images", "input", "base model", "its adapter",
                   "adapter - base (SE)", "adapter - input (SE)"], rows)


def setup_table(results: dict) -> str:
    from trainer.mixtures import MIXTURES, STRENGTHS

    c = results["config"]
    tasks = ", ".join(f"{t['name']} ({', '.join(t['ops'])})" for t in results["adapter_tasks"])
    bands = "; ".join(f"{name} levels {low:.2f}-{high:.2f}" for name, (low, high)
                      in STRENGTHS.items())
    rows = [
        ["model", f"`{c['model']}`, PROD pre-trained ({c['pretrain_pairs']} shard pairs of "
                  f"{c['pretrain_patch']}x{c['pretrain_patch']} from bsds500/train + sun80, "
                  f"{c['pretrain_steps']} steps, batch {c['pretrain_batch']})"],
        ["task adapters", f"CoLoRA ({100 * c['colora_budget']:.0f}% budget, FAIG "
                          f"{c['faig_target_steps']} target + {c['faig_steps']} integration "
                          f"steps on {c['faig_pairs']} pairs), one per task: {tasks}; "
                          f"{c['train_pairs']} training crops of {c['train_crop']}x"
                          f"{c['train_crop']}, each degraded once by one op of the task over "
                          f"the sampler's whole range; {c['adapter_steps']} steps, batch "
                          f"{c['batch']} of {c['patch']}x{c['patch']}, lr {c['colora_lr']}"],
        ["upper bounds", f"per mixture, the same crops degraded by the mixture (half light, "
                         f"half heavy): one CoLoRA adapter (same recipe) and full fine-tuning "
                         f"({c['adapter_steps']} steps, lr {c['full_lr']})"],
        ["mixed test sets", f"{', '.join(MIXTURES)}; {bands}; one op per family at a level in "
                            f"the band, applied blur, rain, noise, JPEG in that order"],
        ["images", f"CBSD68 centre crops of {c['eval_crop'] or 'whole'} px: first "
                   f"{c['val_images']} by name choose the router (validation), the next "
                   f"{c['test_images']} are the test images of every set"],
        ["estimator", f"`{results['estimator']}`"],
        ["seed", str(c["seed"])],
    ]
    return _table(["", "setting"], rows)


def band_table() -> str:
    """Each strength's level band in every task op's natural unit."""
    from degrade.registry import OPS
    from trainer.mixtures import STRENGTHS
    from trainer.tasks import TASKS

    rows = []
    for family, ops in TASKS.items():
        for name in ops:
            severity = OPS[name].severity
            cells = [f"{severity.natural(low):.3g} - {severity.natural(high):.3g}"
                     for low, high in STRENGTHS.values()]
            rows.append([family, f"`{name}`", severity.unit, *cells])
    return _table(["family", "op", "unit", *STRENGTHS], rows)


# ---------------------------------------------------------------- charts

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def arms_chart(results: dict, path: Path) -> Path:
    """Mean PSNR gain over the input per set, for the main arms."""
    plt = _plt()
    sets = sets_of(results)
    arms = ("base", "best-single", "uniform", "cascade", "oracle", auto_arm(results),
            "colora-mix", "full-mix")
    figure, axis = plt.subplots(figsize=(12, 4.2))
    width = 0.8 / len(arms)
    x = np.arange(len(sets))
    for i, arm in enumerate(arms):
        gains = [np.mean(np.subtract(s["arms"][arm], s["arms"]["input"])) for s in sets]
        axis.bar(x + (i - len(arms) / 2 + 0.5) * width, gains, width, label=label(arm))
    axis.set_xticks(x, [f"{s['mixture']}\n{s['strength']}" for s in sets], fontsize=8)
    axis.set_ylabel("PSNR gain over the input (dB)")
    axis.axhline(0, color="black", linewidth=0.6)
    axis.legend(fontsize=7, ncol=4)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return _save(figure, plt, path)


def weights_chart(results: dict, path: Path) -> Path:
    """Mean weight of each adapter per set: oracle beside estimated (all adapters)."""
    plt = _plt()
    sets = results["sets"]
    names = results["adapters"]
    figure, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
    for axis, arm in zip(axes, ("oracle", "auto-all")):
        bottom = np.zeros(len(sets))
        for i, name in enumerate(names):
            values = np.array([s["mean_weights"][arm][i] for s in sets])
            axis.bar(range(len(sets)), values, bottom=bottom, label=name)
            bottom += values
        axis.set_xticks(range(len(sets)), [f"{s['mixture']}\n{s['strength']}" for s in sets],
                        fontsize=7, rotation=45)
        axis.set_title(label(arm), fontsize=9)
    axes[0].set_ylabel("mean adapter weight")
    axes[1].legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, plt, path)


def _save(figure, plt, path: Path) -> Path:
    with atomic_path(path) as partial:
        figure.savefig(partial, dpi=90, format="png")
    plt.close(figure)
    return path


# ---------------------------------------------------------------- the report

def reused_note(results: dict) -> list[str]:
    reused = results.get("reused") or []
    if not reused:
        return []
    return [f"Reused from an earlier run of this configuration in the same work folder (same "
            f"code, seed and data; not trained again, so their CPU time is not counted): "
            f"{', '.join(f'`{name}`' for name in reused)}."]


def render(results: dict, figures: dict[str, str], notes: str | None = None) -> str:
    hw = results.get("hardware", {})
    cpu = results.get("process_cpu_seconds")
    wall = results.get("wall_seconds")
    best = results["router_selection"]["best"]
    norm = (f"softmax T={best['temperature']:g}" if best["normalise"] == "softmax"
            else best["normalise"])
    top = f"top-{best['top_k']}" if best["top_k"] else "all adapters"
    parts = [
        "# Composing task adapters on mixed degradations (issue 12)",
        "",
        f"Written by `bench/compose.py` from a run finished {results.get('finished', '?')}"
        + (" (**dry run**: step counts cut to 1-2; plumbing only)" if results.get("dry_run")
           else "") + ". One PROD-pretrained base, one CoLoRA adapter per degradation type, "
        "and for an image with mixed degradations the adapters combined per image with weights "
        "from the degradation estimator (UIR-LoRA's idea, with our estimator instead of CLIP): "
        "per layer `W = W0 + sum_k w_k dW_k`.",
        "",
        "## How it was run",
        "",
        "```",
        results.get("command", "python bench/compose.py ..."),
        "```",
        "",
        f"Hardware: {hw.get('cpu', '?')}, {hw.get('cores', '?')} cores (torch threads "
        f"{hw.get('torch_threads', '?')}); device {hw.get('device', '?')}; torch "
        f"{hw.get('torch', '?')}. Wall time {wall / 60:.1f} min, {cpu / 60:.1f} CPU minutes."
        + load_note(hw, wall, cpu),
        "",
        "CPU seconds per part: " + ", ".join(f"{k} {v:.0f}" for k, v in
                                              results["cpu_seconds"].items()) + ".",
        "",
        *reused_note(results),
        "",
        setup_table(results),
        "",
        "Strength bands in natural units (an op's level is linear in its unit):",
        "",
        band_table(),
        "",
        "## Targets",
        "",
        f"Estimated weights = the router with the settings chosen on the validation split "
        f"({best['similarity']}, {norm}, {top}). Paired per-image differences over every test "
        f"image of every set; resolved beyond 2 SE.",
        "",
        _table(["target", "measured", "verdict"], [list(row) for row in targets(results)]),
        "",
        *([
            "## Each task adapter on its own degradation",
            "",
            "The test crops degraded once by one op of the task over the sampler's whole range "
            "(the adapters' training distribution); mean PSNR in dB and paired differences.",
            "",
            single_tasks_table(results),
            "",
        ] if results.get("single_tasks") else []),
        "## Mean PSNR (dB) per mixed set",
        "",
        arms_table(results),
        "",
        f"![PSNR gain per arm]({figures['arms']})",
        "",
        f"## Paired differences: {label(auto_arm(results))} minus each arm",
        "",
        "Mean per-image difference in dB (standard error):",
        "",
        gaps_table(results),
        "",
        "## Router settings (validation split)",
        "",
        "Mean PSNR over the validation images of every set; in brackets the paired difference "
        "to the chosen setting (bold) and its SE.",
        "",
        selection_table(results),
        "",
        "## Weights",
        "",
        f"![Mean adapter weights per set]({figures['weights']})",
        "",
    ]
    if notes:
        parts += ["## Notes", "", notes.strip(), ""]
    return "\n".join(parts)


def write_report(results: dict, out: Path, report: Path, notes: str | None = None) -> Path:
    """Charts into a folder named after the report, then the Markdown file."""
    report = Path(report)
    folder = report.parent / report.stem
    folder.mkdir(parents=True, exist_ok=True)
    arms_chart(results, folder / FIGURES["arms"])
    weights_chart(results, folder / FIGURES["weights"])
    links = {key: f"{folder.name}/{name}" for key, name in FIGURES.items()}
    return write_text_atomically(report, render(results, links, notes))
