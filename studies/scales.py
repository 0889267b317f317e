"""What each scale of the reproduction runs: model, steps, data sizes, evaluation subsets.

`smoke` proves the pipeline on a CPU in a few minutes; `medium` is the CPU scale whose numbers mean
something (about 35 CPU minutes, sized with bench/calibrate_scale.py); `gpu` fits one H200
run of at most 9 minutes; `lite` is sized for one GPU and about 25 minutes in total; `test` is smaller than smoke and exists only for the
end-to-end test.
"""
from __future__ import annotations

from dataclasses import dataclass

POLYU_TRAIN_PAIRS = 70  # first 70 pairs by sorted file name: fine-tuning pool
POLYU_TEST_PAIRS = 30  # last 30 pairs: evaluation pool


@dataclass(frozen=True)
class ConfoundArm:
    """A fine-tuning method with one recipe change, run beside the fine-tuning study's methods to
    test the obvious confound of a claim (same tasks, counts, seeds and steps)."""

    method: str
    label: str
    checks: str  # the claim whose confound it tests
    lr_factor: float = 1.0  # times the scale's finetune_lr
    budget_of: str | None = None  # tune the share of the model that this method's runs tuned


CONFOUND_ARMS: dict[str, ConfoundArm] = {
    # LoRA factors start with B = 0: at Full's learning rate an adapter may simply move too slowly.
    "colora-lr4": ConfoundArm("colora", "CoLoRA lr x4", "CoLoRA = Full", lr_factor=4.0),
    "colora-lr2": ConfoundArm("colora", "CoLoRA lr x2", "CoLoRA = Full", lr_factor=2.0),
    # Decoder-only tunes several times CoLoRA's budget on a small model: give CoLoRA the same.
    "colora-decoder-budget": ConfoundArm("colora", "CoLoRA at Dec. budget",
                                         "CoLoRA > Decoder-only", budget_of="decoder"),
}


@dataclass(frozen=True)
class ScaleConfig:
    """Every size and step count of one reproduction run (same for all arms of a study)."""

    name: str
    device: str
    model: str
    # Pre-training: shards of PROD/Fixed/Single pairs from bsds500/train + sun80 crops.
    prod_k: int = 7
    prod_n: int = 6
    pretrain_pairs: int = 256
    pretrain_patch: int = 64
    pretrain_steps: int = 200
    pretrain_batch: int = 8
    pretrain_lr: float = 1e-3
    # Fine-tuning: the same steps whatever the number of training pairs (the paper's protocol).
    train_counts: tuple[int, ...] = (16, 32, 64, 128)
    train_crop: int = 96
    finetune_steps: int = 40
    finetune_batch: int = 4
    finetune_patch: int = 64
    finetune_lr: float = 5e-4
    # Evaluation subsets: the first `..._count` test images by sorted name, centre-cropped.
    polyu_test_count: int = POLYU_TEST_PAIRS
    cbsd68_count: int = 68
    eval_crop: int = 0  # 0 = whole images
    # FAIG (for CoLoRA's rank allocation) and the adapter budget.
    faig_target_steps: int = 20
    faig_pairs: int = 8
    faig_steps: int = 100
    colora_budget: float = 0.07
    lora_rank: int = 0  # 0: LoRA's single rank is chosen to match CoLoRA's budget
    confound_arms: tuple[str, ...] = ()  # names in CONFOUND_ARMS, run after the four methods
    seed: int = 0

    def __post_init__(self):
        if not self.train_counts or min(self.train_counts) < 1:
            raise ValueError(f"scale {self.name}: train_counts must be positive, got {self.train_counts}")
        if not 1 <= self.faig_pairs <= min(self.train_counts):
            raise ValueError(f"scale {self.name}: faig_pairs {self.faig_pairs} must be in "
                             f"1..{min(self.train_counts)} (the smallest training set)")
        unknown = [name for name in self.confound_arms if name not in CONFOUND_ARMS]
        if unknown:
            raise ValueError(f"scale {self.name}: unknown confound arm {unknown[0]!r}; choose "
                             f"from {', '.join(CONFOUND_ARMS)}")
        if self.finetune_patch > self.train_crop:
            raise ValueError(f"scale {self.name}: finetune_patch {self.finetune_patch} exceeds "
                             f"train_crop {self.train_crop}")

    @property
    def max_train_count(self) -> int:
        return max(self.train_counts)


SCALES: dict[str, ScaleConfig] = {
    "smoke": ScaleConfig(
        name="smoke", device="cpu", model="nafnet-tiny",
        pretrain_pairs=384, pretrain_patch=48, pretrain_steps=150, pretrain_batch=8,
        train_counts=(16, 32, 64, 128), train_crop=64, finetune_steps=20, finetune_batch=4,
        finetune_patch=32, polyu_test_count=8, cbsd68_count=8, eval_crop=96,
        faig_target_steps=10, faig_pairs=8, faig_steps=12),
    # Sized with bench/calibrate_scale.py (about 35 CPU minutes single-threaded, so about 35
    # minutes on an idle 2-core host and about 75 with two other busy jobs) and short runs of
    # the hard cells (docs/results/notes.md): motion blur needs lr x steps of about 0.3 or more
    # to beat its input, 16 PolyU pairs overfit above about 0.45; 1.8e-3 x 200 lies between.
    # The smallest count is 32: with 16, 200 steps of 8 are 100 passes, and the pre-trained
    # arms ended 0.3-0.4 dB below the input on PolyU (the second medium run).
    "medium": ScaleConfig(
        name="medium", device="cpu", model="nafnet-tiny",
        pretrain_pairs=2048, pretrain_patch=48, pretrain_steps=600, pretrain_batch=8,
        train_counts=(32, 64), train_crop=96, finetune_steps=200, finetune_batch=8,
        finetune_patch=48, finetune_lr=1.8e-3, polyu_test_count=30, cbsd68_count=68,
        eval_crop=96, faig_target_steps=40, faig_pairs=16, faig_steps=30,
        confound_arms=("colora-lr2", "colora-decoder-budget")),
    # One H200 run of at most 9 minutes, start-up included, with a real (width 16) NAFNet. At
    # these sizes a step is bound by per-step overhead, not the GPU: nafnet-small took about
    # 50 ms a step on an H100 (docs/benchmarks.md, 400 steps of 8 in 21.6 s), so the estimate is
    # 3 x 800 pre-training steps (~2.5 min) + 5 FAIGs (~0.5 min) + 90 runs of 50 steps and an
    # evaluation (~4.2 min) + start-up and data (~1 min): about 8 minutes. Not yet run on a GPU.
    "gpu": ScaleConfig(
        name="gpu", device="cuda", model="nafnet-small",
        pretrain_pairs=4096, pretrain_patch=64, pretrain_steps=800, pretrain_batch=16,
        train_counts=(16, 64), train_crop=128, finetune_steps=50, finetune_batch=16,
        finetune_patch=64, polyu_test_count=30, cbsd68_count=68, eval_crop=128,
        faig_target_steps=50, faig_pairs=16, faig_steps=25,
        confound_arms=("colora-lr4", "colora-decoder-budget")),
    "lite": ScaleConfig(
        name="lite", device="cuda", model="nafnet-small",
        pretrain_pairs=4000, pretrain_patch=128, pretrain_steps=3000, pretrain_batch=16,
        train_counts=(16, 32, 64, 128), train_crop=192, finetune_steps=500, finetune_batch=8,
        finetune_patch=128, polyu_test_count=30, cbsd68_count=68, eval_crop=256,
        faig_target_steps=100, faig_pairs=16, faig_steps=100),
    "test": ScaleConfig(
        name="test", device="cpu", model="nafnet-tiny",
        pretrain_pairs=24, pretrain_patch=32, pretrain_steps=6, pretrain_batch=4,
        train_counts=(4, 8), train_crop=40, finetune_steps=3, finetune_batch=2,
        finetune_patch=32, polyu_test_count=2, cbsd68_count=2, eval_crop=48,
        faig_target_steps=2, faig_pairs=2, faig_steps=4,
        confound_arms=("colora-lr4", "colora-decoder-budget")),
}


def get_scale(name: str) -> ScaleConfig:
    """The named scale; ValueError with the known names otherwise."""
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}")
    return SCALES[name]
