"""Running a restoration model on images of any size, whole or in blended overlapping tiles.

Tiling: tiles of `tile`x`tile` pixels (fixed shape, so a compiled model does not recompile)
start every `tile - overlap` pixels, the last one flush with the image edge. Each tile's
output is weighted by a separable window that is 0 within `overlap // 4` pixels of an edge
shared with another tile, ramps linearly to 1 across the middle half of the overlap, and is 1
elsewhere (image borders included); the weighted outputs are normalised by the summed weights.
A model whose receptive field reaches at most `overlap // 4` pixels therefore gives exactly
the whole-image result; models with global context (NAFNet's channel attention) give close
but not identical results, without visible seams thanks to the ramps.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Iterator

import numpy as np
import torch
from torch import nn

from degrade.errors import ConfigError
from pipelines.batching import image_to_tensor, tensor_to_image


def autocast_context(device: torch.device, amp: str):
    """torch.autocast for amp "bf16"/"fp16", a no-op context for "none"."""
    if amp == "none":
        return nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    return torch.autocast(device_type=device.type, dtype=dtype)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering [0, length), the last flush at the end."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def edge_ramp(size: int, overlap: int, ramp_start: bool, ramp_end: bool) -> torch.Tensor:
    """1-D blending weights of one tile: zero margin then a linear ramp at the shared edges."""
    weights = torch.ones(size, dtype=torch.float64)
    if overlap <= 0:
        return weights
    margin = overlap // 4
    width = max(overlap - 2 * margin, 1)
    distance = torch.arange(size, dtype=torch.float64)
    ramp = ((distance - margin + 0.5) / width).clamp(0, 1)
    if ramp_start:
        weights = torch.minimum(weights, ramp)
    if ramp_end:
        weights = torch.minimum(weights, ramp.flip(0))
    return weights


def _axis_windows(length: int, tile: int, overlap: int) -> list[tuple[int, int, torch.Tensor]]:
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    return [(s, size, edge_ramp(size, overlap, i > 0, i < len(starts) - 1))
            for i, s in enumerate(starts)]


def _tiles(height: int, width: int, tile: int, overlap: int) -> Iterator[tuple]:
    for y, h, wy in _axis_windows(height, tile, overlap):
        for x, w, wx in _axis_windows(width, tile, overlap):
            yield y, x, h, w, wy[:, None] * wx[None, :]


def check_tiling(tile: int | None, overlap: int) -> None:
    if tile is None:
        return
    if tile < 16:
        raise ConfigError("tile", f"must be at least 16 pixels, got {tile}")
    if overlap < 0 or 2 * overlap > tile:
        raise ConfigError("overlap", f"must be in [0, tile/2], got {overlap} for tile {tile}")


@torch.no_grad()
def restore_tensor(model: nn.Module, x: torch.Tensor, tile: int | None = None,
                   overlap: int = 32, amp: str = "none", tile_batch: int = 4) -> torch.Tensor:
    """Restore a float 1x3xHxW batch in [0, 1]; returns float32 of the same shape on x.device.

    With `tile` set and the image larger than a tile in either axis, runs the model on blended
    overlapping tiles (see the module docstring); otherwise on the whole image at once.
    """
    check_tiling(tile, overlap)
    height, width = x.shape[-2:]
    with autocast_context(x.device, amp):
        if tile is None or (height <= tile and width <= tile):
            return model(x).float()
        out = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
        norm = torch.zeros((1, 1, height, width), dtype=torch.float64, device=x.device)
        tiles = list(_tiles(height, width, tile, overlap))
        for first in range(0, len(tiles), tile_batch):
            group = tiles[first:first + tile_batch]
            crops = torch.cat([x[..., y:y + h, xx:xx + w] for y, xx, h, w, _ in group])
            results = model(crops).double()
            for (y, xx, h, w, weight), result in zip(group, results):
                weight = weight.to(x.device)
                out[..., y:y + h, xx:xx + w] += result * weight
                norm[..., y:y + h, xx:xx + w] += weight
    return (out / norm).float()


def restore_image(model: nn.Module, image: np.ndarray, device: torch.device | str = "cpu",
                  tile: int | None = None, overlap: int = 32, amp: str = "none") -> np.ndarray:
    """Restore one uint8 HxWx3 RGB image; returns uint8 HxWx3 of the same size."""
    device = torch.device(device)
    x = image_to_tensor(image).unsqueeze(0).to(device)
    return tensor_to_image(restore_tensor(model, x, tile=tile, overlap=overlap, amp=amp))


def load_for_inference(model_path, adapter_path=None, device: torch.device | str = "cpu"):
    """Load a model file or run folder, attach an adapter if given; (model, metadata).

    Raises CheckpointError for the model and trainer.adapters.AdapterError for the adapter.
    """
    from trainer.checkpoint import load_model

    model, metadata = load_model(model_path, device="cpu")
    if adapter_path is not None:
        from trainer.adapters import load_adapter

        model = load_adapter(model, adapter_path)
    return model.to(device).eval(), metadata
