"""The shard format as shards/README.md documents it (its snippets run in test_without_colora_kit.py)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "shards" / "README.md"


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
