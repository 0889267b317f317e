"""pipelines.index: index.parquet's columns, and selecting samples by their ops."""
import json

import pyarrow.parquet as pq
import pytest

from pipelines import schema
from pipelines.index import OpsFilter, arrow_type, as_ops_filter, select_keys


def test_one_row_per_sample_with_the_declared_and_the_typed_param_columns(fake_dataset, sample_of):
    table = pq.read_table(fake_dataset / "index.parquet")
    declared = [column.name for column in schema.SAMPLE.index_columns]
    assert table.column_names[:len(declared)] == declared
    for column in schema.SAMPLE.index_columns:  # parquet names a list's items "element"
        written = str(table.schema.field(column.name).type).replace("element", "item")
        assert written == str(arrow_type(column.type)), column.name
    rows = table.to_pylist()
    assert [row["key"] for row in rows] == [f"{i:09d}" for i in range(12)]
    for index, row in enumerate(rows):
        record = sample_of(index, 24)[0]
        assert row["shard"] == f"shard-{index // 4:06d}.tar" and row["crop"] == record["crop"]
        assert row["ops"] == [op["name"] for op in record["ops"]] and row["chain_length"] == len(row["ops"])
        assert json.loads(row["params"]) == record["ops"] and row["seed"] == record["seed"]
        # typed columns: the params each op declares (the fake ops' `strength` is none of them)
        assert all(row[c.name] == [] for c in schema.op_param_columns())
    assert table.column_names[len(declared):] == [c.name for c in schema.op_param_columns()]


def test_arrow_types_from_their_names():
    assert str(arrow_type("list<int32>")) == "list<item: int32>" and str(arrow_type("bool")) == "bool"
    with pytest.raises(ValueError, match="'int33' is not an Arrow type name"):
        arrow_type("int33")


def test_ops_filters_parse_and_select(fake_dataset, sample_of):
    chain = ["gaussian_blur", "rain"]
    assert OpsFilter.parse("contains=rain")(chain) and not OpsFilter.parse("contains=jpeg")(chain)
    assert OpsFilter.parse("only=gaussian_blur,rain;length=1-2")(chain)
    assert not OpsFilter.parse("exclude=rain")(chain) and not OpsFilter.parse("length=1,3")(chain)
    with pytest.raises(ValueError, match="unknown clause 'has'"):
        OpsFilter.parse("has=rain")
    with pytest.raises(ValueError, match="length must be integers"):
        OpsFilter.parse("length=one")
    with pytest.raises(TypeError, match="ops_filter"):
        as_ops_filter(3)
    selected = select_keys(fake_dataset, "contains=rain")
    expected = {}
    for index in range(12):
        record = sample_of(index, 24)[0]
        if "rain" in [op["name"] for op in record["ops"]]:
            expected.setdefault(f"shard-{index // 4:06d}.tar", set()).add(record["key"])
    assert selected == expected
