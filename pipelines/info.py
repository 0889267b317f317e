"""dataset_info: a readable summary of a shard folder (sizes, options, op and chain-length counts)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pipelines.schema import MANIFEST_NAME


def dataset_info(folder: str | Path, examples: int = 3) -> dict:
    """Counts per op and chain length from index.parquet, options and totals from manifest.json."""
    from pipelines.index import read_index

    folder = Path(folder)
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path}: missing (unfinished build, or not a shard folder)")
    manifest = json.loads(manifest_path.read_text())
    table = read_index(folder, columns=["key", "ops", "params"]).to_pydict()
    lengths = Counter(len(ops) for ops in table["ops"])
    return {
        "folder": str(folder), "totals": manifest["totals"], "config": manifest.get("config", {}),
        "degradation_space": manifest.get("degradation_space", {}),
        "op_occurrences": dict(Counter(op for ops in table["ops"] for op in ops).most_common()),
        "samples_containing_op": dict(Counter(op for ops in table["ops"] for op in set(ops)).most_common()),
        "chain_lengths": {str(k): lengths[k] for k in sorted(lengths)},
        "examples": [{"key": k, "ops": json.loads(p)} for k, p in
                     list(zip(table["key"], table["params"]))[:examples]],
    }


def format_info(info: dict) -> str:
    totals, config, space = info["totals"], info["config"], info["degradation_space"]
    samples = max(totals["samples"], 1)
    lines = [f"{info['folder']}: {totals['samples']} pairs in {totals['shards']} shards "
             f"({totals['bytes'] / 1e6:.1f} MB)"]
    if config:
        lines.append(f"  mode {config.get('mode')}, patch {config.get('patch')}, format {config.get('fmt')}, "
                     f"seed {config.get('seed')}, chain length {config.get('min_length')}..{config.get('n')}")
    if space:
        lines.append(f"  pool (K={space.get('k')}): {', '.join(space.get('pool', []))}; "
                     f"degradation space {space.get('size')} chains")
    lines.append("  samples containing each op:")
    lines += [f"    {op:16s} {n:8d}  ({100 * n / samples:5.1f}%)" for op, n in info["samples_containing_op"].items()]
    lines.append("  chain lengths: " + ", ".join(f"{k}: {v}" for k, v in info["chain_lengths"].items()))
    lines.append("  example chains:")
    for example in info["examples"]:
        chain = " -> ".join(op["name"] for op in example["ops"]) or "(clean)"
        lines.append(f"    {example['key']}: {chain}")
    return "\n".join(lines)
