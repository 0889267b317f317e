"""pipelines.info: a shard folder's summary from its manifest and index."""
from collections import Counter

from pipelines.info import dataset_info, format_info


def test_counts_come_from_the_index(fake_dataset, sample_of):
    info = dataset_info(fake_dataset, examples=2)
    chains = [[op["name"] for op in sample_of(i, 24)[0]["ops"]] for i in range(12)]
    assert info["totals"]["samples"] == 12
    assert info["op_occurrences"] == dict(Counter(op for ops in chains for op in ops))
    assert info["samples_containing_op"] == dict(Counter(op for ops in chains for op in set(ops)))
    assert info["chain_lengths"] == {str(k): v for k, v in sorted(Counter(map(len, chains)).items())}
    assert [example["key"] for example in info["examples"]] == ["000000000", "000000001"]
    text = format_info(info)
    assert text.startswith(f"{fake_dataset}: 12 pairs in 3 shards") and "example chains" in text
