"""Downstream tasks: deterministic, nested training sets, test images from CBSD68 only."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipelines.sources import load_image
from studies.datafolder import check_data_folder
from studies.downstream import (TASKS, centre_crop, prepare_tasks, random_crop,
                                           synthesize)
from studies.scales import get_scale


@pytest.fixture(scope="module")
def scale():
    return replace(get_scale("test"), train_counts=(2, 5), faig_pairs=2)


@pytest.fixture(scope="module")
def tasks(data_folder, scale):
    return prepare_tasks(check_data_folder(data_folder), scale)


def test_all_tasks_with_the_sizes_of_the_scale(tasks, scale):
    assert [t.name for t in tasks] == list(TASKS)
    for task in tasks:
        assert len(task.train) == 5
        assert all(lq.shape == gt.shape == (scale.train_crop, scale.train_crop, 3)
                   for lq, gt in task.train)
        assert all(lq.dtype == np.uint8 for lq, _ in task.train)
        expected = scale.polyu_test_count if task.name == "real_noise" else scale.cbsd68_count
        assert len(task.test) == expected


def test_preparation_is_deterministic(data_folder, scale, tasks):
    again = prepare_tasks(check_data_folder(data_folder), scale)
    for first, second in zip(tasks, again):
        for (lq1, gt1), (lq2, gt2) in zip(first.train, second.train):
            assert np.array_equal(lq1, lq2) and np.array_equal(gt1, gt2)
        for (_, lq1, _), (_, lq2, _) in zip(first.test, second.test):
            assert np.array_equal(lq1, lq2)


def test_training_sets_are_nested(data_folder, scale, tasks):
    bigger = prepare_tasks(check_data_folder(data_folder), replace(scale, train_counts=(2, 8)))
    for small, large in zip(tasks, bigger):
        for (lq1, gt1), (lq2, gt2) in zip(small.train, large.train[:5]):
            assert np.array_equal(lq1, lq2) and np.array_equal(gt1, gt2)


def test_synthetic_tests_are_degraded_cbsd68_centre_crops(data_folder, scale, tasks):
    folder = check_data_folder(data_folder)
    for task in tasks[1:]:
        for (name, lq, gt), path in zip(task.test, folder.cbsd68):
            assert name == path.stem
            assert np.array_equal(gt, centre_crop(load_image(path), scale.eval_crop))
            assert not np.array_equal(lq, gt)


def test_real_noise_pairs_are_aligned_crops_of_the_polyu_split(data_folder, scale, tasks):
    folder = check_data_folder(data_folder)
    real = tasks[0]
    name, lq, gt = real.test[0]
    assert name == folder.polyu_test[0][0].stem
    assert np.array_equal(gt, centre_crop(load_image(folder.polyu_test[0][1]), scale.eval_crop))
    # pair 0 is a crop of training image 0: the lq-gt difference is the noise, not misalignment
    train_lq, train_gt = real.train[0]
    assert np.abs(train_lq.astype(int) - train_gt.astype(int)).mean() < 15


def test_synthesize_is_deterministic_and_seed_dependent():
    clean = np.full((40, 40, 3), 128, np.uint8)
    for task in TASKS[1:]:
        first, again = synthesize(task, clean, 5), synthesize(task, clean, 5)
        assert np.array_equal(first, again)
        assert first.shape == clean.shape and first.dtype == np.uint8
    assert not np.array_equal(synthesize("rain", clean, 5), synthesize("rain", clean, 6))


def test_crops():
    image = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    assert np.array_equal(centre_crop(image, 4), image[3:7, 4:8])
    assert centre_crop(image, 0) is image
    a, b = random_crop((image, image + 1), 5, seed=3)
    assert a.shape == (5, 5, 3) and np.array_equal(a + 1, b)
    with pytest.raises(ValueError, match="smaller than the 11x11 crop"):
        random_crop((image,), 11, seed=0)
