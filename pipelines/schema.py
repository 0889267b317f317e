"""The shard sample, declared once: its tar members, each member's codec, which images are
cropped and flipped together, and the columns of index.parquet.

Everything that touches a sample derives from `SAMPLE`: the shard task makes and encodes each
member (`SampleSchema.encode`), the reader decodes the members it finds (`decode`),
augmentation crops, turns and flips every `geometric` image member with one draw, collation
stacks every image member into a batch tensor, verify checks that every member is present and
decodes, the manifest lists the member names (`manifest_entry`), and index.py writes the
declared `IndexColumn`s. Adding a member (a mask, a second degraded view) is one more `Member`
in `SAMPLE` below, and a FORMAT_VERSION bump.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from pipelines.codecs import decode_image, encode_image

FORMAT_NAME = "colora-kit-prod-shards"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"  # written last: a folder without it is an unfinished build


@dataclass(frozen=True)
class SampleParts:
    """What a shard task computes for one sample; every member is made from it."""

    index: int              # the sample's position in the build
    seed: int               # the build's global seed, for members that draw randomness of their own
    clean: np.ndarray       # uint8 HxWx3 RGB: the crop of the source
    degraded: np.ndarray    # uint8 HxWx3 RGB: what the degradation engine returned for `clean`
    record: dict            # the chain record with key, source and crop (KEY.json)


class ImageCodec:
    """uint8 HxWx3 RGB arrays, lossless; the build's format (png, npy) is the member's extension."""

    is_image = True

    def suffix(self, name: str, fmt: str) -> str:
        return f"{name}.{fmt}"

    def find(self, name: str, raw: Mapping[str, Any]) -> str | None:
        """The suffix `name.<format>` a raw sample holds, or None."""
        prefix = name + "."
        return next((suffix for suffix in raw if suffix.startswith(prefix)), None)

    def encode(self, value: np.ndarray, fmt: str) -> bytes:
        return encode_image(value, fmt)

    def decode(self, data: bytes | memoryview, suffix: str) -> np.ndarray:
        return decode_image(data, suffix.split(".", 1)[1])


class JsonCodec:
    """A JSON object, written compact with sorted keys (the same record, the same bytes)."""

    is_image = False

    def suffix(self, name: str, fmt: str) -> str:
        return name

    def find(self, name: str, raw: Mapping[str, Any]) -> str | None:
        return name if name in raw else None

    def encode(self, value: dict, fmt: str) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()

    def decode(self, data: bytes | memoryview, suffix: str) -> dict:
        return json.loads(bytes(data))


IMAGE, JSON = ImageCodec(), JsonCodec()


@dataclass(frozen=True)
class Member:
    """One tar member per sample, `KEY.<name>` (JSON) or `KEY.<name>.<format>` (images).

    field: its key in decoded samples and in batches. make: its value from the sample's parts.
    geometric: an image cropped, turned and flipped together with the other geometric images
    (all of one sample's geometric images have one size). default: what the reader uses when
    the member is absent; None makes it required (verify requires every member).
    """

    name: str
    field: str
    codec: ImageCodec | JsonCodec
    make: Callable[[SampleParts], Any]
    meaning: str
    geometric: bool = False
    default: Callable[[], Any] | None = None

    def suffix(self, fmt: str) -> str:
        return self.codec.suffix(self.name, fmt)

    def find(self, raw: Mapping[str, Any]) -> str | None:
        """The suffix under which a raw sample holds this member, or None."""
        return self.codec.find(self.name, raw)


@dataclass(frozen=True)
class IndexColumn:
    """One column of index.parquet: an Arrow type written as text (`int32`, `list<string>`) and
    its value, in plain JSON types, from a sample's member values and its shard's name."""

    name: str
    type: str
    value: Callable[[Mapping[str, Any], str], Any]
    meaning: str


@dataclass(frozen=True)
class SampleSchema:
    """A sample's members in tar order, and the index.parquet columns made from them:
    index_columns as declared here, then op_columns(), declared elsewhere and made on first use
    (the ops' parameters: every op module is imported only when an index row is made)."""

    members: tuple[Member, ...]
    index_columns: tuple[IndexColumn, ...]
    op_columns: Callable[[], tuple[IndexColumn, ...]] = tuple

    def __post_init__(self):
        names = [m.name for m in self.members]
        fields = [m.field for m in self.members] + ["key", "shard"]
        if len(set(names)) != len(names) or len(set(fields)) != len(fields):
            raise ValueError(f"member names and fields must be unique (and not key or shard): {names}")
        if len([m for m in self.members if not m.codec.is_image]) != 1:
            raise ValueError("a sample has exactly one JSON member: the record the index reads")
        if any("." in name for name in names):
            raise ValueError(f"member names cannot contain a dot (webdataset splits there): {names}")

    @cached_property
    def images(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.codec.is_image)

    @cached_property
    def geometric(self) -> tuple[Member, ...]:
        return tuple(m for m in self.images if m.geometric)

    @cached_property
    def record(self) -> Member:
        return next(m for m in self.members if not m.codec.is_image)

    def with_member(self, member: Member) -> "SampleSchema":
        """This schema with one more member (after the others in the tar)."""
        return replace(self, members=self.members + (member,))

    def with_index_column(self, column: IndexColumn) -> "SampleSchema":
        return replace(self, index_columns=self.index_columns + (column,))

    # ------------------------------------------------------------ writing

    def values(self, parts: SampleParts) -> dict[str, Any]:
        """{field: value} of every member, made from the sample's parts."""
        return {m.field: m.make(parts) for m in self.members}

    def encode(self, values: Mapping[str, Any], key: str, fmt: str):
        """Yields the sample's tar members (name, bytes) in declared order, encoding lazily."""
        for member in self.members:
            yield f"{key}.{member.suffix(fmt)}", member.codec.encode(values[member.field], fmt)

    @property
    def all_index_columns(self) -> tuple[IndexColumn, ...]:
        """Every column of index.parquet, in order: the declared ones, then op_columns()."""
        return self.index_columns + tuple(self.op_columns())

    def index_row(self, values: Mapping[str, Any], shard: str) -> dict:
        """One index.parquet row (plain JSON types, kept in a shard's receipt until the end)."""
        return {c.name: c.value(values, shard) for c in self.all_index_columns}

    def manifest_entry(self, fmt: str) -> dict:
        return {"members": [f"KEY.{m.suffix(fmt)}" for m in self.members], "image": "uint8 RGB HxWx3"}

    # ------------------------------------------------------------ reading

    def missing(self, raw: Mapping[str, Any], every: bool = False) -> list[str]:
        """Names of the required members (every member if `every`) a raw sample lacks."""
        return [m.name for m in self.members
                if (every or m.default is None) and m.find(raw) is None]

    def decode(self, raw: Mapping[str, Any], images: bool = True) -> dict:
        """Raw {"__key__", "__shard__", suffix: bytes} -> {"key", "shard", field: value}.

        Image members first, then the record; KeyError for a missing member, CodecError for bytes
        that do not decode, ValueError for geometric images of different sizes. images=False
        decodes only the record (verify without decoding)."""
        located = [(member, member.find(raw)) for member in self.images + (self.record,)]
        absent = [member.name for member, suffix in located if suffix is None and member.default is None]
        if absent:
            present = sorted(s for s in raw if not s.startswith("__"))
            raise KeyError(f"missing member(s) {', '.join(absent)}: has {present}")
        sample = {"key": raw["__key__"], "shard": raw["__shard__"]}
        for member, suffix in located if images else located[-1:]:
            sample[member.field] = (member.default() if suffix is None
                                    else member.codec.decode(raw[suffix], suffix))
        if images:
            check_same_size(sample, self.geometric)
        return sample


def check_same_size(sample: Mapping[str, Any], members: tuple[Member, ...]) -> None:
    """ValueError unless these image members of a decoded sample share one shape."""
    if not members:
        return
    first = members[0]
    for other in members[1:]:
        if sample[other.field].shape != sample[first.field].shape:
            raise ValueError(f"{first.name} {sample[first.field].shape} and {other.name} "
                             f"{sample[other.field].shape} differ in size")


def _params_json(values: Mapping[str, Any], shard: str) -> str:
    return json.dumps(values["record"]["ops"], sort_keys=True, separators=(",", ":"))


# Declared parameter kinds (degrade.op.Param) that get a typed column, and its element type.
# Random-field seeds and motion paths stay only in `params`.
PARAM_COLUMN_TYPES = {"number": "double", "integer": "int64", "boolean": "bool", "string": "string"}


def _param_values(op_name: str, param) -> Callable[[Mapping[str, Any], str], list]:
    """The column's value: the param of every occurrence of the op, in chain order."""
    def value(values: Mapping[str, Any], shard: str) -> list:
        from degrade.registry import OPS

        found = (OPS[op_name].decode(step["params"]).get(param.name)
                 for step in values["record"]["ops"] if step["name"] == op_name)
        return [value for value in found if value is not None]
    return value


@lru_cache(maxsize=1)
def op_param_columns() -> tuple[IndexColumn, ...]:
    """`<op>__<param>` for every typed parameter of every registered op (whether or not a build
    draws it, so every index has the same columns), typed as the op declares it."""
    from degrade.registry import OPS

    columns = []
    for name, op in OPS.items():
        for param in op.params:
            if param.kind in PARAM_COLUMN_TYPES:
                unit = f" (unit: {param.unit})" if param.unit else ""
                columns.append(IndexColumn(
                    f"{name}__{param.name}", f"list<{PARAM_COLUMN_TYPES[param.kind]}>",
                    _param_values(name, param),
                    f"{param.meaning}{unit}; one value per occurrence of {name} in the chain"))
    return tuple(columns)


SAMPLE = SampleSchema(
    members=(
        Member("json", "record", JSON, lambda parts: parts.record,
               "the chain record and provenance: ops with parameters, seed, source, crop",
               default=dict),
        Member("lq", "lq", IMAGE, lambda parts: parts.degraded,
               "the degraded image, exactly the array the degradation engine returned",
               geometric=True),
        Member("gt", "gt", IMAGE, lambda parts: parts.clean,
               "the clean image (the crop of the source)", geometric=True),
    ),
    index_columns=(
        IndexColumn("key", "string", lambda v, shard: v["record"]["key"], "the sample"),
        IndexColumn("shard", "string", lambda v, shard: shard, "the tar that holds it"),
        IndexColumn("ops", "list<string>", lambda v, shard: [op["name"] for op in v["record"]["ops"]],
                    "op names in chain order"),
        IndexColumn("chain_length", "int32", lambda v, shard: len(v["record"]["ops"]), "len(ops)"),
        IndexColumn("params", "string", _params_json,
                    "the ops list of KEY.json (names and parameters) as JSON"),
        IndexColumn("seed", "int64", lambda v, shard: int(v["record"]["seed"]), "the chain seed"),
        IndexColumn("source", "string", lambda v, shard: v["record"]["source"]["path"],
                    "the source image, as in KEY.json"),
        IndexColumn("source_sha256", "string", lambda v, shard: v["record"]["source"]["sha256"],
                    "sha256 of the source file's bytes"),
        IndexColumn("crop", "list<int32>", lambda v, shard: list(v["record"]["crop"]),
                    "[y, x, h, w] of gt in the upright source"),
    ),
    op_columns=op_param_columns,
)
