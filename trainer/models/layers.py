"""Building blocks shared by the restoration architectures (channel LayerNorm, SimpleGate)."""
from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor, independently at every pixel.

    Biased variance and `eps` inside the square root, as in NAFNet (eps 1e-6) and Restormer
    (eps 1e-5). Statistics are computed in at least float32 and the result cast back to the input dtype,
    the way autocast treats `nn.LayerNorm`. Plain tensor ops (no custom autograd function) so
    that autocast and `torch.compile` see through it. `weight` and `bias` are 1-D and viewed to
    (1, C, 1, 1) at use: (1, C, 1, 1)-shaped parameters broke compile's backward under
    channels_last on the GPU. `bias=False` gives Restormer's bias-free variant, which also
    skips the mean subtraction.
    """

    def __init__(self, channels: int, eps: float = 1e-6, bias: bool = True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.to(torch.promote_types(x.dtype, torch.float32))
        var = x32.var(dim=1, keepdim=True, unbiased=False)
        centred = x32 if self.bias is None else x32 - x32.mean(dim=1, keepdim=True)
        y = centred * torch.rsqrt(var + self.eps) * self.weight.view(1, -1, 1, 1)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, eps={self.eps}, bias={self.bias is not None}"


class SimpleGate(nn.Module):
    """NAFNet's activation: split the channels in two halves and multiply them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = x.chunk(2, dim=1)
        return first * second


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "constant") -> torch.Tensor:
    """Pad H and W on the bottom/right so both are multiples of `multiple`.

    `mode="reflect"` falls back to "replicate" when the image is too small to reflect.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    if mode == "reflect" and (pad_h >= h or pad_w >= w):
        mode = "replicate"
    return nn.functional.pad(x, (0, pad_w, 0, pad_h), mode=mode)
