"""pipelines.batching: collation into uint8 planes, the scaling to float, image <-> tensor."""
import numpy as np
import pytest
import torch

from pipelines.batching import (SharedRing, collate, image_to_tensor, tensor_to_image, to_float,
                                to_float_on_device)


def test_collate_stacks_each_image_member_as_planes_and_lists_the_rest():
    rng = np.random.default_rng(0)
    group = [{"key": f"k{i}", "lq": rng.integers(0, 256, (5, 7, 3), dtype=np.uint8),
              "gt": rng.integers(0, 256, (5, 7, 3), dtype=np.uint8), "record": {"i": i}} for i in range(3)]
    batch = collate(group)
    assert list(batch) == ["lq", "gt", "key", "record"]
    for field in ("lq", "gt"):
        assert batch[field].dtype == torch.uint8
        assert np.array_equal(batch[field].numpy(), np.stack([s[field].transpose(2, 0, 1) for s in group]))
    assert batch["key"] == ["k0", "k1", "k2"] and batch["record"] == [{"i": 0}, {"i": 1}, {"i": 2}]
    with pytest.raises(ValueError, match="different sizes"):
        collate([group[0], dict(group[1], lq=group[1]["lq"][:4], gt=group[1]["gt"][:4])])


def test_a_shared_ring_hands_out_its_buffers_in_turn():
    ring = SharedRing(batches_ahead=1)  # lq and gt of 3 batches
    assert ring.slots == 6
    taken = [ring.take((2, 3, 4, 4)) for _ in range(7)]
    assert taken[6].data_ptr() == taken[0].data_ptr()
    assert len({t.data_ptr() for t in taken[:6]}) == 6
    assert ring.take((1, 3, 4, 4)).shape == (1, 3, 4, 4)  # another size: a new buffer in that slot


def test_float_batches_are_the_uint8_ones_over_255():
    planes = torch.arange(256, dtype=torch.uint8).repeat(2, 3, 1, 1)
    expected = planes.numpy().astype(np.float32) / np.float32(255.0)
    assert np.array_equal(to_float(planes).numpy(), expected)
    assert to_float(planes)[0, 0, 0, 255] == 1.0 and to_float(planes)[0, 0, 0, 0] == 0.0
    assert torch.equal(to_float_on_device(planes), to_float(planes))
    with pytest.raises(ValueError, match="uint8"):
        to_float(planes.float())


def test_image_tensor_round_trip_and_rules():
    image = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    tensor = image_to_tensor(image)
    assert tensor.shape == (3, 5, 7) and tensor.dtype == torch.float32
    assert np.array_equal(tensor.numpy(), image.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    assert np.array_equal(tensor_to_image(tensor), image)
    assert np.array_equal(tensor_to_image(tensor.unsqueeze(0)), image)
    values = torch.tensor([-0.1, 0.0, 0.5 / 255, 1.5 / 255, 1.0, 1.2]).view(1, 1, 6).expand(3, 1, 6)
    assert tensor_to_image(values)[0, :, 0].tolist() == [0, 0, 0, 2, 255, 255]  # halves to even
