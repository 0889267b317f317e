"""bench/identity_start.py and bench/calibrate_scale.py: their output, and bad input as one line."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def identity_start(load_module):
    return load_module(BENCH / "identity_start.py", "identity_start_script").main


@pytest.fixture(scope="module")
def calibrate():
    # registered in sys.modules while it runs: its dataclass looks its module up there
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("calibrate_scale_script",
                                                  BENCH / "calibrate_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module.main
    del sys.modules[spec.name]


def test_identity_start_prints_one_row_per_task_and_the_start_equals_the_input(
        identity_start, data_folder):
    result = CliRunner().invoke(identity_start, ["--data", str(data_folder), "--scale", "test",
                                                 "--test-images", "2", "--count", "4",
                                                 "--steps", "1"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()[2:]]
    assert [row[0] for row in rows] == ["real_noise", "rain", "motion_blur", "jpeg_noise",
                                        "haze"]
    for _, given, default, started, *_ in rows:
        assert started == given and default != given


@pytest.mark.parametrize("script", ["identity_start", "calibrate"])
def test_a_missing_data_folder_is_one_line(script, request, tmp_path):
    main = request.getfixturevalue(script)
    result = CliRunner().invoke(main, ["--data", str(tmp_path / "absent"), "--scale", "test"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: data folder {tmp_path / 'absent'} does not exist (expected bsds500/, sun80/, "
        "cbsd68/ and polyu_real_noise/ inside)"]
