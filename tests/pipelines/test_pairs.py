import cv2
import numpy as np
import pytest

from pipelines.pairs import PairError, iter_pairs


def write(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[..., ::-1])


def image(seed, h=10, w=12):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_shard_folder_pairs_in_key_order_with_limit(fake_dataset, sample_of):
    pairs = list(iter_pairs(fake_dataset, limit=5))
    assert [name for name, _, _ in pairs] == [f"{i:09d}" for i in range(5)]
    for name, lq, gt in pairs:
        _, want_lq, want_gt = sample_of(int(name), 24)
        assert lq.dtype == np.uint8 and np.array_equal(lq, want_lq) and np.array_equal(gt, want_gt)
    assert len(list(iter_pairs(fake_dataset / "shard-000001.tar"))) == 4


def test_npy_shard_pairs_are_writable_arrays(make_dataset, tmp_path):
    folder = make_dataset(tmp_path / "npy", shards=1, per_shard=2, fmt="npy")
    for _, lq, gt in iter_pairs(folder):
        lq[0, 0] = 0
        gt[0, 0] = 0


@pytest.mark.parametrize("names", [("lq", "gt"), ("input", "target")])
def test_paired_folder_matched_by_stem(tmp_path, names):
    for i in range(3):
        write(tmp_path / names[0] / f"{i:03d}.png", image(i))
        write(tmp_path / names[1] / f"{i:03d}.png", image(10 + i))
    pairs = list(iter_pairs(tmp_path))
    assert [n for n, _, _ in pairs] == ["000", "001", "002"]
    assert np.array_equal(pairs[1][1], image(1)) and np.array_equal(pairs[1][2], image(11))


def test_unmatched_files_are_named(tmp_path):
    write(tmp_path / "lq" / "a.png", image(0))
    write(tmp_path / "gt" / "a.png", image(1))
    write(tmp_path / "gt" / "b.png", image(2))
    with pytest.raises(PairError, match=r"without a partner.*b\.png"):
        list(iter_pairs(tmp_path))


def test_differently_sized_pairs_are_named(tmp_path):
    write(tmp_path / "lq" / "a.png", image(0, 10, 12))
    write(tmp_path / "gt" / "a.png", image(1, 10, 14))
    with pytest.raises(PairError, match=r"differ in size.*a\.png"):
        iter_pairs(tmp_path)


def test_folder_without_pairs_is_a_clear_error(tmp_path):
    with pytest.raises(PairError, match="lq/ and gt/"):
        iter_pairs(tmp_path)
