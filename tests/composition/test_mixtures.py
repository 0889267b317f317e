"""Mixed-degradation test sets: determinism, strength bands, replayable labels, files."""
import json

import numpy as np
import pytest

from degrade.chain import replay
from degrade.errors import ConfigError
from degrade.registry import OPS
from trainer.mixtures import (LabelsError, STRENGTHS, clean_crops, mixed_set, mixture_families,
                              read_labels, write_mixed_set)
from trainer.tasks import TASKS


@pytest.fixture(scope="module")
def clean():
    rng = np.random.default_rng(0)
    return [(f"img{i}", rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)) for i in range(3)]


@pytest.mark.parametrize("mixture,strength", [("blur+noise+jpeg", "light"),
                                              ("rain+noise", "heavy")])
def test_levels_in_band_families_in_order_and_replayable(clean, mixture, strength):
    mixed = mixed_set(mixture, strength, clean, seed=3)
    low, high = STRENGTHS[strength]
    for (stem, lq, gt), (_, image) in zip(mixed.pairs, clean):
        record = mixed.records[stem]
        names = [step["name"] for step in record["ops"]]
        assert [next(f for f, ops in TASKS.items() if n in ops) for n in names] == \
            list(mixture_families(mixture))
        for step in record["ops"]:
            op = OPS[step["name"]]
            assert low <= op.severity.level(op.decode(step["params"])) <= high
        assert np.array_equal(gt, image)
        assert np.array_equal(replay(json.loads(json.dumps(record)), image), lq)


def test_same_seed_same_bytes_other_seed_other_bytes(clean):
    a, b = mixed_set("noise+jpeg", "light", clean, 1), mixed_set("noise+jpeg", "light", clean, 1)
    c = mixed_set("noise+jpeg", "light", clean, 2)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a.pairs, b.pairs))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a.pairs, c.pairs))


def test_families_are_sorted_into_camera_order_and_bad_names_refused():
    assert mixture_families("jpeg+blur") == ("blur", "jpeg")
    for bad in ("blur+blur", "blur+fog", ""):
        with pytest.raises(ConfigError, match="is not a mixture"):
            mixture_families(bad)


def test_written_set_reads_back(clean, tmp_path):
    from pipelines.pairs import iter_pairs

    mixed = mixed_set("blur+jpeg", "heavy", clean)
    write_mixed_set(mixed, tmp_path / "set")
    pairs = {name: (lq, gt) for name, lq, gt in iter_pairs(tmp_path / "set")}
    assert set(pairs) == {stem for stem, _, _ in mixed.pairs}
    for stem, lq, gt in mixed.pairs:
        assert np.array_equal(pairs[stem][0], lq) and np.array_equal(pairs[stem][1], gt)
    assert read_labels(tmp_path / "set") == json.loads(json.dumps(mixed.records))


def test_one_chain_record_labels_every_image(tmp_path):
    from trainer.mixtures import record_for

    record = {"version": 2, "ops": [{"name": "jpeg", "params": {"quality": 50}}]}
    (tmp_path / "out.json").write_text(json.dumps(record))
    labels = read_labels(tmp_path / "out.json")
    assert record_for(labels, "any", "x") == record == record_for(labels, "other", "x")


def test_bad_labels_files(tmp_path):
    with pytest.raises(LabelsError, match="no such labels file"):
        read_labels(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LabelsError, match="not a readable labels JSON"):
        read_labels(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(LabelsError, match="expected"):
        read_labels(tmp_path / "list.json")


def test_centre_crops_of_the_embedded_images():
    crops = clean_crops(None, 24)
    assert crops and all(image.shape == (24, 24, 3) for _, image in crops)
