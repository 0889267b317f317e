"""Chains: the space size, the three modes' statistics, records, replay and determinism."""
import functools
import itertools
import json
import multiprocessing

import numpy as np
import pytest

from degrade.chain import (RECORD_VERSION, apply_chain, degrade, fixed_size_distribution,
                           replay, sample_chain, space_size)
from degrade.registry import CANONICAL_ORDER, OPS

LIGHT_POOL = ["gaussian_noise", "poisson_noise", "speckle_noise", "jpeg", "rain"]


def test_space_size_formula_and_patent_count():
    assert space_size(7, 6) == 137257
    for k in range(1, 5):
        for n in range(0, 5):
            sequences = sum(1 for length in range(n + 1)
                            for _ in itertools.product(range(k), repeat=length))
            assert space_size(k, n) == sequences


def test_space_size_rejects_bad_arguments():
    with pytest.raises(ValueError):
        space_size(0, 3)


def test_prod_lengths_and_ops_are_uniform():
    rng = np.random.default_rng(0)
    chains = [sample_chain(rng, list(CANONICAL_ORDER), 6, "prod", 1, (16, 16, 3))
              for _ in range(3000)]
    lengths = np.bincount([len(c) for c in chains], minlength=7)
    assert lengths[0] == 0
    assert np.all(np.abs(lengths[1:] / 3000 - 1 / 6) < 0.025)
    names = [step["name"] for c in chains for step in c]
    frequencies = np.array([names.count(n) for n in CANONICAL_ORDER]) / len(names)
    assert np.all(np.abs(frequencies - 1 / 7) < 0.015)
    orders = {tuple(s["name"] for s in c) for c in chains if len(c) == 2}
    assert ("jpeg", "gaussian_noise") in orders and ("gaussian_noise", "jpeg") in orders


def test_min_length_zero_admits_the_identity():
    rng = np.random.default_rng(1)
    lengths = [len(sample_chain(rng, ["jpeg"], 2, "prod", 0)) for _ in range(300)]
    assert set(lengths) == {0, 1, 2}
    image = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    np.testing.assert_array_equal(apply_chain(image, []), image)


def test_fixed_mode_expected_length_equals_prod_and_order_is_canonical():
    rng = np.random.default_rng(2)
    chains = [sample_chain(rng, list(CANONICAL_ORDER), 6, "fixed", 1) for _ in range(4000)]
    lengths = np.array([len(c) for c in chains])
    assert lengths.min() >= 1 and lengths.max() <= 6
    assert lengths.mean() == pytest.approx(3.5, abs=0.06)
    for chain in chains:
        names = [s["name"] for s in chain]
        assert names == sorted(set(names), key=CANONICAL_ORDER.index)
    inclusion = np.array([sum(n in [s["name"] for s in c] for c in chains)
                          for n in CANONICAL_ORDER]) / len(chains)
    assert np.all(np.abs(inclusion - 0.5) < 0.035)


@pytest.mark.parametrize("k, n, m", [(7, 6, 1), (5, 3, 1), (7, 2, 0), (4, 6, 1), (7, 6, 3)])
def test_fixed_size_distribution_mean_is_prods(k, n, m):
    sizes, probabilities = fixed_size_distribution(k, n, m)
    assert probabilities.sum() == pytest.approx(1)
    assert sizes.min() >= m and sizes.max() <= min(k, n)
    reachable = min(k, n)
    assert sizes @ probabilities == pytest.approx(min((m + n) / 2, reachable), abs=1e-9)


def test_single_mode_draws_exactly_one_op():
    rng = np.random.default_rng(3)
    chains = [sample_chain(rng, list(CANONICAL_ORDER), 6, "single") for _ in range(700)]
    assert {len(c) for c in chains} == {1}
    assert {c[0]["name"] for c in chains} == set(CANONICAL_ORDER)


def test_record_round_trips_json_and_replays_bit_exact(small_uint8):
    for seed in range(6):
        out, record = degrade(small_uint8, seed, list(CANONICAL_ORDER), 6)
        assert out.dtype == np.uint8 and out.shape == small_uint8.shape
        assert record["version"] == RECORD_VERSION == 2 and record["seed"] == str(seed)
        assert record["pool"] == list(CANONICAL_ORDER) and record["max_length"] == 6
        restored = json.loads(json.dumps(record))
        np.testing.assert_array_equal(replay(restored, small_uint8), out)
        again, same_record = degrade(small_uint8, seed, list(CANONICAL_ORDER), 6)
        np.testing.assert_array_equal(again, out)
        assert same_record == record


def test_replay_ignores_unknown_keys_and_rejects_bad_records(small_uint8):
    _, record = degrade(small_uint8, 0, LIGHT_POOL, 3)
    record = dict(record, key="000001", crop=[0, 0, 8, 8])
    replay(record, small_uint8)
    with pytest.raises(ValueError, match="version"):
        replay(dict(record, version=99), small_uint8)
    with pytest.raises(ValueError, match="unknown op 'fog'"):
        replay(dict(record, ops=[{"name": "fog", "params": {}}]), small_uint8)
    bad_step = {"name": "jpeg", "params": {"quality": 5}}
    with pytest.raises(ValueError, match="jpeg: quality=5"):
        replay(dict(record, ops=[bad_step]), small_uint8)


@pytest.mark.parametrize("kwargs, message", [
    ({"pool": []}, "empty"), ({"pool": ["blur"]}, "unknown op 'blur'"),
    ({"max_length": 0}, "max_length"), ({"min_length": 7}, "min_length"),
    ({"mode": "random"}, "mode"), ({"seed": -1}, "seed")])
def test_degrade_rejects_bad_options(small_uint8, kwargs, message):
    options = dict(seed=0, pool=LIGHT_POOL, max_length=6) | kwargs
    with pytest.raises(ValueError, match=message):
        degrade(small_uint8, **options)


def test_same_bytes_with_one_or_two_worker_processes():
    # The worker calls the library function itself (a partial pickles by reference), so the
    # spawned processes need nothing from this test module.
    image = np.random.default_rng(123).integers(0, 256, (40, 36, 3)).astype(np.uint8)
    job = functools.partial(degrade, image, pool=list(CANONICAL_ORDER), max_length=6)
    seeds = list(range(8))
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as one:
        serial = one.map(job, seeds)
    with context.Pool(2) as two:
        parallel = two.map(job, seeds, chunksize=1)
    in_process = [job(seed) for seed in seeds]
    for (a, record_a), (b, record_b), (c, record_c) in zip(serial, parallel, in_process):
        assert a.tobytes() == b.tobytes() == c.tobytes()
        assert record_a == record_b == record_c


# ---- every op on every documented layout ----------------------------------------------------

def layouts():
    rng = np.random.default_rng(5)
    return {
        "1x1": rng.integers(0, 256, (1, 1, 3)).astype(np.uint8),
        "odd": rng.integers(0, 256, (7, 5, 3)).astype(np.uint8),
        "grey": rng.integers(0, 256, (9, 11)).astype(np.uint8),
        "grey1": rng.integers(0, 256, (6, 4, 1)).astype(np.uint8),
        "uint16": rng.integers(0, 65536, (8, 9, 3)).astype(np.uint16),
        "rgba": rng.integers(0, 256, (5, 6, 4)).astype(np.uint8),
        "float64": rng.random((4, 7, 3)),
    }


@pytest.mark.parametrize("name", CANONICAL_ORDER)
@pytest.mark.parametrize("layout", list(layouts()))
def test_every_op_keeps_shape_dtype_and_alpha(name, layout):
    image = layouts()[layout]
    params = OPS[name].sample_params(np.random.default_rng(0), image.shape)
    out = apply_chain(image, [{"name": name, "params": params}])
    assert out.shape == image.shape and out.dtype == image.dtype
    if layout == "rgba":
        np.testing.assert_array_equal(out[..., 3], image[..., 3])
    if layout == "float64":
        assert out.min() >= 0 and out.max() <= 1


def test_uint16_keeps_16_bit_precision_and_grey_returns_luma():
    ramp = (np.arange(64 * 64, dtype=np.uint32) * 16).reshape(64, 64).astype(np.uint16)
    image16 = np.repeat(ramp[:, :, None], 3, axis=2)
    params = {"sigma": 1.0, "grey": False, "seed": 1}
    out = apply_chain(image16, [{"name": "gaussian_noise", "params": params}])
    assert np.any(out % 257 != 0)  # not squeezed through 8 bits
    grey = ramp.astype(np.float64) / 65535
    steps = [{"name": "jpeg", "params": {"quality": 90}}]
    via_grey = apply_chain(grey, steps)
    colour = apply_chain(np.repeat(grey[:, :, None], 3, axis=2), steps)
    luma = colour @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(via_grey, luma, atol=1e-6)
