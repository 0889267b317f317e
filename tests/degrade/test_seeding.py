"""Per-sample seeds and the one registry of named seed streams."""
import pytest

from degrade.seeding import (CHAIN, CROP, SEED_BOUND, STREAMS, TASK_REDRAW, register_stream,
                             sample_seed)


def test_sample_seed_is_a_pure_function_of_its_inputs():
    assert sample_seed(7, 3) == sample_seed(7, 3)
    seeds = {sample_seed(g, i, s) for g in range(3) for i in range(50) for s in ("chain", "crop", CROP)}
    assert len(seeds) == 3 * 50 * 2
    assert all(0 <= seed < SEED_BOUND for seed in seeds)
    with pytest.raises(ValueError, match="index"):
        sample_seed(1, -1)


def test_stream_numbers_keep_the_values_they_had_before_they_had_names():
    # A changed number changes every shard, task pair and study run drawn from it.
    numbers = {name: (stream.first, stream.width) for name, stream in STREAMS.items()}
    assert numbers == {"chain": (0, 1), "crop": (1, 1), "finetune_batch": (3, 1),
                       "study_clean_crop": (11, 1), "study_polyu_crop": (12, 1),
                       "study_task_train": (20, 20), "study_task_test": (40, 10),
                       "study_run": (50, 50), "task_redraw": (101, 7),
                       "estimator_crop": (150, 1), "estimator_wide": (151, 1),
                       "estimator_single": (152, 1), "estimator_camera": (153, 1),
                       "level_degrade": (160, 1),
                       "level_test": (161, 1), "mixed_test": (300, 32)}
    assert sample_seed(0, 5, CHAIN) == sample_seed(0, 5) == 692901463183070792
    assert sample_seed(0, 0, TASK_REDRAW, 0) == 6995782103485612395  # stream number 101


def test_no_two_streams_share_a_number():
    taken = [n for stream in STREAMS.values() for n in range(stream.first, stream.first + stream.width)]
    assert len(taken) == len(set(taken))
    with pytest.raises(ValueError, match="overlaps 'study_task_train'"):
        register_stream("mine", 39, 2, use="test")
    with pytest.raises(ValueError, match="already registered"):
        register_stream("crop", 500, use="test")
    assert "mine" not in STREAMS


@pytest.mark.parametrize("stream,member,message", [
    (2, 0, "registered stream"), ("nope", 0, "unknown seed stream 'nope'"),
    (TASK_REDRAW, 7, r"members 0\.\.6"), (CROP, 1, r"members 0\.\.0"),
])
def test_only_registered_streams_and_members_draw(stream, member, message):
    with pytest.raises(ValueError, match=message):
        sample_seed(0, 0, stream, member)
