"""The JSON Schema of a chain record, derived from the ops' parameter declarations.

The package ships it as degrade/record.schema.json and every shard folder carries a copy, so
other tools validate records and pick dtypes without our code. Regenerate the shipped file
after adding or changing an op:  python -m degrade.record_schema > degrade/record.schema.json
"""
from __future__ import annotations

import json
from importlib import resources

from degrade.chain import MODES, RECORD_VERSION
from degrade.op import Op, Param
from degrade.registry import KNOWN_OPS, OPS
from degrade.seeding import SEED_BOUND

SCHEMA_FILE = "record.schema.json"
SEED_DIGITS = len(str(SEED_BOUND - 1))
SEED_SCHEMA = {"type": "string", "pattern": f"^(0|[1-9][0-9]{{0,{SEED_DIGITS - 1}}})$",
               "description": "an integer in [0, 2^63) as a decimal string (JSON readers that "
                              "parse numbers as doubles change integers above 2^53)"}
SAMPLE_PROPERTIES = {
    "key": {"type": "string", "pattern": "^[0-9]{9}$",
            "description": "the sample index, nine zero-padded digits (shard samples only)"},
    "source": {"type": "object", "required": ["path", "sha256"],
               "description": "the source image (shard samples only)",
               "properties": {"path": {"type": "string", "description": "relative to --src, "
                                       "skimage-data/NAME, or the line of --src-list"},
                              "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                                         "description": "of the source file's bytes"}}},
    "crop": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 4,
             "maxItems": 4, "description": "[y, x, h, w] of gt in the upright (EXIF-rotated) "
                                           "source image, pixels (shard samples only)"},
}


def param_schema(param: Param) -> dict:
    """One parameter: its JSON type, range and a description with the unit."""
    unit = f" (unit: {param.unit})" if param.unit else ""
    if param.kind == "seed":
        return {"$ref": "#/$defs/seed", "description": param.meaning}
    if param.kind == "points":
        pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
        return {"type": "array", "items": pair, "minItems": 1, "maxItems": int(param.high),
                "description": param.meaning + unit}
    schema: dict = {"type": param.kind, "description": param.meaning + unit}
    if param.choices:
        schema["enum"] = list(param.choices)
    if param.low is not None:
        schema["minimum"] = param.low
    if param.high is not None:
        schema["maximum"] = param.high
    return schema


def op_schema(op: Op) -> dict:
    params = {p.name: param_schema(p) for p in op.params}
    return {"type": "object", "required": ["name", "params"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "const": op.name},
                           "params": {"type": "object", "properties": params,
                                      "required": list(params), "additionalProperties": False}}}


def record_schema() -> dict:
    """The schema of a version-RECORD_VERSION record, with the sample keys shards add."""
    names = list(KNOWN_OPS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"colora-kit chain record, version {RECORD_VERSION}",
        "description": "A chain of degradations drawn from a seed; degrade.chain.replay(record, "
                       "clean) reproduces the degraded image bit for bit.",
        "type": "object",
        "required": ["version", "seed", "mode", "pool", "max_length", "min_length", "ops"],
        "properties": {
            "version": {"type": "integer", "const": RECORD_VERSION, "description": "record format version"},
            "seed": {"$ref": "#/$defs/seed", "description": "the seed the chain was drawn from"},
            "mode": {"type": "string", "enum": list(MODES), "description": "how the chain was drawn: prod (random "
                     "ops in random order), fixed (a subset in canonical order), single (one op)"},
            "pool": {"type": "array", "items": {"type": "string", "enum": names}, "minItems": 1,
                     "description": "the ops the chain was drawn from"},
            "max_length": {"type": "integer", "minimum": 1, "description": "N, the longest chain"},
            "min_length": {"type": "integer", "minimum": 0, "description": "the shortest chain"},
            "ops": {"type": "array", "description": "the degradations in the order applied",
                    "items": {"oneOf": [{"$ref": f"#/$defs/ops/{name}"} for name in names]}},
            **SAMPLE_PROPERTIES,
        },
        "$defs": {"seed": SEED_SCHEMA, "ops": {name: op_schema(OPS[name]) for name in names}},
    }


def schema_text() -> str:
    return json.dumps(record_schema(), indent=2) + "\n"


def shipped_schema_text() -> str:
    """The copy in the installed package (what the tests compare with record_schema())."""
    return resources.files("degrade").joinpath(SCHEMA_FILE).read_text()


if __name__ == "__main__":
    print(schema_text(), end="")
