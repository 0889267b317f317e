"""A small base model file, task adapters of it (and of another base), an untrained estimator
and a mixed set on disk, made once per module."""
import copy

import numpy as np
import pytest
import torch

from trainer.models import create_model


def small_model(seed=0):
    torch.manual_seed(seed)
    return create_model("nafnet-tiny", enc_blocks=(1, 1), dec_blocks=(1, 1), middle_blocks=1)


def lora_adapter(base, path, task, ops, seed):
    """A rank-2 LoRA adapter of `base` moved away from zero (a stand-in for training)."""
    from trainer.adapters import (apply_plan, make_plan, method_config, save_adapter,
                                  task_description, trainable_parameters)

    model = copy.deepcopy(base)
    config = method_config("lora", {"rank": 2, "seed": seed}, strict=False)
    apply_plan(model, make_plan(model, "lora", config, None), config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in trainable_parameters(model):
            param.add_(0.05 * torch.randn(param.shape, generator=generator))
    return save_adapter(path, model, task=task_description(task, ops, (0.0, 1.0)))


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    from degrade.registry import CANONICAL_ORDER
    from trainer.checkpoint import save_model
    from trainer.estimator.files import save_estimator
    from trainer.estimator.model import DegradationEstimator
    from trainer.mixtures import mixed_set, write_mixed_set
    from trainer.tasks import TASKS

    root = tmp_path_factory.mktemp("compose")
    base = small_model()
    save_model(root / "base.safetensors", base)
    (root / "adapters").mkdir()
    for seed, task in enumerate(("blur", "noise", "jpeg")):
        lora_adapter(base, root / "adapters" / f"{task}.safetensors", task, TASKS[task], seed)
    lora_adapter(small_model(1), root / "foreign.safetensors", "rain", TASKS["rain"], 5)
    lora_adapter(base, root / "haze.safetensors", "haze", ("haze",), 6)
    torch.manual_seed(0)
    save_estimator(root / "estimator.safetensors", DegradationEstimator(list(CANONICAL_ORDER)),
                   {"training": {"patch": 32}})
    rng = np.random.default_rng(0)
    clean = [(f"img{i}", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for i in range(3)]
    write_mixed_set(mixed_set("blur+noise", "heavy", clean), root / "mixed")
    return root
