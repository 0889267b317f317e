"""Records written by earlier releases keep replaying."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from degrade.chain import degrade, replay
from degrade.registry import CANONICAL_ORDER

V1_RECORD = Path(__file__).resolve().parent / "data" / "record_v1.json"


def test_a_version_1_record_with_big_integer_seeds_still_replays(textured):
    record = json.loads(V1_RECORD.read_text())
    assert record["version"] == 1 and record["seed"] > 2**53
    assert any(op["params"].get("seed", 0) > 2**53 for op in record["ops"])
    lq = replay(record, textured(40, 48, seed=5))
    assert hashlib.sha256(lq.tobytes()).hexdigest() == record["lq_sha256_of_textured_40x48_seed5"]


JSON_SAFE = 2**53 - 1
ALL_OPS_SEEDS = range(40)  # PROD chains of these seeds use every op of the pool


def json_integers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from json_integers(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_integers(item)


def records_for(image, seeds):
    return [degrade(image, seed)[1] for seed in seeds]


def test_new_records_keep_every_json_integer_within_2_pow_53(textured):
    image = textured(24, 32)
    for seed in (0, 2**53 + 1, 3527577169254209511, 2**63 - 1):
        lq, record = degrade(image, seed)
        assert record["seed"] == str(seed)
        assert all(abs(v) <= JSON_SAFE for v in json_integers(record))
        # what a double-parsing reader (JavaScript, jq 1.6) keeps: every number as a float
        as_doubles = json.loads(json.dumps(record), parse_int=float)
        assert as_doubles["seed"] == str(seed)
        assert np.array_equal(replay(restore_integers(as_doubles), image), lq)


def restore_integers(value):
    """What a double-parsing reader writes back: integral floats stay numbers (37.0)."""
    return json.loads(json.dumps(value))


def test_op_seeds_are_decimal_strings_and_a_bad_one_is_named(textured):
    image = textured(24, 32)
    records = records_for(image, ALL_OPS_SEEDS)
    seeded = [op for r in records for op in r["ops"] if "seed" in op["params"]]
    assert seeded and all(isinstance(op["params"]["seed"], str) for op in seeded)
    broken = json.loads(json.dumps(next(r for r in records if any(
        op["name"] == "rain" for op in r["ops"]))))
    next(op for op in broken["ops"] if op["name"] == "rain")["params"]["seed"] = "12a"
    with pytest.raises(ValueError, match="rain: seed must be an integer"):
        replay(broken, image)


def test_records_through_an_arrow_struct_still_replay(textured):
    """pyarrow merges every op's params into one struct; the other ops' keys come back None."""
    import pyarrow as pa

    image = textured(24, 32)
    records = records_for(image, ALL_OPS_SEEDS)
    assert {op["name"] for r in records for op in r["ops"]} == set(CANONICAL_ORDER)
    round_tripped = pa.Table.from_pylist(records).to_pylist()
    jpeg = next(op for r in round_tripped for op in r["ops"] if op["name"] == "jpeg")
    assert {key for key, value in jpeg["params"].items() if value is None}  # the awkward shape
    for record, back in zip(records, round_tripped):
        assert np.array_equal(replay(back, image), replay(record, image))


def test_records_through_hugging_face_datasets_still_replay(textured):
    datasets = pytest.importorskip("datasets", reason="Hugging Face datasets is not installed")
    image = textured(24, 32)
    records = records_for(image, ALL_OPS_SEEDS)
    table = datasets.Dataset.from_list(records)
    for index, record in enumerate(records):
        assert np.array_equal(replay(table[index], image), replay(record, image))


def test_a_none_valued_key_the_op_declares_is_still_an_error(textured):
    image = textured(24, 32)
    record = next(r for r in records_for(image, ALL_OPS_SEEDS)
                  if any(op["name"] == "jpeg" for op in r["ops"]))
    next(op for op in record["ops"] if op["name"] == "jpeg")["params"]["quality"] = None
    with pytest.raises(ValueError, match="jpeg: quality"):
        replay(record, image)
