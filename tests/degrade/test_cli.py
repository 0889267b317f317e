"""The space, preview and apply commands through click's CliRunner."""
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from degrade.cli import main


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def photo(tmp_path, textured):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), textured(40, 52)[..., ::-1])
    return path


def read_rgb(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]


def test_space_prints_formula_and_count(runner):
    result = runner.invoke(main, ["space", "--k", "7", "--n", "6"])
    assert result.exit_code == 0
    assert "(K^(N+1) - 1) / (K - 1)" in result.output and "137,257" in result.output


@pytest.mark.parametrize("args, culprit", [
    (["--k", "0"], "--k"), (["--k", "8"], "--k"), (["--n", "0"], "--n"),
    (["--ops", "jpeg,fog"], "'fog'")])
def test_space_bad_options_exit_2_naming_the_culprit(runner, args, culprit):
    result = runner.invoke(main, ["space", *args])
    assert result.exit_code == 2 and culprit in result.output
    assert "Traceback" not in result.output


def test_apply_chain_then_replay_the_record_bit_exact(runner, photo, tmp_path):
    out = tmp_path / "out.png"
    result = runner.invoke(main, ["apply", str(photo), "--chain", "gaussian_noise,jpeg,rain",
                                  "--seed", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out.json").read_text())
    assert [s["name"] for s in record["ops"]] == ["gaussian_noise", "jpeg", "rain"]
    again = tmp_path / "again.png"
    result = runner.invoke(main, ["apply", str(photo), "--record", str(tmp_path / "out.json"),
                                  "--out", str(again)])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(read_rgb(out), read_rgb(again))
    assert not np.array_equal(read_rgb(out), read_rgb(photo))


def test_apply_keeps_rgba_alpha(runner, tmp_path):
    rgba = np.random.default_rng(0).integers(0, 256, (12, 10, 4)).astype(np.uint8)
    path = tmp_path / "rgba.png"
    cv2.imwrite(str(path), rgba[..., [2, 1, 0, 3]])
    out = tmp_path / "out.png"
    result = runner.invoke(main, ["apply", str(path), "--chain", "speckle_noise", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(written[..., 3], rgba[..., 3])


def bad_record(tmp_path, photo, runner):
    out = tmp_path / "good.png"
    runner.invoke(main, ["apply", str(photo), "--chain", "jpeg", "--out", str(out)])
    record = json.loads((tmp_path / "good.json").read_text())
    record["ops"][0]["params"]["quality"] = 5
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(record))
    return path


@pytest.mark.parametrize("case", ["missing", "unreadable", "unknown_op", "bad_param",
                                  "bad_json", "both", "bad_suffix"])
def test_apply_bad_input_exits_non_zero_and_nothing_written(runner, photo, tmp_path, case):
    out = tmp_path / "result.png"
    args = {
        "missing": [str(tmp_path / "nope.png"), "--chain", "jpeg"],
        "unreadable": [str(tmp_path / "text.png"), "--chain", "jpeg"],
        "unknown_op": [str(photo), "--chain", "jpeg,fog"],
        "bad_param": [str(photo), "--record", "BAD"],
        "bad_json": [str(photo), "--record", str(tmp_path / "broken.json")],
        "both": [str(photo), "--chain", "jpeg", "--record", "x.json"],
        "bad_suffix": [str(photo), "--chain", "jpeg"],
    }[case]
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "broken.json").write_text("{")
    if case == "bad_param":
        args[-1] = str(bad_record(tmp_path, photo, runner))
    target = str(tmp_path / "result.txt") if case == "bad_suffix" else str(out)
    before = set(tmp_path.iterdir())
    result = runner.invoke(main, ["apply", *args, "--out", target])
    assert result.exit_code == (1 if case == "unreadable" else 2), result.output  # data / usage
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()[-1]) < 300
    assert set(tmp_path.iterdir()) == before
    expected = {"missing": "nope.png", "unreadable": "text.png", "unknown_op": "'fog'",
                "bad_param": "quality=5", "bad_json": "broken.json", "both": "--record",
                "bad_suffix": "result.txt"}[case]
    assert expected in result.output


def test_preview_writes_a_grid_and_is_seeded(runner, photo, tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for out in (first, second):
        result = runner.invoke(main, ["preview", str(photo), "--count", "3", "--crop", "32",
                                      "--k", "3", "--n", "2", "--seed", "5", "--out", str(out)])
        assert result.exit_code == 0, result.output
    grid = read_rgb(first)
    assert grid.shape[1] > 3 * 64 and grid.shape[0] > 32
    assert first.read_bytes() == second.read_bytes()


def test_preview_defaults_to_the_embedded_image(runner, tmp_path):
    out = tmp_path / "p.png"
    result = runner.invoke(main, ["preview", "--count", "1", "--crop", "24", "--ops", "jpeg",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()


@pytest.mark.parametrize("args, culprit", [
    (["--k", "9"], "--k"), (["--n", "0"], "--n"), (["--count", "0"], "--count"),
    (["MISSING.png"], "MISSING.png"), (["--min-length", "9"], "min_length")])
def test_preview_bad_options_exit_2(runner, tmp_path, args, culprit):
    out = tmp_path / "p.png"
    result = runner.invoke(main, ["preview", *args, "--out", str(out)])
    assert result.exit_code == 2 and culprit in result.output
    assert not out.exists()


def test_sixteen_bit_input_written_as_jpeg_is_scaled_not_saturated(runner, tmp_path):
    ramp = (np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)
    path = tmp_path / "ramp16.png"
    cv2.imwrite(str(path), ramp)
    out16, out8 = tmp_path / "o16.png", tmp_path / "o8.jpg"
    for out in (out16, out8):
        result = runner.invoke(main, ["apply", str(path), "--chain", "speckle_noise",
                                      "--out", str(out)])
        assert result.exit_code == 0, result.output
    sixteen = cv2.imread(str(out16), cv2.IMREAD_UNCHANGED)
    eight = cv2.imread(str(out8), cv2.IMREAD_UNCHANGED)
    assert sixteen.dtype == np.uint16 and eight.dtype == np.uint8
    assert np.abs(eight.astype(float) - sixteen / 257.0).mean() < 3
