"""`trainer export --peft`: the adapter as PEFT loads it, checked by loading it with PEFT and
comparing outputs with the base plus the adapter's deltas applied by hand."""
import copy
import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from trainer.export_peft import LowRankDelta, merged_base, plan_peft, write_peft_folder

peft = pytest.importorskip("peft", reason="peft is not installed (the test extra installs it)")


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.norm = nn.GroupNorm(2, 8)
        self.squeeze = nn.Conv2d(8, 4, 1)
        self.beta = nn.Parameter(torch.ones(4))

    def forward(self, x):
        y = self.squeeze(self.norm(self.depthwise(self.conv(x))))
        return x + y * self.beta.view(1, -1, 1, 1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.intro = nn.Conv2d(3, 4, 3, padding=1)
        self.block = Block()
        self.mix = nn.Linear(4, 4)
        self.out = nn.Conv2d(4, 3, 1)

    def forward(self, x):
        y = self.block(self.intro(x))
        return self.out(self.mix(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


def random_delta(layer, rank, scaling, generator):
    d, k = layer.weight.shape[0], layer.weight[0].numel()
    return LowRankDelta(torch.randn(rank, k, generator=generator),
                        torch.randn(d, rank, generator=generator) * 0.1, scaling)


def by_hand(base, deltas, tuned):
    """The adapted network, built without PEFT or our exporter."""
    model = copy.deepcopy(base)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, delta in deltas.items():
            weight = model.get_submodule(name).weight
            weight.add_((delta.b @ delta.a * delta.scaling).reshape(weight.shape))
        for name, value in tuned.items():
            params[name].copy_(value)
    return model


def test_peft_loads_the_adapter_exactly_with_unsupported_parts_merged(tmp_path):
    torch.manual_seed(0)
    base, g = Net().eval(), torch.Generator().manual_seed(1)
    deltas = {"intro": random_delta(base.intro, 2, 0.5, g),
              "block.conv": random_delta(base.block.conv, 3, 2.0, g),
              "block.depthwise": random_delta(base.block.depthwise, 2, 1.0, g),
              "mix": random_delta(base.mix, 2, 1.5, g)}
    tuned = {name: torch.randn(p.shape, generator=g) for name, p in base.named_parameters()
             if name in ("intro.bias", "block.norm.weight", "block.norm.bias", "block.squeeze.bias",
                         "block.beta", "block.depthwise.bias")}
    plan = plan_peft(base, deltas, tuned)
    assert sorted(part for part, _ in plan.unsupported) == [
        "block.beta", "block.depthwise", "block.depthwise.bias"]
    assert sorted(plan.lora) == ["block.conv", "intro", "mix"]
    assert plan.saved_modules == ["block.norm", "block.squeeze"] and list(plan.lora_bias) == ["intro"]
    peft_base = merged_base(copy.deepcopy(base), plan)
    write_peft_folder(tmp_path / "peft", base, plan, tuned, "net")
    config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["lora_bias"] is True
    loaded = peft.PeftModel.from_pretrained(copy.deepcopy(peft_base), str(tmp_path / "peft")).eval()
    image = torch.rand(2, 3, 12, 12, generator=g)
    with torch.no_grad():
        expected = by_hand(base, deltas, tuned)(image)
        assert not torch.allclose(base(image), expected, atol=1e-3)
        torch.testing.assert_close(loaded(image), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", ["colora", "dora"])
def test_trainer_export_peft_of_an_adapter(tmp_path, method):
    from trainer.adapters import (apply_plan, make_plan, method_config, save_adapter,
                                  trainable_parameters)
    from trainer.checkpoint import load_model, save_model
    from trainer.cli import main
    from trainer.models import create_model

    torch.manual_seed(0)
    model = create_model("nafnet-tiny")
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    save_model(tmp_path / "base.safetensors", model, {"preset": "nafnet-tiny"})
    scores = {n: float(i % 7) for i, (n, _) in enumerate(model.named_parameters())}
    config = method_config(method, {"budget": 0.3, "alpha": 4.0}, strict=False)
    apply_plan(model, make_plan(model, method, config, scores), config)
    with torch.no_grad():  # a stand-in for training: move every trained tensor
        for p in trainable_parameters(model):
            p.add_(torch.randn_like(p) * 0.05)
    save_adapter(tmp_path / "adapter.safetensors", model,
                 info={"base_path": str(tmp_path / "base.safetensors")})
    runner = CliRunner()
    refused = runner.invoke(main, ["export", str(tmp_path / "adapter.safetensors"),
                                   "--peft", str(tmp_path / "out")])
    assert refused.exit_code == 1 and "PEFT cannot represent" in refused.output
    assert "--merge-unsupported" in refused.output and not (tmp_path / "out").exists()
    done = runner.invoke(main, ["export", str(tmp_path / "adapter.safetensors"), "--peft",
                                str(tmp_path / "out"), "--merge-unsupported"])
    assert done.exit_code == 0, done.output
    peft_base, _ = load_model(tmp_path / "out" / "base_model.safetensors")
    loaded = peft.PeftModel.from_pretrained(peft_base, str(tmp_path / "out")).eval()
    image = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(image), model.eval()(image), atol=1e-5, rtol=1e-5)
