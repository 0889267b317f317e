"""The shard format as shards/README.md documents it, read without colora-kit's reader."""
import json
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np

from pipelines.pairs import iter_pairs

README = Path(__file__).resolve().parents[2] / "shards" / "README.md"


def readme_block(heading: str, language: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def test_plain_webdataset_recipe_from_the_readme(fake_dataset):
    code = readme_block("### With plain `webdataset`", "python").replace('folder = "shards"', f'folder = "{fake_dataset}"')
    code = code.replace("for sample in dataset:\n    lq, gt, record = sample[\"lq.png\"], sample[\"gt.png\"], sample[\"json\"]\n",
                        "samples = list(dataset)\n")
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - the README's own recipe
    expected = list(iter_pairs(fake_dataset))
    assert [s["__key__"] for s in scope["samples"]] == [name for name, _, _ in expected]
    for sample, (name, lq, gt) in zip(scope["samples"], expected):
        assert np.array_equal(sample["lq.png"], lq) and np.array_equal(sample["gt.png"], gt)
        assert sample["json"]["key"] == name


def test_tar_recipe_from_the_readme(fake_dataset, tmp_path):
    listing = subprocess.run(["tar", "-tf", str(fake_dataset / "shard-000000.tar")], capture_output=True,
                             text=True, check=True).stdout.split()
    assert listing[:3] == ["000000000.json", "000000000.lq.png", "000000000.gt.png"]
    subprocess.run(["tar", "-xf", str(fake_dataset / "shard-000000.tar"), "000000000.lq.png",
                    "000000000.gt.png", "000000000.json"], cwd=tmp_path, check=True)
    name, lq, gt = next(iter(iter_pairs(fake_dataset)))
    assert np.array_equal(cv2.imread(str(tmp_path / "000000000.lq.png"))[..., ::-1], lq)
    assert np.array_equal(cv2.imread(str(tmp_path / "000000000.gt.png"))[..., ::-1], gt)
    assert json.loads((tmp_path / "000000000.json").read_text())["key"] == name


def test_members_have_fixed_metadata(fake_dataset):
    import tarfile

    with tarfile.open(fake_dataset / "shard-000000.tar") as tar:
        for member in tar.getmembers():
            assert (member.mtime, member.uid, member.gid, member.mode, member.uname) == (0, 0, 0, 0o644, "")
            assert member.name.count(".") >= 1 and "." not in member.name.split(".", 1)[0]


def readme_table(heading: str) -> list[list[str]]:
    """The rows of the first table after `heading`, as lists of cell texts."""
    text = README.read_text()
    lines = text[text.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_readme_documents_every_member_and_index_column_of_the_schema():
    from pipelines import schema

    members = {name for row in readme_table("## Samples") for name in re.findall(r"`([^`]+)`", row[0])}
    assert members == set(schema.SAMPLE.manifest_entry("png")["members"])
    documented = {}
    for row in readme_table("## `index.parquet`"):
        for name in re.findall(r"`([^`]+)`", row[0]):
            documented[name] = row[1]
    documented.pop("<op>__<param>")
    assert documented == {column.name: column.type for column in schema.SAMPLE.index_columns}
