"""index.parquet: one row per sample (what its chain is), and filtering samples by their ops.

Columns: the ones pipelines.schema declares (key, shard, ops, chain_length, params, seed,
source, source_sha256, crop), then one typed column per declared op parameter (every op of
the registry, `pipelines.schema.op_param_columns`) named `<op>__<param>`: a list of int64,
double, bool or string, one value per occurrence of that op in the chain (empty when the op is
absent). Every field carries its meaning (and unit) as `description` in its metadata.
Random-field seeds and motion paths are only in `params`.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines import schema
from pipelines.files import write_bytes_atomically

INDEX_NAME = "index.parquet"


def index_row(values: dict, shard: str) -> dict:
    """One row (plain JSON types) from a sample's member values ({field: value})."""
    return schema.SAMPLE.index_row(values, shard)


def arrow_type(text: str):
    """An Arrow type written as text ('int32', 'double', 'bool', 'list<string>') -> the pyarrow type."""
    import pyarrow as pa

    if text.startswith("list<") and text.endswith(">"):
        return pa.list_(arrow_type(text[5:-1]))
    try:
        return pa.type_for_alias(text)
    except ValueError:
        raise ValueError(f"index column type {text!r} is not an Arrow type name") from None


def rows_to_table(rows: Sequence[dict]):
    import pyarrow as pa

    rows = sorted(rows, key=lambda row: row["key"])
    columns = schema.SAMPLE.all_index_columns
    fields = [pa.field(c.name, arrow_type(c.type), metadata={"description": c.meaning})
              for c in columns]
    arrays = [pa.array([r[c.name] for r in rows], field.type) for c, field in zip(columns, fields)]
    return pa.table(arrays, schema=pa.schema(fields))


def write_index(path: Path, rows: Sequence[dict]) -> None:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(rows_to_table(rows), buffer, compression="zstd")
    write_bytes_atomically(Path(path), buffer.getvalue())


def read_index(dataset_dir: Path, columns: Iterable[str] | None = None):
    import pyarrow.parquet as pq

    path = Path(dataset_dir) / INDEX_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no index (is {dataset_dir} a finished build-shards folder?)")
    return pq.read_table(path, columns=list(columns) if columns else None)


@dataclass(frozen=True)
class OpsFilter:
    """Which chains to keep. All given conditions must hold.

    contains: every one of these ops appears in the chain ("contains rain").
    only: every op of the chain is one of these ("only blur" = only gaussian_blur, motion_blur).
    exclude: none of these ops appears.
    lengths: the chain length is one of these ("single-op" = (1,)).
    """

    contains: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    lengths: tuple[int, ...] | None = None

    def __call__(self, ops: Sequence[str]) -> bool:
        present = set(ops)
        return (all(name in present for name in self.contains)
                and (self.only is None or present <= set(self.only))
                and not present & set(self.exclude)
                and (self.lengths is None or len(ops) in self.lengths))

    @classmethod
    def parse(cls, text: str) -> "OpsFilter":
        """'contains=rain', 'only=gaussian_blur,motion_blur;length=1', 'exclude=jpeg;length=1-3'."""
        fields: dict = {}
        for clause in filter(None, (part.strip() for part in text.split(";"))):
            name, _, value = clause.partition("=")
            name, items = name.strip(), tuple(v.strip() for v in value.split(",") if v.strip())
            if name in ("contains", "only", "exclude"):
                fields[name] = items
            elif name in ("length", "lengths"):
                fields["lengths"] = _parse_lengths(items)
            else:
                raise ValueError(f"ops filter {text!r}: unknown clause {name!r} "
                                 "(use contains=, only=, exclude=, length=)")
        return cls(**fields)


def _parse_lengths(items: Sequence[str]) -> tuple[int, ...]:
    lengths: list[int] = []
    try:
        for item in items:
            low, _, high = item.partition("-")
            lengths.extend(range(int(low), int(high or low) + 1))
    except ValueError:
        raise ValueError(f"ops filter: length must be integers or ranges like 1-3, got {items}") from None
    return tuple(lengths)


def as_ops_filter(spec) -> Callable[[Sequence[str]], bool] | None:
    """None, an OpsFilter, a string for OpsFilter.parse, or any callable(ops list) -> bool."""
    if spec is None or callable(spec):
        return spec
    if isinstance(spec, str):
        return OpsFilter.parse(spec)
    raise TypeError(f"ops_filter must be None, a string, or a callable, got {type(spec).__name__}")


def select_keys(dataset_dir: Path, ops_filter) -> dict[str, set[str]]:
    """{shard name: keys whose chain passes the filter}; shards without a match are left out."""
    keep = as_ops_filter(ops_filter)
    table = read_index(dataset_dir, columns=["key", "shard", "ops"]).to_pydict()
    selected: dict[str, set[str]] = {}
    for key, shard, ops in zip(table["key"], table["shard"], table["ops"]):
        if keep is None or keep(ops):
            selected.setdefault(shard, set()).add(key)
    return selected
