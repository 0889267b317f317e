"""The shipped JSON Schema describes every record the engine writes, and only valid ones."""
import copy
import json

import numpy as np
import pytest

from degrade.chain import degrade, degrade_named
from degrade.op import PARAM_KINDS
from degrade.record_schema import record_schema, schema_text, shipped_schema_text
from degrade.registry import CANONICAL_ORDER, KNOWN_OPS, OPS

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")

KIND_TYPES = {"number": float, "integer": int, "boolean": bool, "string": str, "seed": int,
              "points": list}


def validator():
    return jsonschema.Draft202012Validator(record_schema())


def test_the_shipped_file_is_the_generated_schema():
    assert shipped_schema_text() == schema_text(), (
        "regenerate: python -m degrade.record_schema > degrade/record.schema.json")
    jsonschema.Draft202012Validator.check_schema(record_schema())


@pytest.mark.parametrize("name", KNOWN_OPS)
def test_every_op_declares_each_param_it_draws_with_its_kind(name):
    op = OPS[name]
    rng = np.random.default_rng(0)
    drawn = [op.sample_params(rng, (64, 64, 3)) for _ in range(20)]
    assert all(set(p) == {d.name for d in op.params} for p in drawn)
    for declared in op.params:
        assert declared.kind in PARAM_KINDS and declared.meaning
        assert all(isinstance(p[declared.name], KIND_TYPES[declared.kind]) for p in drawn)


def test_records_the_engine_writes_validate(textured):
    image = textured(24, 32)
    check = validator()
    records = [degrade(image, seed)[1] for seed in range(40)]
    assert {op["name"] for r in records for op in r["ops"]} == set(CANONICAL_ORDER)
    records += [degrade_named(image, [name], 1)[1] for name in KNOWN_OPS]
    for record in records:
        check.validate(json.loads(json.dumps(record)))


@pytest.mark.parametrize("change, where", [
    (lambda op: op["params"].update(quality=200), "jpeg"),
    (lambda op: op["params"].update(quality=50, extra=1), "jpeg"),
    (lambda op: op["params"].update(seed=123), "rain"),  # a version-1 integer seed
    (lambda op: op["params"].update(seed="0123"), "rain"),
    (lambda op: op["params"].pop("alpha"), "rain"),
])
def test_invalid_records_are_rejected(textured, change, where):
    image = textured(24, 32)
    record = next(r for r in (degrade(image, s)[1] for s in range(40))
                  if any(op["name"] == where for op in r["ops"]))
    record = copy.deepcopy(record)
    change(next(op for op in record["ops"] if op["name"] == where))
    assert not validator().is_valid(record)
