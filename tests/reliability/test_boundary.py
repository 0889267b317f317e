"""The one error boundary of both command lines: what becomes one line with which exit status,
and what stays a visible bug (issue 17.6, 16.9, 14.4)."""
from __future__ import annotations

import errno
import logging

import click
import pytest
from click.testing import CliRunner

from degrade.cliboundary import guarded, one_line, route_log_warnings
from degrade.errors import ConfigError, KitError
from degrade.lazycli import LazyGroup

from .conftest import assert_one_line_error, run_cli


def command_raising(error):
    @click.command()
    @click.argument("shards", required=False)
    @click.option("--shard-size", "shard_size", type=int, default=1)
    def broken(shards, shard_size):
        raise error
    group = LazyGroup(commands={"broken": broken})
    return group


@pytest.mark.parametrize("error, code, expected", [
    (ConfigError("shard_size", "must be at least 1, got 0"), 2,
     "Invalid value for '--shard-size': must be at least 1, got 0"),
    (ConfigError("shards", "no such folder"), 2, "Invalid value for 'SHARDS': no such folder"),
    (KitError("x.tar: unreadable", field="shards"), 1, "Error: SHARDS: x.tar: unreadable"),
    (KitError("x.tar: unreadable"), 1, "Error: x.tar: unreadable"),
    (ConfigError("no_such_option", "bad"), 2, "'--no-such-option'"),
    (OSError(errno.ENOSPC, "No space left on device", "runs/x/model.safetensors"), 1,
     "Error: runs/x/model.safetensors: No space left on device"),
    (PermissionError(errno.EROFS, "Read-only file system", "out/a.png"), 1,
     "Error: out/a.png: Read-only file system"),
])
def test_user_errors_become_one_line(error, code, expected):
    result = CliRunner().invoke(command_raising(error), ["broken"])
    assert result.exit_code == code, result.output
    assert expected in result.output and "Traceback" not in result.output


def test_bugs_stay_visible():
    result = CliRunner().invoke(command_raising(ZeroDivisionError("bug")), ["broken"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_guarded_stand_alone_command():
    @click.command()
    @guarded
    def alone():
        raise KitError("data/x: corrupt")
    result = CliRunner().invoke(alone, [])
    assert result.exit_code == 1 and "Error: data/x: corrupt" in result.output


def test_worker_tracebacks_shrink_to_their_message():
    wrapped = ("Caught CorruptDataError in DataLoader worker process 0.\nOriginal Traceback "
               "(most recent call last):\n  File \"x.py\", line 1\npipelines.stages."
               "CorruptDataError: no usable sample among the last 256 read")
    assert one_line(wrapped) == "no usable sample among the last 256 read"
    assert one_line("plain: message") == "plain: message"


def test_log_warnings_get_a_line_of_their_own(capsys):
    from tqdm import tqdm

    route_log_warnings()
    with tqdm(total=10, desc="bar", file=None) as bar:
        bar.update(3)
        logging.getLogger("pipelines.reader").warning("skipped x.tar:1: corrupt")
    err = capsys.readouterr().err
    line = next(l for l in err.replace("\r", "\n").splitlines() if "skipped" in l)
    assert line.strip() == "skipped x.tar:1: corrupt"


@pytest.mark.parametrize("cli", ["degrade", "trainer"])
def test_exit_statuses_and_python_m(cli, tmp_path):
    assert run_cli(cli, "--help", real=True).returncode == 0
    usage = run_cli(cli, "no-such-command", real=True)
    assert usage.returncode == 2 and "No such command" in usage.stderr
    missing = run_cli(cli, "eval" if cli == "trainer" else "verify", tmp_path / "nope", real=True)
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_data_errors_exit_1_usage_errors_exit_2(tmp_path, photo):
    data = run_cli("degrade", "apply", tmp_path / "nope.png", "--chain", "jpeg", "--out",
                   tmp_path / "o.png")
    assert data.returncode == 2  # a path that does not exist: the command line is wrong
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"junk")
    unreadable = run_cli("degrade", "apply", junk, "--chain", "jpeg", "--out", tmp_path / "o.png")
    assert_one_line_error(unreadable, 1, "junk.png", "not a readable image")
