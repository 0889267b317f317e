import numpy as np
import pytest

from degrade.crops import random_window


def test_the_top_row_then_the_left_column_uniform_over_the_fitting_positions():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        expected = (int(rng.integers(0, 50 - 8 + 1)), int(rng.integers(0, 30 - 8 + 1)))
        assert random_window(np.random.default_rng(seed), (50, 30, 3), 8) == expected
    tops_lefts = {random_window(np.random.default_rng(s), (4, 3), (3, 2)) for s in range(200)}
    assert tops_lefts == {(y, x) for y in range(2) for x in range(2)}  # every position, no other


def test_a_window_of_the_image_size_is_the_whole_image():
    assert random_window(np.random.default_rng(0), (7, 9), (7, 9)) == (0, 0)


@pytest.mark.parametrize("size,message", [(11, "image of 10x12 is smaller than the 11x11 crop"),
                                          ((13, 5), "smaller than the 5x13 crop"),
                                          (0, "at least 1x1")])
def test_a_window_that_does_not_fit_is_refused(size, message):
    with pytest.raises(ValueError, match=message):
        random_window(np.random.default_rng(0), (12, 10, 3), size)
