"""pipelines.plan: each sample's key, source, crop and chain seed, and the shards' ranges."""
from pipelines.plan import SourceShape, plan_sample, plan_shards, sample_key, source_for_sample

SHAPES = [SourceShape(40, 50), SourceShape(64, 33), SourceShape(32, 32)]


def test_a_plan_is_a_function_of_seed_and_index_only():
    plans = [plan_sample(7, index, 30, SHAPES, patch=32) for index in range(30)]
    again = [plan_sample(7, index, 30, dict(enumerate(SHAPES)), patch=32, n_sources=3)
             for index in reversed(range(30))]
    assert plans == again[::-1]
    other_seed = [plan_sample(8, index, 30, SHAPES, patch=32) for index in range(30)]
    assert [p.chain_seed for p in plans] != [p.chain_seed for p in other_seed]
    assert len({p.chain_seed for p in plans}) == 30


def test_crops_fit_their_source_and_patch_0_keeps_the_whole_image():
    for index in range(30):
        plan = plan_sample(3, index, 30, SHAPES, patch=32)
        y, x, h, w = plan.crop
        shape = SHAPES[plan.source]
        assert (h, w) == (32, 32) and 0 <= y <= shape.height - 32 and 0 <= x <= shape.width - 32
        assert plan_sample(3, index, 30, SHAPES, patch=0).crop == (0, 0, shape.height, shape.width)


def test_sources_come_in_contiguous_near_equal_runs():
    sources = [source_for_sample(index, 10, 3) for index in range(10)]
    assert sources == sorted(sources) and [sources.count(s) for s in range(3)] in ([4, 3, 3], [3, 4, 3], [3, 3, 4])


def test_keys_sort_like_indices_and_shards_cover_every_sample_once():
    assert sample_key(42) == "000000042" and sorted(sample_key(i) for i in (10, 9, 100)) == [
        sample_key(9), sample_key(10), sample_key(100)]
    shards = plan_shards(10, 4)
    assert [(s.name, s.first, s.stop, s.count) for s in shards] == [
        ("shard-000000.tar", 0, 4, 4), ("shard-000001.tar", 4, 8, 4), ("shard-000002.tar", 8, 10, 2)]
