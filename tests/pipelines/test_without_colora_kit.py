"""Every snippet of shards/README.md's "Without colora-kit" section, run as written.

The snippets are read from the README (so it cannot drift from what works), each run in its own
process from a folder holding `shards/` (a real build), followed by a check of what it left
behind. A snippet whose library is not installed is skipped, naming the library.
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.build import BuildConfig, build_shards

REPO = Path(__file__).resolve().parents[2]
README = REPO / "shards" / "README.md"
SECTION = "## Without colora-kit"
COUNT = 12

# What each snippet must have produced, run after it in the same process.
CHECKS = {
    "Check a dataset with `sha256sum`": None,  # its output is checked by the test itself
    "With `tar`": None,
    "With plain `webdataset`": """
assert record["key"] == "000000011" and lq.shape == gt.shape == (40, 40, 3) and lq.dtype == "uint8"
assert len(list(dataset)) == 12
""",
    "Random access with `wids`": """
import tarfile, cv2
with tarfile.open("shards/shard-000001.tar") as tar:
    stored = cv2.imdecode(np.frombuffer(tar.extractfile("000000007.lq.png").read(), np.uint8), 1)
assert record["key"] == "000000007" and np.array_equal(lq, stored[..., ::-1]) and len(dataset) == 12
""",
    "With Hugging Face `datasets`": """
import numpy as np
from degrade.chain import replay  # the check, not the snippet, uses colora-kit
assert len(data) == 12
names = set()
for row in data:
    names.update(op["name"] for op in row["json"]["ops"])
    assert np.array_equal(replay(row["json"], np.asarray(row["gt.png"])), np.asarray(row["lq.png"]))
assert "motion_blur" in names
""",
    "The index with pandas": """
import pyarrow.parquet as pq
rows = pq.read_table("shards/index.parquet").to_pylist()
assert list(rainy.key) == [r["key"] for r in rows if "rain" in r["ops"]] and len(rainy) > 0
assert list(low_quality_jpeg.key) == [r["key"] for r in rows
                                      if r["jpeg__quality"] and min(r["jpeg__quality"]) < 60]
assert len(low_quality_jpeg) > 0 and len(index) == 12
""",
    "The index with duckdb": """
import collections
import pyarrow.parquet as pq
rows = pq.read_table("shards/index.parquet").to_pylist()
assert low_quality_jpeg == [(r["key"], r["shard"], r["jpeg__quality"]) for r in rows
                            if r["jpeg__quality"] and min(r["jpeg__quality"]) < 60]
counts = collections.Counter(op for r in rows for op in set(r["ops"]))
assert samples_per_op == sorted(counts.items()) and len(low_quality_jpeg) > 0
""",
    "The index with polars": """
import pyarrow.parquet as pq
rows = pq.read_table("shards/index.parquet").to_pylist()
for row, (key, ops) in zip(rows, chains.iter_rows()):  # the dtype keeps every parameter
    present = [{"name": op["name"], "params": {k: v for k, v in op["params"].items() if v is not None}}
               for op in ops]
    assert key == row["key"] and present == json.loads(row["params"])
assert strong_rain["key"].to_list() == [r["key"] for r in rows
                                        if r["rain__amount"] and max(r["rain__amount"]) > 500]
assert len(strong_rain) > 0
""",
    "What each index column means, with pyarrow": """
assert "unit: degrees" in meaning["rain__angle"] and "jpeg__quality" in meaning
""",
    "Validate records with `jsonschema`": """
assert len(records) == 5
""",
}


def section_snippets() -> dict[str, list[tuple[str, str]]]:
    """{heading: [(language, code), ...]} of the README section, in order."""
    text = README.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    snippets: dict[str, list] = {}
    for part in re.split(r"^### ", text[start:end], flags=re.M)[1:]:
        heading, _, body = part.partition("\n")
        snippets[heading.strip()] = re.findall(r"```(sh|python)\n(.*?)```", body, re.S)
    return snippets


SNIPPETS = section_snippets()


def imported_modules(code: str) -> list[str]:
    return sorted(set(re.findall(r"^\s*(?:import|from)\s+(\w+)", code, re.M)))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("built") / "shards"
    build_shards(BuildConfig(out=str(out), count=COUNT, patch=40, shard_size=5, seed=3,
                             workers=1, progress=False))
    return out


@pytest.fixture
def workdir(tmp_path, dataset):
    """A folder holding `shards/` (a link to the build), as the snippets expect."""
    (tmp_path / "shards").symlink_to(dataset, target_is_directory=True)
    return tmp_path


def run_snippet(language: str, code: str, cwd: Path, check: str | None = None):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HOME=str(cwd / "hf"),
               HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", WIDS_CACHE=str(cwd / "wids"),
               PYTHONPATH=str(REPO))
    if language == "sh":
        command = ["bash", "-e", "-c", code]
    else:
        command = [sys.executable, "-c", code + "\n" + (check or "")]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_every_snippet_of_the_section_has_a_check():
    assert set(SNIPPETS) == set(CHECKS), "a README snippet was added or renamed: add its check"
    assert all(len(blocks) == 1 for blocks in SNIPPETS.values())
    for blocks in SNIPPETS.values():
        for _, code in blocks:
            assert not {"degrade", "pipelines", "trainer"} & set(imported_modules(code))


@pytest.mark.parametrize("heading", list(SNIPPETS))
def test_readme_snippet_runs(heading, workdir):
    (language, code), = SNIPPETS[heading]
    if language == "sh":
        for tool in re.findall(r"\b(tar|sha256sum)\b", code):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} is not installed")
    for module in imported_modules(code):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    result = run_snippet(language, code, workdir, CHECKS[heading])
    assert result.returncode == 0, f"{heading}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    if "sha256sum" in heading:
        assert "every file intact" in result.stdout
    if language == "sh" and "tar -xf" in code:
        record = json.loads((workdir / "000000000.json").read_text())
        assert record["key"] == "000000000" and (workdir / "000000000.lq.png").is_file()


def test_the_sha256sum_snippet_catches_a_truncated_shard(tmp_path, dataset):
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum is not installed")
    copy = shutil.copytree(dataset, tmp_path / "shards")
    with open(copy / "shard-000001.tar", "r+b") as handle:
        handle.truncate(10240)  # whole tar blocks: tarfile and webdataset read it as shorter
    (_, code), = SNIPPETS["Check a dataset with `sha256sum`"]
    result = run_snippet("sh", code, tmp_path)
    assert result.returncode != 0 and "every file intact" not in result.stdout
    assert "shard-000001.tar: FAILED" in result.stdout
