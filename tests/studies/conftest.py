"""A small generated data folder laid out like the shared benchmark folder (no real data read)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A photograph-like uint8 RGB image: a blurred random field with some edges."""
    coarse = rng.random((max(2, height // 8), max(2, width // 8), 3)).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    image[:, width // 3] = 0.9  # a vertical edge
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def write_rgb(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image[:, :, ::-1])


def make_data_folder(root: Path, polyu_pairs: int = 100) -> Path:
    rng = np.random.default_rng(123)
    for i in range(6):
        write_rgb(root / "bsds500" / "train" / f"{1000 + i}.jpg", smooth_image(rng, 64, 80))
    for i in range(3):
        write_rgb(root / "sun80" / f"scene_{i}.jpg", smooth_image(rng, 72, 96))
    for i in range(4):
        write_rgb(root / "cbsd68" / f"{2000 + i}.png", smooth_image(rng, 56, 64))
    for i in range(polyu_pairs):
        gt = smooth_image(rng, 48, 48)
        noisy = np.clip(gt + rng.normal(0, 8, gt.shape), 0, 255).astype(np.uint8)
        write_rgb(root / "polyu_real_noise" / "gt" / f"cam_{i:03d}.png", gt)
        write_rgb(root / "polyu_real_noise" / "lq" / f"cam_{i:03d}.png", noisy)
    return root


@pytest.fixture(scope="session")
def data_folder(tmp_path_factory) -> Path:
    """A complete generated data folder, shared by the tests that only read it."""
    return make_data_folder(tmp_path_factory.mktemp("data"))


@pytest.fixture
def make_data():
    """make_data(root, polyu_pairs=100) -> root: a fresh generated data folder to modify."""
    return make_data_folder


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Tiny models run fastest on one thread, and a busy machine does not slow them down."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def untrained_estimator(tmp_path_factory) -> Path:
    """An estimator file over the default pool with seeded random weights (patch 32): for the
    scripts that only need one to run."""
    import torch

    from degrade.registry import CANONICAL_ORDER
    from trainer.estimator.files import save_estimator
    from trainer.estimator.model import DegradationEstimator

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("est") / "estimator.safetensors"
    return save_estimator(path, DegradationEstimator(list(CANONICAL_ORDER)),
                          {"training": {"patch": 32}})
