"""Records written by earlier releases keep replaying."""
import hashlib
import json
from pathlib import Path

from degrade.chain import replay

V1_RECORD = Path(__file__).resolve().parent / "data" / "record_v1.json"


def test_a_version_1_record_with_big_integer_seeds_still_replays(textured):
    record = json.loads(V1_RECORD.read_text())
    assert record["version"] == 1 and record["seed"] > 2**53
    assert any(op["params"].get("seed", 0) > 2**53 for op in record["ops"])
    lq = replay(record, textured(40, 48, seed=5))
    assert hashlib.sha256(lq.tobytes()).hexdigest() == record["lq_sha256_of_textured_40x48_seed5"]
