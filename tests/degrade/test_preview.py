import numpy as np

from degrade.preview import GridStyle, describe_step, preview_grid, random_crop, render_grid


def test_describe_step_lists_params_without_the_seed():
    text = describe_step({"name": "gaussian_noise",
                          "params": {"sigma": 12.3456, "grey": True, "seed": 99}})
    assert text == "gaussian_noise sigma=12.3 grey"


def test_random_crop_handles_small_images():
    image = np.zeros((10, 5, 3), np.uint8)
    assert random_crop(image, 8, seed=1).shape == (8, 5, 3)


def test_grid_layout_and_determinism(textured):
    image = textured(60, 70)
    style = GridStyle(crop=24, columns=2)
    grid, records = preview_grid(image, 3, ["jpeg", "gaussian_noise"], 2, count=3, style=style)
    again, _ = preview_grid(image, 3, ["jpeg", "gaussian_noise"], 2, count=3, style=style)
    np.testing.assert_array_equal(grid, again)
    assert grid.dtype == np.uint8 and grid.shape[2] == 3 and len(records) == 3
    assert grid.shape[1] == 2 * style.margin + 2 * (2 * 24 + style.gap) + 2 * style.gap


def test_render_grid_places_clean_left_of_degraded():
    clean = np.full((8, 8, 3), 10, np.uint8)
    degraded = np.full((8, 8, 3), 200, np.uint8)
    style = GridStyle(crop=8, margin=2, gap=2)
    grid = render_grid([(clean, degraded, ["x"])], style)
    assert (grid[2:10, 2:10] == 10).all() and (grid[2:10, 12:20] == 200).all()
