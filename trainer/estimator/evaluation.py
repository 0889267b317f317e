"""`trainer estimator eval`: the estimator against held-out shards, whose records are the truth.

Reported per op: AUROC of presence and the level's mean absolute error in the op's natural
unit; overall, for single-op images, above and below the op's visibility floor, by chain length
and by the op's position (how many ops were applied after its last occurrence: a later op can
hide an earlier one). Families (noise, blur, jpeg, rain: trainer.tasks) are scored by their
most probable member. A confusion chart shows, for single-op images of each op, the mean
probability the estimator gives every op.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainer.estimator.inference import image_tiles, predict_tiles_with_families, probabilities
from trainer.estimator.labels import (LabelError, check_pool_covered, labels_from_record,
                                      op_levels, pool_of_shards)
from trainer.estimator.scoring import family_scores, mean_abs, subset_auroc, youden_threshold

TARGETS = {"family_auroc": 0.97, "op_auroc": 0.90, "gaussian_noise_mae": 3.0}


@dataclass
class EvalData:
    """Truth and predictions for N images over the estimator's K ops (arrays N x K or N)."""

    ops: list[str]
    present: np.ndarray
    level: np.ndarray
    ops_after: np.ndarray  # ops applied after the op's last occurrence; -1 where absent
    length: np.ndarray
    probability: np.ndarray
    predicted_level: np.ndarray
    # the estimator's own family outputs ({family: N probabilities}); families without one
    # are scored by their most probable member
    family_probability: dict[str, np.ndarray] = field(default_factory=dict)


def _truth(record: dict, ops: list[str]):
    presence, level = labels_from_record(record, ops)
    steps = [name for name, _ in op_levels(record)]
    after = np.full(len(ops), -1, np.int64)
    for position, name in enumerate(steps):
        after[ops.index(name)] = len(steps) - 1 - position
    return presence > 0, level, after, len(steps)


def _samples(shard_dir, limit: int | None) -> Iterator[dict]:
    from pipelines.stages import iter_dataset
    for count, sample in enumerate(iter_dataset(shard_dir, strict=True)):
        if limit is not None and count >= limit:
            return
        yield sample


def collect(model, shard_dir, tile: int, device: str = "cpu", limit: int | None = None,
            progress: bool = True) -> EvalData:
    """Run the estimator over every sample of a shard folder (LabelError for shards whose
    pool or records the estimator does not cover)."""
    from tqdm import tqdm

    check_pool_covered(pool_of_shards(shard_dir), model.ops, shard_dir)
    rows = []
    for sample in tqdm(_samples(shard_dir, limit), unit="img", desc="eval", disable=not progress):
        try:
            truth = _truth(sample["record"], model.ops)
        except LabelError as error:
            raise LabelError(f"{shard_dir}: sample {sample.get('key')}: {error}") from None
        logits, levels, families = predict_tiles_with_families(
            model, image_tiles(sample["lq"], tile), device)
        rows.append((*truth, probabilities(logits), levels, probabilities(families)))
    if not rows:
        raise LabelError(f"{shard_dir}: no samples")
    columns = list(zip(*rows))
    families = np.stack(columns[6])
    return EvalData(list(model.ops), *(np.stack(c) for c in columns[:3]),
                    np.array(columns[3]), *(np.stack(c) for c in columns[4:6]),
                    {name: families[:, i] for i, name in enumerate(model.families)})


def _natural_errors(data: EvalData, column: int, rows: np.ndarray) -> np.ndarray:
    from degrade.registry import OPS
    severity = OPS[data.ops[column]].severity
    true = np.array([severity.natural(v) for v in data.level[rows, column]])
    predicted = np.array([severity.natural(v) for v in data.predicted_level[rows, column]])
    return np.abs(predicted - true)


def _cell(data: EvalData, column: int, positives: np.ndarray, negatives: np.ndarray) -> dict:
    """AUROC of positives vs negatives for one op, and the level MAE over the positives."""
    value, n_pos, n_neg = subset_auroc(data.present[:, column], data.probability[:, column],
                                       positives, negatives)
    return {"auroc": value, "mae": mean_abs(_natural_errors(data, column, positives)),
            "positives": n_pos, "negatives": n_neg}


def op_report(data: EvalData, column: int) -> dict:
    from degrade.registry import OPS

    severity = OPS[data.ops[column]].severity
    present = data.present[:, column]
    visible = present & (data.level[:, column] >= severity.floor_level)
    single = data.length == 1
    absent = ~present
    report = {"unit": severity.unit, "floor": severity.floor,
              "all": _cell(data, column, present, absent),
              "above_floor": _cell(data, column, visible, absent),
              "single": _cell(data, column, present & single, absent & single),
              "single_above_floor": _cell(data, column, visible & single, absent & single),
              "single_below_floor": _cell(data, column, present & ~visible & single,
                                          absent & single)}
    report["by_length"] = {int(n): _cell(data, column, present & (data.length == n),
                                         absent & (data.length == n))
                           for n in np.unique(data.length)}
    report["by_ops_after"] = {int(j): _cell(data, column, data.ops_after[:, column] == j, absent)
                              for j in np.unique(data.ops_after[present, column])}
    return report


def family_report(data: EvalData) -> dict:
    """Per family: AUROC (scored by the estimator's family output, else by the most probable
    member) and the pooled level MAE, over
    all images, single-op images, and single-op images above the floor."""
    from degrade.registry import OPS
    from trainer.tasks import TASKS

    floors = np.array([OPS[name].severity.floor_level for name in data.ops])
    visible = data.level >= floors[None, :]
    single = data.length == 1
    everything = np.ones_like(visible)
    out = {}
    for family, (present, score, seen) in family_scores(data.ops, TASKS, data.present,
                                                        data.probability, visible,
                                                        data.family_probability).items():
        columns = [data.ops.index(name) for name in TASKS[family] if name in data.ops]
        cells = {"all": (present, ~present, everything),
                 "single": (present & single, ~present & single, everything),
                 "single_above_floor": (seen & single, ~present & single, visible)}
        out[family] = {"scored_by": "family output" if family in data.family_probability
                       else "most probable member"}
        for name, (positives, negatives, counted) in cells.items():
            value, n_pos, n_neg = subset_auroc(present, score, positives, negatives)
            out[family][name] = {"auroc": value, "positives": n_pos, "negatives": n_neg,
                                 "mae": _pooled_mae(data, columns, positives, counted)}
    return out


def decision_thresholds(data: EvalData) -> dict:
    """Per family, over all images (family present anywhere in the chain or not): the
    probability threshold of its best member that maximises Youden's J, with its rates: a
    `trainer estimate --threshold` chosen on synthetic data, never on the photos it is used on."""
    from trainer.tasks import TASKS

    visible = np.ones_like(data.present)
    return {family: youden_threshold(present, score)
            for family, (present, score, _) in family_scores(data.ops, TASKS, data.present,
                                                             data.probability, visible,
                                                             data.family_probability).items()}


def _pooled_mae(data: EvalData, columns: list[int], rows: np.ndarray,
                counted: np.ndarray) -> float | None:
    """Level MAE over every (image in `rows`, member op present and `counted`) of a family, in
    the members' natural unit (one per family: noise sigma, blur pixels, JPEG quality...)."""
    errors = [_natural_errors(data, column, rows & data.present[:, column] & counted[:, column])
              for column in columns]
    return mean_abs(np.concatenate(errors))


def evaluate(data: EvalData) -> dict:
    """The whole report (plain JSON), with the issue's targets marked met or missed."""
    ops = {name: op_report(data, column) for column, name in enumerate(data.ops)}
    families = family_report(data)
    return {"samples": int(len(data.length)), "single_op_samples": int((data.length == 1).sum()),
            "ops": ops, "families": families, "confusion": confusion(data),
            "thresholds": decision_thresholds(data),
            "targets": targets(ops, families)}


def targets(ops: dict, families: dict) -> dict:
    """Single-op images above the floor: family AUROC >= 0.97, op AUROC >= 0.90, Gaussian
    noise sigma MAE <= 3 (each with its value and whether it is met)."""
    def verdict(value, goal, higher_is_better=True):
        met = None if value is None else (value >= goal if higher_is_better else value <= goal)
        return {"value": value, "goal": goal, "met": met}

    result = {f"family_auroc/{name}": verdict(report["single_above_floor"]["auroc"],
                                              TARGETS["family_auroc"])
              for name, report in families.items()}
    result.update({f"op_auroc/{name}": verdict(report["single_above_floor"]["auroc"],
                                               TARGETS["op_auroc"])
                   for name, report in ops.items()})
    if "gaussian_noise" in ops:
        result["gaussian_noise_sigma_mae"] = verdict(
            ops["gaussian_noise"]["single_above_floor"]["mae"], TARGETS["gaussian_noise_mae"],
            higher_is_better=False)
    return result


def confusion(data: EvalData) -> dict:
    """{true op: {"count", "mean_probability": [per op]}} over single-op images."""
    single = data.length == 1
    out = {}
    for column, name in enumerate(data.ops):
        rows = single & data.present[:, column]
        if rows.any():
            out[name] = {"count": int(rows.sum()),
                         "mean_probability": data.probability[rows].mean(axis=0).round(4).tolist()}
    return out


def plot_confusion(report: dict, ops: list[str], out_png: Path) -> Path:
    """Heat map: rows the true op of single-op images, columns the mean probability per op."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipelines.files import atomic_path

    rows = [name for name in ops if name in report["confusion"]]
    matrix = np.array([report["confusion"][name]["mean_probability"] for name in rows])
    figure, axis = plt.subplots(figsize=(1.1 * len(ops) + 2.5, 0.7 * len(rows) + 2))
    image = axis.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    for (i, j), value in np.ndenumerate(matrix):
        axis.text(j, i, f"{value:.2f}", ha="center", va="center",
                  color="black" if value > 0.6 else "white", fontsize=8)
    axis.set_xticks(range(len(ops)), ops, rotation=40, ha="right")
    labels = [f"{name} (n={report['confusion'][name]['count']})" for name in rows]
    axis.set_yticks(range(len(rows)), labels)
    axis.set(xlabel="estimated op (mean probability)", ylabel="true op (single-op images)")
    figure.colorbar(image, ax=axis, fraction=0.04)
    figure.tight_layout()
    with atomic_path(out_png) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
    return Path(out_png)


def summary_lines(report: dict) -> list[str]:
    """A readable table: per op and family, overall / single / single above the floor."""
    def fmt(value, digits=3):
        return "  n/a" if value is None else f"{value:.{digits}f}"

    lines = [f"{report['samples']} images ({report['single_op_samples']} single-op)",
             f"{'op':16s} {'AUROC all':>9s} {'single':>7s} {'>floor':>7s} "
             f"{'MAE all':>8s} {'>floor':>8s}  unit"]
    for name, op in report["ops"].items():
        lines.append(f"{name:16s} {fmt(op['all']['auroc']):>9s} {fmt(op['single']['auroc']):>7s} "
                     f"{fmt(op['single_above_floor']['auroc']):>7s} {fmt(op['all']['mae'], 2):>8s} "
                     f"{fmt(op['single_above_floor']['mae'], 2):>8s}  {op['unit']}")
    for name, family in report["families"].items():
        lines.append(f"family {name:9s} {fmt(family['all']['auroc']):>9s} "
                     f"{fmt(family['single']['auroc']):>7s} "
                     f"{fmt(family['single_above_floor']['auroc']):>7s} "
                     f"{fmt(family['all']['mae'], 2):>8s} "
                     f"{fmt(family['single_above_floor']['mae'], 2):>8s}")
    for name, chosen in report.get("thresholds", {}).items():
        if chosen:
            lines.append(f"family {name}: Youden threshold {chosen['threshold']:.3f} "
                         f"(true positives {chosen['tpr']:.3f}, false {chosen['fpr']:.3f})")
    met = [k for k, v in report["targets"].items() if v["met"]]
    missed = [k for k, v in report["targets"].items() if v["met"] is False]
    lines.append(f"targets met {len(met)}/{len(report['targets'])}"
                 + (f"; missed: {', '.join(missed)}" if missed else ""))
    return lines
