import json

import pytest


@pytest.fixture
def metric_records():
    """records(out_dir, key="loss"): the metrics.jsonl records of a run that hold `key`."""
    def records(out_dir, key="loss"):
        lines = (out_dir / "metrics.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if key in json.loads(line)]
    return records
