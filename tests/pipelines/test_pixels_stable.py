"""The same build command gives the same pixels in every release.

The hashes below were computed with the code as it was before record version 2 (seeds stored as
decimal strings): changing how a record is written must never change the chains drawn.
"""
import hashlib
import json

import numpy as np
import pytest

from degrade.chain import degrade, replay
from pipelines.build import BuildConfig, build_shards
from pipelines.pairs import iter_pairs

BUILD_PIXELS = {
    "prod": "31b821012d617d47782c647b6a54432630ccd3ac14f3bf8e9b5a92d242cba48f",
    "fixed": "2ef4f1eff0051be11b0a1d4968e3b95beb3e993736d6dc7b5d2d261967c93b35",
    "single": "e795ffd6175fdd89ae1d736587b6d72c77d35db4a9870b734137192f327ad2af",
}
DEGRADE_PIXELS = "b837f600bd5234a981d647f618bd96a7e6da0a9baa962f901763aafee15e8034"


def pairs_digest(folder) -> str:
    digest = hashlib.sha256()
    for name, lq, gt in iter_pairs(folder):
        digest.update(name.encode())
        digest.update(lq.tobytes())
        digest.update(gt.tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("mode", sorted(BUILD_PIXELS))
def test_a_fixed_build_gives_the_stored_pixels(tmp_path, mode):
    out = tmp_path / mode
    build_shards(BuildConfig(out=str(out), count=12, patch=40, shard_size=6, seed=3, mode=mode,
                             workers=1, progress=False))
    assert pairs_digest(out) == BUILD_PIXELS[mode]


def test_degrade_with_seeds_above_2_pow_53_gives_the_stored_pixels():
    image = np.random.default_rng(0).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    digest = hashlib.sha256()
    for seed in (3527577169254209511, 2**63 - 1, 5):
        lq, record = degrade(image, seed)
        digest.update(lq.tobytes())
        assert np.array_equal(replay(json.loads(json.dumps(record)), image), lq)
    assert digest.hexdigest() == DEGRADE_PIXELS

