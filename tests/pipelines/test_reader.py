"""pipelines.reader: train_loader's batches, splits across ranks and workers, epochs."""
import numpy as np
import pytest
import torch

from pipelines.reader import train_loader
from pipelines.stages import CorruptDataError


def collect(loader, epochs=1):
    return [batch for _ in range(epochs) for batch in loader]


def test_batches_have_the_contract_shapes_and_values(fake_dataset):
    loader = train_loader(fake_dataset, batch_size=4, patch=16, workers=0, seed=1, rank=0, world_size=1)
    assert len(loader) == 3  # ceil(12 / 4)
    batches = collect(loader)
    assert len(batches) == 3
    for batch in batches:
        assert batch["lq"].dtype == torch.float32 and batch["lq"].shape == (4, 3, 16, 16)
        assert batch["gt"].shape == (4, 3, 16, 16)
        assert 0.0 <= float(batch["lq"].min()) and float(batch["lq"].max()) <= 1.0
        assert len(batch["key"]) == 4 and all("." not in k for k in batch["key"])


def test_lq_and_gt_get_the_same_crop_and_flips(fake_dataset, sample_of):
    # Reconstruct: the fake lq is gt plus noise in [-20, 20], so a shared crop/flip keeps |lq-gt| <= 20/255.
    loader = train_loader(fake_dataset, batch_size=4, patch=12, workers=0, seed=3, rank=0, world_size=1)
    for batch in collect(loader, epochs=2):
        assert float((batch["lq"] - batch["gt"]).abs().max()) <= 20 / 255 + 1e-6
        # and the crop is really a crop of this sample's gt under one of the 8 symmetries
        key, gt = batch["key"][0], (batch["gt"][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        _, _, full_gt = sample_of(int(key), 24)
        assert any(_contains(np.rot90(f, t), gt) for t in range(4) for f in (full_gt, full_gt[:, ::-1]))


def _contains(big, small):
    h, w = small.shape[:2]
    return any(np.array_equal(big[y:y + h, x:x + w], small)
               for y in range(big.shape[0] - h + 1) for x in range(big.shape[1] - w + 1))


def test_same_seed_same_batches_and_different_seed_differs(fake_dataset):
    def keys(seed, workers):
        loader = train_loader(fake_dataset, batch_size=3, patch=8, workers=workers, seed=seed, rank=0, world_size=1)
        return [k for b in collect(loader, epochs=2) for k in b["key"]], collect(loader)[0]["lq"]

    first, second = keys(5, 0), keys(5, 0)
    assert first[0] == second[0] and torch.equal(first[1], second[1])
    assert keys(6, 0)[0] != first[0]
    with_workers = keys(5, 2)
    assert with_workers[0] == keys(5, 2)[0]


def test_every_rank_gets_a_full_epoch_even_with_more_splits_than_shards(tmp_path, make_dataset):
    folder = make_dataset(tmp_path / "d", shards=1, per_shard=6)
    per_rank = []
    for rank in range(3):
        loader = train_loader(folder, batch_size=2, patch=8, workers=2, seed=0, rank=rank, world_size=3,
                              epoch_length=4)
        batches = collect(loader)
        assert len(batches) == 4 == len(loader)
        per_rank.append(batches)


def test_ops_filter_via_the_index(fake_dataset, sample_of):
    loader = train_loader(fake_dataset, batch_size=1, patch=8, workers=0, seed=0, rank=0, world_size=1,
                          ops_filter="contains=rain")
    keys = {k for b in collect(loader, epochs=3) for k in b["key"]}
    expected = {sample_of(i, 24)[0]["key"] for i in range(12)
                if "rain" in [op["name"] for op in sample_of(i, 24)[0]["ops"]]}
    assert keys == expected and len(loader) == len(expected)
    single = train_loader(fake_dataset, batch_size=1, patch=8, workers=0, seed=0, rank=0, world_size=1,
                          ops_filter="only=gaussian_blur,gaussian_noise;length=1")
    for batch in collect(single, epochs=2):
        ops = [op["name"] for op in batch["record"][0]["ops"]]
        assert len(ops) == 1 and ops[0] in ("gaussian_blur", "gaussian_noise")
    with pytest.raises(ValueError, match="no sample matches"):
        train_loader(fake_dataset, 1, 8, 0, 0, ops_filter="contains=jpeg", rank=0, world_size=1)


def test_all_shards_unreadable_raises_instead_of_spinning(tmp_path, make_dataset):
    folder = make_dataset(tmp_path / "d", shards=2, per_shard=2)
    for tar in folder.glob("*.tar"):
        tar.write_bytes(b"garbage" * 100)
    loader = train_loader(folder, 1, 8, 0, 0, rank=0, world_size=1)
    with pytest.raises(CorruptDataError, match="no usable sample"):
        collect(loader)


def test_uint8_batches_on_request(fake_dataset):
    loader = train_loader(fake_dataset, batch_size=2, patch=8, workers=0, seed=0, rank=0, world_size=1,
                          as_uint8=True)
    batch = next(iter(loader))
    assert batch["lq"].dtype == torch.uint8 and batch["lq"].shape == (2, 3, 8, 8)
    floats = train_loader(fake_dataset, batch_size=2, patch=8, workers=0, seed=0, rank=0, world_size=1)
    assert torch.allclose(next(iter(floats))["lq"], batch["lq"].float() / 255, rtol=0, atol=1e-7)


def test_decode_threads_change_nothing_but_speed(fake_dataset):
    def run(threads, workers=0):
        loader = train_loader(fake_dataset, batch_size=3, patch=8, workers=workers, seed=4, rank=0,
                              world_size=1, threads=threads)
        return collect(loader, epochs=2)

    inline = run(0)
    for threads, workers in ((1, 0), (3, 0), (2, 1)):
        other = run(threads, workers)
        reference = inline if workers == 0 else run(0, workers)
        assert [b["key"] for b in other] == [b["key"] for b in reference]
        assert all(torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"])
                   and a["record"] == b["record"] for a, b in zip(other, reference))


def test_threads_must_not_be_negative(fake_dataset):
    with pytest.raises(ValueError, match="threads >= 0"):
        train_loader(fake_dataset, 1, 8, 0, 0, rank=0, world_size=1, threads=-1)


@pytest.mark.parametrize("as_uint8", [True, False])
def test_batches_from_reused_worker_buffers_stay_intact_and_match_fresh_buffers(fake_dataset, as_uint8):
    """Workers write into a SharedRing; a batch the caller keeps must never change afterwards."""
    def run(reuse: bool):
        loader = train_loader(fake_dataset, batch_size=2, patch=8, workers=2, seed=9, rank=0, world_size=1,
                              epoch_length=30, as_uint8=as_uint8)
        if not reuse:
            loader.loader.dataset.reuse_ahead = None  # fresh shared memory per batch, as before the ring
        kept = list(loader)  # 30 batches held at once: far more than the ring's 12 buffers per worker
        return [(b["key"], b["lq"], b["gt"]) for b in kept]

    fresh, reused = run(reuse=False), run(reuse=True)
    assert len(reused) == 30
    for (keys, lq, gt), (fresh_keys, fresh_lq, fresh_gt) in zip(reused, fresh):
        assert keys == fresh_keys and torch.equal(lq, fresh_lq) and torch.equal(gt, fresh_gt)


def test_workers_started_by_forkserver_give_the_same_batches(fake_dataset):
    def keys_and_pixels(worker_start):
        loader = train_loader(fake_dataset, batch_size=2, patch=8, workers=2, seed=2, rank=0, world_size=1,
                              epoch_length=6, worker_start=worker_start)
        return [(b["key"], b["lq"]) for b in loader]

    forked, served = keys_and_pixels("fork"), keys_and_pixels("forkserver")
    assert [k for k, _ in forked] == [k for k, _ in served]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(forked, served))
    with pytest.raises(ValueError, match="worker_start"):
        train_loader(fake_dataset, 1, 8, 1, 0, rank=0, world_size=1, worker_start="thread")

