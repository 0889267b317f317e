"""pipelines.verify: a finished shard folder re-checked against its manifest and index."""
import json

import pyarrow.parquet as pq

from pipelines.verify import verify_dataset


def problems_of(folder) -> str:
    report = verify_dataset(folder)
    assert not report.ok
    return "\n".join(report.problems)


def test_an_intact_folder_is_ok(fake_dataset):
    report = verify_dataset(fake_dataset)
    assert report.ok and (report.samples, report.shards) == (12, 3)
    assert report.text().startswith(f"{fake_dataset}: OK, 12 samples in 3 shards")


def test_damaged_and_unlisted_shards_are_named(fake_dataset):
    tar = fake_dataset / "shard-000001.tar"
    data = bytearray(tar.read_bytes())
    data[2000] ^= 0xFF
    tar.write_bytes(bytes(data))
    (fake_dataset / "shard-000009.tar").write_bytes(b"")
    (fake_dataset / ".shard-000002.tar.77.partial").write_bytes(b"half")
    text = problems_of(fake_dataset)
    assert "shard-000001.tar: sha256 differs" in text and "shard-000009.tar: not listed" in text
    assert ".shard-000002.tar.77.partial: leftover temporary file" in text


def test_index_disagreement_and_truncation_are_named(fake_dataset):
    table = pq.read_table(fake_dataset / "index.parquet")
    pq.write_table(table.slice(1), fake_dataset / "index.parquet")  # drops sample 0 of shard 0
    tar = fake_dataset / "shard-000002.tar"
    tar.write_bytes(tar.read_bytes()[:3000])
    text = problems_of(fake_dataset)
    assert "index.parquet: sha256 differs" in text and "1 sample(s) in shards but not indexed" in text
    assert "shard-000002.tar: 3000 bytes, manifest says" in text
    assert "shard-000002.tar: holds" in text or "shard-000002.tar: unreadable tar" in text


def test_wrong_totals_and_a_missing_manifest(fake_dataset):
    manifest = json.loads((fake_dataset / "manifest.json").read_text())
    manifest["totals"]["samples"] = 13
    (fake_dataset / "manifest.json").write_text(json.dumps(manifest))
    assert "totals.samples is 13, shards add up to 12" in problems_of(fake_dataset)
    (fake_dataset / "manifest.json").unlink()
    assert "manifest.json: missing" in problems_of(fake_dataset)
