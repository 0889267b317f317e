"""Labels from hand-made records: presence anywhere in the chain, the strongest level."""
from __future__ import annotations

import numpy as np
import pytest

from trainer.estimator.labels import (LabelError, batch_labels, check_pool_covered,
                                      labels_from_record)

OPS = ["gaussian_noise", "jpeg", "rain"]


def _record(*steps):
    return {"version": 1, "ops": [{"name": n, "params": p} for n, p in steps]}


def _noise(sigma):
    return {"sigma": sigma, "grey": False, "seed": 1}


def test_presence_and_the_strongest_occurrence():
    record = _record(("jpeg", {"quality": 86}), ("gaussian_noise", _noise(6.0)),
                     ("jpeg", {"quality": 30}), ("gaussian_noise", _noise(3.0)))
    presence, level = labels_from_record(record, OPS)
    np.testing.assert_array_equal(presence, [1, 1, 0])
    # noise: max(6, 3) / 30; jpeg: the worse quality, (100 - 30) / 70
    np.testing.assert_allclose(level, [6.0 / 30, 1.0, 0.0], rtol=1e-6)


def test_empty_chain_is_all_absent_and_batches_stack():
    presence, level = batch_labels([_record(), _record(("rain", {"amount": 100, "alpha": 1.3,
                                                                  "angle": 0, "length": 20,
                                                                  "seed": 1}))], OPS)
    assert presence.shape == level.shape == (2, 3)
    np.testing.assert_array_equal(presence, [[0, 0, 0], [0, 0, 1]])
    assert level[1, 2] == pytest.approx(100 * 1.3 / 1300)


@pytest.mark.parametrize("record, message", [
    ({}, "no chain record"), ({"ops": "jpeg"}, "no chain record"),
    (_record(("fog", {})), "unknown op 'fog'"),
    (_record(("gaussian_noise", {"strength": 1.0})), "invalid params"),
    (_record(("motion_blur", {"size": 5, "points": [[0, 0]]})), "does not cover"),
])
def test_records_it_cannot_use_are_named(record, message):
    with pytest.raises(LabelError, match=message):
        labels_from_record(record, OPS)


def test_a_pool_with_ops_the_estimator_lacks_is_refused_by_name():
    check_pool_covered(["jpeg"], OPS, "shards")
    with pytest.raises(LabelError, match="haze, motion_blur"):
        check_pool_covered(["jpeg", "haze", "motion_blur"], OPS, "shards")
