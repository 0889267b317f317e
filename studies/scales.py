"""What each scale of the reproduction runs: model, steps, data sizes, evaluation subsets.

`smoke` proves the pipeline on a CPU in a few minutes; `lite` is sized for one GPU and about 25
minutes in total; `test` is smaller than smoke and exists only for the end-to-end test.
"""
from __future__ import annotations

from dataclasses import dataclass

POLYU_TRAIN_PAIRS = 70  # first 70 pairs by sorted file name: fine-tuning pool
POLYU_TEST_PAIRS = 30  # last 30 pairs: evaluation pool


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
    seed: int = 0

    def __post_init__(self):
        if not self.train_counts or min(self.train_counts) < 1:
            raise ValueError(f"scale {self.name}: train_counts must be positive, got {self.train_counts}")
        if not 1 <= self.faig_pairs <= min(self.train_counts):
            raise ValueError(f"scale {self.name}: faig_pairs {self.faig_pairs} must be in "
                             f"1..{min(self.train_counts)} (the smallest training set)")
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
        faig_target_steps=2, faig_pairs=2, faig_steps=4),
}


def get_scale(name: str) -> ScaleConfig:
    """The named scale; ValueError with the known names otherwise."""
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}")
    return SCALES[name]
