"""Data-folder checks: the PolyU split, and one-line errors naming what is missing."""
from __future__ import annotations

import shutil

import pytest

from studies.datafolder import DataFolderError, check_data_folder


def test_complete_folder_lists_sources_and_splits_polyu_by_sorted_name(data_folder):
    folder = check_data_folder(data_folder)
    names = [p.parent.name for p in folder.clean_sources]
    assert names == ["train"] * 6 + ["sun80"] * 3  # bsds500/train then sun80, never cbsd68
    assert len(folder.cbsd68) == 4
    assert [lq.stem for lq, _ in folder.polyu_train] == [f"cam_{i:03d}" for i in range(70)]
    assert [lq.stem for lq, _ in folder.polyu_test] == [f"cam_{i:03d}" for i in range(70, 100)]
    assert all(lq.stem == gt.stem and lq.parent.name == "lq" for lq, gt in folder.polyu_test)


def _one_line_error(root, match, **kwargs):
    with pytest.raises(DataFolderError, match=match) as caught:
        check_data_folder(root, **kwargs)
    assert "\n" not in str(caught.value)


def test_absent_folder(tmp_path):
    _one_line_error(tmp_path / "nowhere", "does not exist")


@pytest.mark.parametrize("part", ["bsds500/train", "sun80", "cbsd68", "polyu_real_noise/lq",
                                  "polyu_real_noise/gt"])
def test_missing_part_is_named(tmp_path, make_data, part):
    root = make_data(tmp_path / "data", polyu_pairs=100)
    shutil.rmtree(root / part)
    _one_line_error(root, f"missing {part}/")


def test_empty_part_is_named(tmp_path, make_data):
    root = make_data(tmp_path / "data")
    for image in (root / "sun80").iterdir():
        image.unlink()
    _one_line_error(root, "sun80/ has 0 images")


def test_too_few_cbsd68_images_for_the_scale(data_folder):
    _one_line_error(data_folder, "cbsd68/ has 4 images, needs at least 8", cbsd68_count=8)


def test_too_few_polyu_pairs(tmp_path, make_data):
    _one_line_error(make_data(tmp_path / "data", polyu_pairs=40), "has 40 pairs, needs 100")


def test_unmatched_polyu_stem(tmp_path, make_data):
    root = make_data(tmp_path / "data")
    (root / "polyu_real_noise" / "gt" / "cam_005.png").rename(
        root / "polyu_real_noise" / "gt" / "other.png")
    _one_line_error(root, "unmatched lq/gt stems")
