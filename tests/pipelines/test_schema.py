"""pipelines.schema: the sample declared once, and a new member carried by every stage."""
import json
import tarfile
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from pipelines import schema
from pipelines.schema import IMAGE, JSON, IndexColumn, Member, SampleParts


def residual_mask(lq: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Where the degradation moved a pixel by more than 8 levels: 255, else 0 (uint8 HxWx3).

    Pixelwise in (lq, gt), so any crop or symmetry applied to all three alike keeps
    mask == residual_mask(lq, gt) on the augmented images too."""
    moved = np.abs(lq.astype(np.int16) - gt.astype(np.int16)).max(axis=2) > 8
    return np.repeat(moved[:, :, None], 3, axis=2).astype(np.uint8) * 255


MASK = Member("mask", "mask", IMAGE, lambda parts: residual_mask(parts.degraded, parts.clean),
              "where the degradation changed the image", geometric=True)
MASK_FRACTION = IndexColumn("mask_fraction", "double",
                            lambda values, shard: float((values["mask"][..., 0] > 0).mean()),
                            "share of the pixels the degradation changed")


@pytest.fixture
def with_mask(monkeypatch):
    """The schema with a third image member and an index column of its own: the only change."""
    monkeypatch.setattr(schema, "SAMPLE", schema.SAMPLE.with_member(MASK).with_index_column(MASK_FRACTION))


def test_the_declared_sample_is_what_the_readme_documents():
    assert [m.name for m in schema.SAMPLE.members] == ["json", "lq", "gt"]
    assert [m.field for m in schema.SAMPLE.geometric] == ["lq", "gt"]
    assert schema.SAMPLE.record.field == "record"
    assert schema.SAMPLE.manifest_entry("png")["members"] == ["KEY.json", "KEY.lq.png", "KEY.gt.png"]
    assert [c.name for c in schema.SAMPLE.index_columns] == [
        "key", "shard", "ops", "chain_length", "params", "seed", "source", "source_sha256", "crop"]


def test_encode_then_decode_round_trips_every_member(sample_of):
    record, lq, gt = sample_of(3, 16)
    values = schema.SAMPLE.values(SampleParts(3, 0, gt, lq, record))
    for fmt in ("png", "npy"):
        members = list(schema.SAMPLE.encode(values, record["key"], fmt))
        assert [name for name, _ in members] == [f"000000003.json", f"000000003.lq.{fmt}", f"000000003.gt.{fmt}"]
        raw = {"__key__": "000000003", "__shard__": "s"}
        raw.update((name.split(".", 1)[1], data) for name, data in members)
        decoded = schema.SAMPLE.decode(raw)
        assert decoded["record"] == record and np.array_equal(decoded["lq"], lq)
        assert np.array_equal(decoded["gt"], gt) and decoded["key"] == "000000003"


def test_decode_names_a_missing_member_and_images_of_different_sizes(sample_of):
    record, lq, gt = sample_of(1, 16)
    values = schema.SAMPLE.values(SampleParts(1, 0, gt, lq[:8], record))
    raw = {"__key__": "k", "__shard__": "s"}
    raw.update((name.split(".", 1)[1], data) for name, data in schema.SAMPLE.encode(values, "k", "png"))
    with pytest.raises(ValueError, match=r"lq \(8, 24, 3\) and gt \(16, 24, 3\) differ in size"):
        schema.SAMPLE.decode(raw)
    del raw["gt.png"]
    with pytest.raises(KeyError, match="missing member.s. gt"):
        schema.SAMPLE.decode(raw)
    del raw["json"]
    assert schema.SAMPLE.missing(raw) == ["gt"] and schema.SAMPLE.missing(raw, every=True) == ["json", "gt"]


def test_a_schema_refuses_clashing_or_dotted_names_and_a_second_record():
    lq = schema.SAMPLE.members[1]
    with pytest.raises(ValueError, match="unique"):
        schema.SAMPLE.with_member(lq)
    with pytest.raises(ValueError, match="dot"):
        schema.SAMPLE.with_member(replace(lq, name="lq.2", field="lq2"))
    with pytest.raises(ValueError, match="exactly one JSON member"):
        schema.SAMPLE.with_member(Member("meta", "meta", JSON, lambda parts: {}, "more JSON"))


def test_a_third_image_member_is_carried_by_every_stage(with_mask, source_folder, tmp_path):
    from pipelines.build import BuildConfig, build_shards
    from pipelines.reader import train_loader
    from pipelines.stages import iter_dataset
    from pipelines.verify import verify_dataset

    out = tmp_path / "out"
    build_shards(BuildConfig(out=str(out), src_dir=str(source_folder), count=6, patch=32, shard_size=3,
                             n=3, seed=1, workers=1, progress=False))
    # write: the member in every sample, in the manifest's member list
    with tarfile.open(out / "shard-000000.tar") as tar:
        assert tar.getnames()[:4] == ["000000000.json", "000000000.lq.png", "000000000.gt.png",
                                      "000000000.mask.png"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sample"]["members"] == ["KEY.json", "KEY.lq.png", "KEY.gt.png", "KEY.mask.png"]
    # verify and read: decoded, consistent with lq and gt
    assert verify_dataset(out).ok
    samples = list(iter_dataset(out))
    assert len(samples) == 6
    for sample in samples:
        assert np.array_equal(sample["mask"], residual_mask(sample["lq"], sample["gt"]))
    # index: the member's own column
    fractions = pq.read_table(out / "index.parquet").column("mask_fraction").to_pylist()
    assert fractions == [float((s["mask"][..., 0] > 0).mean()) for s in samples]
    assert 0 < sum(fractions) < len(fractions)
    # augment and collate: cropped, turned and flipped with lq and gt, batched beside them
    for workers, as_uint8 in ((0, True), (2, True), (0, False)):
        # forked workers inherit the patched schema (a spawned one would import the declared one)
        loader = train_loader(out, batch_size=2, patch=16, workers=workers, seed=0, rank=0, world_size=1,
                              epoch_length=8, as_uint8=as_uint8, worker_start="fork")
        for batch in loader:
            assert batch["mask"].shape == batch["lq"].shape == (2, 3, 16, 16)
            assert batch["mask"].dtype == batch["gt"].dtype == (torch.uint8 if as_uint8 else torch.float32)
            planes = {f: (batch[f] if as_uint8 else (batch[f] * 255).round()).to(torch.uint8).numpy()
                      for f in ("lq", "gt", "mask")}
            for i in range(2):
                lq, gt, mask = (planes[f][i].transpose(1, 2, 0) for f in ("lq", "gt", "mask"))
                assert np.array_equal(mask, residual_mask(lq, gt))


def test_verify_reports_a_damaged_or_missing_new_member(with_mask, make_dataset, tmp_path):
    from pipelines.shardwriter import write_tar_atomically
    from pipelines.verify import verify_dataset

    folder = make_dataset(tmp_path / "d", shards=1, per_shard=3)
    assert verify_dataset(folder).ok
    tar_path = folder / "shard-000000.tar"
    with tarfile.open(tar_path) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
    members = [(name, data[:60] if name == "000000001.mask.png" else data)
               for name, data in members if name != "000000002.mask.png"]
    write_tar_atomically(tar_path, members)
    problems = "\n".join(verify_dataset(folder).problems)
    assert "000000001: CodecError" in problems
    assert "000000002: KeyError" in problems and "mask" in problems


def test_an_image_member_that_is_not_geometric_is_batched_untouched(monkeypatch, sample_of):
    from pipelines.batching import collate
    from pipelines.stages import Problems, augment_together

    thumbnail = Member("thumb", "thumb", IMAGE, lambda parts: parts.clean[::4, ::4], "a small preview")
    monkeypatch.setattr(schema, "SAMPLE", schema.SAMPLE.with_member(thumbnail))
    samples = []
    for index in range(2):
        record, lq, gt = sample_of(index, 16)
        values = schema.SAMPLE.values(SampleParts(index, 0, gt, lq, record))
        raw = {"__key__": record["key"], "__shard__": "s"}
        raw.update((name.split(".", 1)[1], data) for name, data in schema.SAMPLE.encode(values, record["key"], "npy"))
        samples.append(schema.SAMPLE.decode(raw))
    augmented = list(augment_together(samples, 8, np.random.default_rng(0), Problems(strict=True)))
    batch = collate(augmented)
    assert batch["lq"].shape == (2, 3, 8, 8) and batch["thumb"].shape == (2, 3, 4, 6)
    for i, sample in enumerate(samples):
        assert np.array_equal(batch["thumb"][i].numpy().transpose(1, 2, 0), sample["gt"][::4, ::4])
