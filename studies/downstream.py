"""The five downstream (fine-tuning) tasks as in-memory uint8 pairs, made deterministically.

- real_noise: PolyU real camera noise. Training pair i is a crop of training image i mod 70
  (first 70 pairs by sorted name); test pairs are centre crops of the first `polyu_test_count`
  of the last 30 pairs.
- rain, motion_blur, jpeg_noise, haze: synthetic degradations of real photographs. Training pairs
  are crops of bsds500/train + sun80 images (one shared pool of clean crops, degraded per task);
  test pairs are centre crops of the first `cbsd68_count` CBSD68 images by name, never seen in
  training. Haze is outside the PROD pre-training pool (the paper's "novel task").

Training pairs are nested: the N-pair training set is the first N pairs, for every N.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studies.datafolder import DataFolder, DataFolderError
from studies.scales import ScaleConfig

# Per-task overrides of the op samplers' ranges: {op: {param: (low, high)}}; ints stay ints.
RECIPES: dict[str, tuple[tuple[str, dict], ...]] = {
    "rain": (("rain", {"amount": (700, 1000), "length": (30, 60), "alpha": (1.0, 1.3)}),),
    "motion_blur": (("motion_blur", {}),),
    "jpeg_noise": (("gaussian_noise", {"sigma": (10.0, 25.0)}), ("jpeg", {"quality": (30, 50)})),
    "haze": (("haze", {}),),
}
TASKS = ("real_noise", "rain", "motion_blur", "jpeg_noise", "haze")
TASK_LABELS = {"real_noise": "Real noise (PolyU)", "rain": "Heavy rain",
               "motion_blur": "Motion blur", "jpeg_noise": "JPEG q30-50 + noise",
               "haze": "Haze (novel)"}
TASK_DESCRIPTIONS = {
    "real_noise": "PolyU real camera noise (lq = one shot, gt = mean of many shots)",
    "rain": "rain op, amount 700-1000, length 30-60, alpha 1.0-1.3, any angle",
    "motion_blur": "motion_blur op, camera-shake kernels of size 5-31 (engine sampler)",
    "jpeg_noise": "gaussian_noise sigma 10-25 (0-255 scale), then jpeg quality 30-50",
    "haze": "haze op (atmospheric scattering, beta 0.6-1.8, airlight 0.7-1.0); not in the PROD pool",
}

Pair = tuple[np.ndarray, np.ndarray]
NamedPair = tuple[str, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class TaskData:
    """One task's pairs: `train` holds max(train_counts) (lq, gt) crops, `test` (name, lq, gt)."""

    name: str
    train: tuple[Pair, ...]
    test: tuple[NamedPair, ...]


def _op(name: str):
    from degrade.registry import OPS
    return OPS[name]


def _draw_params(op, overrides: dict, rng: np.random.Generator, shape) -> dict:
    params = op.sample_params(rng, tuple(shape))
    for key, (low, high) in overrides.items():
        if key not in params:
            raise KeyError(f"{op.name}: the sampler has no parameter {key!r}")
        is_int = isinstance(low, int)
        params[key] = int(rng.integers(low, high + 1)) if is_int else float(rng.uniform(low, high))
    op.validate(params)
    return params


def synthesize(task: str, clean: np.ndarray, seed: int) -> np.ndarray:
    """The task's degradation of a uint8 HxWx3 image, drawn from `seed` (same seed, same bytes)."""
    from degrade.imageconv import from_float_rgb, to_float_rgb

    rng = np.random.default_rng(seed)
    rgb, layout = to_float_rgb(clean)
    for name, overrides in RECIPES[task]:
        op = _op(name)
        rgb = op.apply(rgb, _draw_params(op, overrides, rng, clean.shape))
    return from_float_rgb(rgb, layout)


def random_crop(images: tuple[np.ndarray, ...], size: int, seed: int) -> tuple[np.ndarray, ...]:
    """The same size x size window of each (equal-sized) image, at a position drawn from `seed`."""
    from degrade.crops import random_window

    y, x = random_window(np.random.default_rng(seed), images[0].shape, size)
    return tuple(np.ascontiguousarray(im[y:y + size, x:x + size]) for im in images)


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central size x size window (the whole image when size is 0 or too large)."""
    height, width = image.shape[:2]
    if size <= 0 or (size >= height and size >= width):
        return image
    h, w = min(size, height), min(size, width)
    y, x = (height - h) // 2, (width - w) // 2
    return np.ascontiguousarray(image[y:y + h, x:x + w])


def _load(path: Path) -> np.ndarray:
    """The image as uint8 RGB; DataFolderError naming the file when it cannot be decoded."""
    from pipelines.sources import SourceError, load_image

    try:
        return load_image(path)
    except SourceError as error:
        raise DataFolderError(f"{path}: {error}") from None


def clean_training_crops(folder: DataFolder, scale: ScaleConfig) -> list[np.ndarray]:
    """max(train_counts) clean crops from distinct sources (cycling when there are fewer)."""
    from degrade.seeding import STUDY_CLEAN_CROP, sample_seed

    order = np.random.default_rng(sample_seed(scale.seed, 0, STUDY_CLEAN_CROP)).permutation(
        len(folder.clean_sources))
    crops = []
    for i in range(scale.max_train_count):
        path = folder.clean_sources[int(order[i % len(order)])]
        try:
            crops.append(random_crop((_load(path),), scale.train_crop,
                                     sample_seed(scale.seed, i, STUDY_CLEAN_CROP))[0])
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    return crops


def synthetic_task(task: str, task_index: int, crops: list[np.ndarray],
                   cbsd68: list[tuple[str, np.ndarray]], scale: ScaleConfig) -> TaskData:
    """Degrade the shared clean crops (training) and the CBSD68 centre crops (test)."""
    from degrade.seeding import STUDY_TASK_TEST, STUDY_TASK_TRAIN, sample_seed

    def degraded(gt, i, stream):
        return synthesize(task, gt, sample_seed(scale.seed, i, stream, task_index))

    train = tuple((degraded(gt, i, STUDY_TASK_TRAIN), gt) for i, gt in enumerate(crops))
    test = tuple((name, degraded(gt, i, STUDY_TASK_TEST), gt) for i, (name, gt) in enumerate(cbsd68))
    return TaskData(task, train, test)


def real_noise_task(folder: DataFolder, scale: ScaleConfig) -> TaskData:
    """PolyU crops: pair i from training image i mod 70; centre-cropped test pairs."""
    from degrade.seeding import STUDY_POLYU_CROP, sample_seed

    train, loaded = [], {}
    for i in range(scale.max_train_count):
        lq_path, gt_path = folder.polyu_train[i % len(folder.polyu_train)]
        if lq_path not in loaded:  # 128 pairs from 70 images: decode each image once
            loaded[lq_path] = (_load(lq_path), _load(gt_path))
        lq, gt = loaded[lq_path]
        try:
            train.append(random_crop((lq, gt), scale.train_crop,
                                     sample_seed(scale.seed, i, STUDY_POLYU_CROP)))
        except ValueError as error:
            raise ValueError(f"{lq_path}: {error}") from None
    test = tuple((lq_path.stem, centre_crop(_load(lq_path), scale.eval_crop),
                  centre_crop(_load(gt_path), scale.eval_crop))
                 for lq_path, gt_path in folder.polyu_test[:scale.polyu_test_count])
    return TaskData("real_noise", tuple(train), test)


def prepare_tasks(folder: DataFolder, scale: ScaleConfig) -> list[TaskData]:
    """All five tasks, in TASKS order."""
    crops = clean_training_crops(folder, scale)
    cbsd68 = [(p.stem, centre_crop(_load(p), scale.eval_crop))
              for p in folder.cbsd68[:scale.cbsd68_count]]
    tasks = [real_noise_task(folder, scale)]
    for index, task in enumerate(TASKS[1:], start=1):
        tasks.append(synthetic_task(task, index, crops, cbsd68, scale))
    return tasks
