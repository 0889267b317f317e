"""bench/estimator_polyu_twin.py and bench/estimator_photo_threshold.py end to end on a generated
data folder with an untrained estimator, and the threshold rule."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def photo_threshold(load_module):
    return load_module(BENCH / "estimator_photo_threshold.py", "photo_threshold_script")


def test_the_threshold_calls_the_chosen_share_of_the_calibration_photographs(photo_threshold):
    rng = np.random.default_rng(0)
    calibration = {name: rng.random(200) for name in
                   ("as they are", "jpeg 95", "jpeg 90", "jpeg 75", "jpeg 60")}
    thresholds = photo_threshold.set_thresholds(calibration, 0.05)
    everything = np.concatenate(list(calibration.values()))
    camera = np.r_[calibration["jpeg 75"], calibration["jpeg 60"]]
    assert thresholds["0.5 (the default)"] == 0.5
    assert (everything >= thresholds["all variants"]).mean() == pytest.approx(0.05, abs=0.002)
    assert (camera >= thresholds["camera qualities (jpeg 75, 60)"]).mean() == pytest.approx(
        0.05, abs=0.003)


def test_photo_threshold_prints_a_row_per_threshold(photo_threshold, data_folder,
                                                   untrained_estimator):
    result = CliRunner().invoke(photo_threshold.main, [
        str(data_folder / "bsds500" / "train"), "--check", str(data_folder / "cbsd68"),
        "--estimator", str(untrained_estimator),
        "--polyu", str(data_folder / "polyu_real_noise")])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| 0.5 (the default)", "| all variants", "| camera qualities (jpeg 75, 60)"]
    assert all(len(row.split(" | ")) == 9 for row in rows)


def test_polyu_twin_prints_every_row(load_module, data_folder, untrained_estimator):
    main = load_module(BENCH / "estimator_polyu_twin.py", "polyu_twin_bench").main
    result = CliRunner().invoke(main, [str(data_folder / "cbsd68"),
                                       "--estimator", str(untrained_estimator),
                                       "--polyu", str(data_folder / "polyu_real_noise"),
                                       "--count", "3", "--side", "48"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sum(line.startswith("| white Gaussian sigma") for line in lines) == 7
    assert sum(line.startswith("| camera sigma") for line in lines) == 7
    assert sum(line.startswith("| PolyU (real, 100 pairs)") for line in lines) == 2
    assert any(line.startswith("A threshold at PolyU's median noisy score") for line in lines)
    rows = [line.split(" | ")[:2] for line in lines if line[2:4].isdigit()]
    assert [row[0] for row in rows[::2]] == ["| 60", "| 75", "| 85", "| 88", "| 89", "| 90",
                                             "| 91", "| 92", "| 95", "| 97"]
    assert [row[1] for row in rows[:2]] == ["on the source's grid", "4 px off it"]


def test_centre_crops_sit_on_the_grid_or_off_it_by_the_shift(load_module, tmp_path):
    import cv2

    centre_crops = load_module(BENCH / "estimator_levels.py", "levels_bench").centre_crops
    y, x = np.mgrid[0:61, 0:75]
    coordinates = np.dstack([y, x, np.zeros_like(y)]).astype(np.uint8)  # a pixel says where
    assert cv2.imwrite(str(tmp_path / "image.png"), coordinates[:, :, ::-1])
    for shift in (0, 3, 4):
        (crop,) = centre_crops(tmp_path, 1, 16, shift)
        top, left = int(crop[0, 0, 0]), int(crop[0, 0, 1])
        assert crop.shape == (16, 16, 3)
        assert top % 8 == shift and left % 8 == shift
        assert abs(top + 8 - 30.5) <= 8 and abs(left + 8 - 37.5) <= 8  # central


@pytest.mark.parametrize("script", ["estimator_polyu_twin.py", "estimator_photo_threshold.py"])
def test_a_polyu_folder_without_pairs_is_one_usage_line(load_module, script, data_folder,
                                                        untrained_estimator, tmp_path):
    import shutil

    main = load_module(BENCH / script, script.replace(".py", "_bad_polyu")).main
    polyu = tmp_path / "polyu"
    shutil.copytree(data_folder / "polyu_real_noise", polyu)
    (polyu / "gt" / "cam_003.png").unlink()
    (polyu / "lq" / "README.txt").write_text("not an image, not a shot\n")
    common = ["--estimator", str(untrained_estimator), "--polyu", str(polyu)]
    if script == "estimator_photo_threshold.py":
        common += ["--check", str(data_folder / "cbsd68")]
    result = CliRunner().invoke(main, [str(data_folder / "cbsd68"), *common])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"Error: Invalid value for '--polyu': {polyu / 'lq' / 'cam_003.png'}: no reference of "
        f"that name in {polyu / 'gt'} (1 unpaired)")
    shutil.rmtree(polyu / "gt")
    result = CliRunner().invoke(main, [str(data_folder / "cbsd68"), *common])
    assert result.exit_code == 2 and "no gt/ inside" in result.output
