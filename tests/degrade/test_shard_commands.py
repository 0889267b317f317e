"""degrade build-shards / verify / info: the commands over pipelines.build, verify and info."""
import json
import subprocess
import sys

from click.testing import CliRunner

from degrade.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_default_build_uses_embedded_images_and_the_shards_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("build-shards", "--k", "7", "--n", "6", "--count", "4", "--shard-size", "2", "--quiet")
    assert result.exit_code == 0, result.output
    assert "4 pairs in 2 shards" in result.output and "9 sources used, 0 skipped" in result.output
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    assert manifest["config"]["patch"] == 256 and manifest["degradation_space"]["size"] == (7 ** 7 - 1) // 6
    again = run("build-shards", "--k", "7", "--n", "6", "--count", "4", "--shard-size", "2", "--quiet")
    assert again.exit_code == 0 and "nothing to do" in again.output
    clash = run("build-shards", "--k", "3", "--n", "6", "--count", "4", "--shard-size", "2", "--quiet")
    assert clash.exit_code == 1 and "different options" in clash.output and "Traceback" not in clash.output
    assert run("verify", "shards").exit_code == 0
    info = run("info", "shards")
    assert info.exit_code == 0 and "4 pairs in 2 shards" in info.output and "example chains" in info.output


def test_bad_options_are_usage_errors(tmp_path):
    for args, message in [(("--k", "9"), "K=9"), (("--ops", "blurry"), "unknown op"),
                          (("--count", "0"), "--count"), (("--src", str(tmp_path / "none")), "not a directory"),
                          (("--min-length", "5", "--n", "2"), "min_length")]:
        result = run("build-shards", "--out", str(tmp_path / "o"), "--quiet", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output


def test_no_sources_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("build-shards", "--src", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--quiet")
    assert result.exit_code == 1 and "no source images found" in result.output


def test_verify_exits_non_zero_and_names_the_damage(tmp_path):
    out = tmp_path / "shards"
    assert run("build-shards", "--k", "2", "--n", "2", "--count", "2", "--patch", "32", "--quiet",
               "--out", str(out)).exit_code == 0
    assert run("verify", str(out), "--quiet").exit_code == 0
    tar = out / "shard-000000.tar"
    data = bytearray(tar.read_bytes())
    data[2000] ^= 0xFF
    tar.write_bytes(bytes(data))
    result = run("verify", str(out), "--quiet")
    assert result.exit_code == 1 and "shard-000000.tar: sha256 differs" in result.output


def test_help_is_instant_and_teaches():
    code = ("import sys, time; t = time.time(); from degrade.cli import main; "
            "sys.argv = ['degrade', 'build-shards', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules and 'pipelines.build' not in sys.modules, sorted(sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Examples:" in result.stdout and "--distributor" in result.stdout
