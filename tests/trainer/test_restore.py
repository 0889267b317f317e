"""Whole-image and tiled inference agree; tiles cover the image with fixed shapes."""
import numpy as np
import pytest
import torch


from trainer.restore import edge_ramp, restore_image, restore_tensor, tile_starts


@pytest.mark.parametrize("length,tile,overlap", [(100, 32, 8), (64, 32, 8), (33, 32, 8),
                                                 (20, 32, 8), (257, 64, 16)])
def test_tile_starts_cover_with_fixed_size(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + min(tile, length) == length
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_edge_ramp_zero_margin_then_ramp():
    weights = edge_ramp(32, 16, ramp_start=True, ramp_end=False)
    assert weights[:4].eq(0).all() and weights[4] > 0 and weights[12:].eq(1).all()
    assert torch.equal(edge_ramp(8, 16, False, False), torch.ones(8, dtype=torch.float64))


@pytest.mark.parametrize("height,width", [(70, 90), (64, 64), (31, 100)])
def test_tiled_matches_whole_image(conv_net, height, width):
    torch.manual_seed(0)
    model = conv_net().eval()  # receptive radius 2 <= overlap // 4
    x = torch.rand(1, 3, height, width)
    whole = restore_tensor(model, x)
    tiled = restore_tensor(model, x, tile=32, overlap=16, tile_batch=3)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max().item() < 1e-3
    assert (tiled - whole).abs().max().item() < 1e-5  # in fact exact up to float rounding


def test_tiles_that_ignore_context_would_show(conv_net):
    """The check above can fail: without overlap the border pixels of each tile differ."""
    torch.manual_seed(0)
    model = conv_net().eval()
    x = torch.rand(1, 3, 64, 96)
    whole = restore_tensor(model, x)
    tiled = restore_tensor(model, x, tile=32, overlap=0)
    assert (tiled - whole).abs().max().item() > 1e-3


def test_nafnet_tiles_close_to_whole():
    from trainer.models import create_model

    torch.manual_seed(0)
    model = create_model("nafnet-tiny").eval()
    image = (np.random.default_rng(0).random((80, 72, 3)) * 255).astype(np.uint8)
    whole = restore_image(model, image)
    tiled = restore_image(model, image, tile=48, overlap=16)
    assert whole.shape == image.shape == tiled.shape
    # NAFNet's channel attention sees the whole input, so tiles are close, not identical
    assert np.abs(whole.astype(int) - tiled.astype(int)).mean() < 2.0


@pytest.mark.parametrize("tile,overlap", [(8, 0), (64, 33), (64, -1)])
def test_bad_tiling(conv_net, tile, overlap):
    with pytest.raises(ValueError):
        restore_tensor(conv_net(), torch.rand(1, 3, 80, 80), tile=tile, overlap=overlap)
