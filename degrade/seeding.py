"""Per-sample seeds derived from (global seed, sample index, named stream) only, and the one
registry of those streams.

Never from process, worker or thread identity, so the same global seed gives the same bytes
whatever the number of workers. A stream separates one random use of a sample from another
(its chain, its crop, ...), so drawing more numbers in one use never shifts another. Every
stream of the project is registered below, once, under a name; a registration whose numbers
overlap another's is refused, so no two uses can share a stream by accident. The numbers are
part of the data: changing one changes every shard, task pair or study run drawn from it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Seeds stay below 2**63 so they fit int64 columns (Arrow, torch) as well as JSON.
SEED_BOUND = 2**63


@dataclass(frozen=True)
class SeedStream:
    """Stream numbers first .. first + width - 1: one per member of a family (a study's tasks,
    a redraw's attempts), or a single one (width 1)."""

    name: str
    first: int
    width: int
    use: str

    def number(self, member: int = 0) -> int:
        if isinstance(member, bool) or not isinstance(member, (int, np.integer)) \
                or not 0 <= member < self.width:
            raise ValueError(f"seed stream {self.name!r} has members 0..{self.width - 1}, "
                             f"got {member!r}")
        return self.first + int(member)


STREAMS: dict[str, SeedStream] = {}


def register_stream(name: str, first: int, width: int = 1, *, use: str) -> SeedStream:
    """Add a stream to the registry; ValueError if the name is taken or a number is in use."""
    if name in STREAMS:
        raise ValueError(f"seed stream {name!r} is already registered")
    if first < 0 or width < 1:
        raise ValueError(f"seed stream {name!r}: first {first} must be >= 0, width {width} >= 1")
    for other in STREAMS.values():
        if first < other.first + other.width and other.first < first + width:
            raise ValueError(f"seed stream {name!r} ({first}..{first + width - 1}) overlaps "
                             f"{other.name!r} ({other.first}..{other.first + other.width - 1})")
    STREAMS[name] = SeedStream(name, first, width, use)
    return STREAMS[name]


# The project's streams. Their numbers are those the code used before they had names.
CHAIN = register_stream("chain", 0, use="a sample's degradation chain (build-shards, preview, "
                                        "and a task pair's first draw)")
CROP = register_stream("crop", 1, use="a sample's crop position (build-shards, preview, task pairs)")
FINETUNE_BATCH = register_stream("finetune_batch", 3, use="the crops and flips of fine-tuning "
                                                          "batch number `index`")
STUDY_CLEAN_CROP = register_stream("study_clean_crop", 11, use="the studies' clean training "
                                                               "crops and their source order")
STUDY_POLYU_CROP = register_stream("study_polyu_crop", 12, use="the studies' PolyU training crops")
STUDY_TASK_TRAIN = register_stream("study_task_train", 20, 20, use="a study task's training "
                                                                   "degradations, one per task")
STUDY_TASK_TEST = register_stream("study_task_test", 40, 10, use="a study task's test "
                                                                 "degradations, one per task")
STUDY_RUN = register_stream("study_run", 50, 50, use="the seed of every study run at "
                                                     "(task, pair count), one per task")
TASK_REDRAW = register_stream("task_redraw", 101, 7, use="a task pair's redraws when a draw "
                                                         "left the crop unchanged, one per attempt")
LEVEL_DEGRADE = register_stream("level_degrade", 160, use="the degradations of level-adapter "
                                                         "training batch `index` at set levels")
LEVEL_TEST = register_stream("level_test", 161, use="test pair `index`'s degradation at a set "
                                                    "level (level adapters, sweeps, studies)")
ESTIMATOR_CROP = register_stream("estimator_crop", 150, use="the grid-aligned crop of the "
                                                           "estimator's training batch `index`")
ESTIMATOR_WIDE = register_stream("estimator_wide", 151, use="which samples of the estimator's "
                                                         "training batch `index` are redrawn as "
                                                         "one op beyond the sampled range, and how")
ESTIMATOR_SINGLE = register_stream("estimator_single", 152, use="which samples of the estimator's "
                                                             "training batch `index` are redrawn "
                                                             "as one op of the pool, and how")
ESTIMATOR_CAMERA = register_stream("estimator_camera", 153, use="which samples of the estimator's "
                                                             "head-refit batch `index` are redrawn "
                                                             "as camera-like noise then JPEG")
MIXED_TEST = register_stream("mixed_test", 300, 32, use="a mixed test image's degradations, one "
                                                      "per (task families, strength); "
                                                      "trainer.mixtures.stream_member")


def _check_non_negative_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)


def sample_seed(global_seed: int, index: int, stream: str | SeedStream = CHAIN,
                member: int = 0) -> int:
    """A seed for sample `index` of a run seeded with `global_seed`, in a registered `stream`
    (a name or a SeedStream; `member` picks one stream of a family).

    Hashing goes through numpy's SeedSequence, whose mixing keeps nearby (seed, index, stream)
    triples statistically independent.
    """
    if isinstance(stream, str):
        if stream not in STREAMS:
            raise ValueError(f"unknown seed stream {stream!r}; registered: {', '.join(STREAMS)}")
        stream = STREAMS[stream]
    elif not isinstance(stream, SeedStream) or STREAMS.get(stream.name) is not stream:
        raise ValueError(f"stream must be a registered stream or its name, got {stream!r}")
    entropy = [_check_non_negative_int(global_seed, "global_seed"),
               _check_non_negative_int(index, "index"), stream.number(member)]
    words = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int((int(words[0]) << 32 | int(words[1])) % SEED_BOUND)


def draw_seed(rng: np.random.Generator) -> int:
    """A fresh seed for an op's own random field (noise, rain seeds), drawn from the chain's rng."""
    return int(rng.integers(0, SEED_BOUND))
