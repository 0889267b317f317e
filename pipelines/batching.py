"""Images as tensors: augmented samples stacked into uint8 or float32 Bx3xHxW batches, and the
one conversion between a uint8 HxWx3 image and a float32 3xHxW tensor, both ways.

Batches leave the stream as uint8 (a quarter of float32's bytes across the DataLoader's process
boundary and on the way to the GPU); `to_float` scales them to [0, 1] where float is wanted.
uint8 -> float is x / 255 and float -> uint8 is clip(rint(x * 255)), the engine's rules
(degrade.imageconv), wherever the conversion runs (trainer.loop divides on the device).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch
import torch.utils.data

from degrade.imageconv import float_to_uint8, uint8_to_float
from pipelines import schema


def batches(samples: Iterable[dict], batch_size: int, ring: "SharedRing | None" = None) -> Iterator[dict]:
    """Groups of `batch_size` collated (see collate).

    ring: where a DataLoader worker writes its batches (see SharedRing); None allocates each."""
    group: list[dict] = []
    for sample in samples:
        group.append(sample)
        if len(group) == batch_size:
            yield collate(group, ring)
            group = []


def collate(group: list[dict], ring: "SharedRing | None" = None) -> dict:
    """{"lq", "gt" (every image member of pipelines.schema): uint8 Bx3xHxW tensors, "key": [str],
    "record" (every other member): [dict]}."""
    batch = {member.field: to_planes([s[member.field] for s in group], ring)
             for member in schema.SAMPLE.images}
    batch["key"] = [s["key"] for s in group]
    for member in schema.SAMPLE.members:
        if not member.codec.is_image:
            batch[member.field] = [s[member.field] for s in group]
    return batch


def keep_batch(batch: dict) -> dict:
    """DataLoader collate_fn for ready-made batches (its default would walk every record dict)."""
    return batch


class SharedRing:
    """Shared-memory buffers that a DataLoader worker writes its batches into, reused in turn.

    A fresh shared buffer per batch costs the worker a new memory map and a page fault per 4 KB
    as it is filled, and the main process another map (docs/benchmarks.md has the cost). Reuse
    is safe only under the contract that pipelines.reader keeps:
    the main process copies each batch out before it asks for the next, and a DataLoader asks
    a worker for a new batch only when it receives one, so a worker runs at most
    `prefetch_factor` batches ahead; `batches_ahead` must be at least that. torch's receiving
    side caches a storage it has seen, so a reused buffer is not mapped again."""

    def __init__(self, batches_ahead: int):
        # one buffer per image member per batch, two batches of margin
        self.slots = len(schema.SAMPLE.images) * (batches_ahead + 2)
        self.storages: list = []
        self.turn = 0

    def take(self, shape: tuple[int, ...]) -> torch.Tensor:
        size = int(np.prod(shape))
        slot = self.turn % self.slots
        self.turn += 1
        if slot == len(self.storages):
            self.storages.append(torch.UntypedStorage._new_shared(size))
        elif self.storages[slot].nbytes() != size:  # another batch shape (patch 0): a new buffer
            self.storages[slot] = torch.UntypedStorage._new_shared(size)
        return torch.empty(0, dtype=torch.uint8).set_(self.storages[slot]).view(shape)


def to_planes(images: list[np.ndarray], ring: SharedRing | None = None) -> torch.Tensor:
    """uint8 HxWx3 images -> uint8 Bx3xHxW tensor: cv2.split writes each plane in place.

    In a DataLoader worker the tensor lives in shared memory (from `ring` when given), so
    handing it to the main process copies nothing."""
    import cv2

    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise ValueError(f"cannot batch images of different sizes {sorted(shapes)}; use a patch > 0 "
                         "or batch_size=1")
    height, width, _ = shapes.pop()
    shape = (len(images), 3, height, width)
    if ring is not None:
        out = ring.take(shape)
    elif torch.utils.data.get_worker_info() is not None:
        # Straight into shared memory, as torch's default_collate does in workers.
        storage = torch.UntypedStorage._new_shared(int(np.prod(shape)))
        out = torch.empty(0, dtype=torch.uint8).set_(storage).view(shape)
    else:
        out = torch.empty(shape, dtype=torch.uint8)
    planes = out.numpy()
    for i, image in enumerate(images):
        cv2.split(image, [planes[i, 0], planes[i, 1], planes[i, 2]])
    return out


def own_copy(planes: torch.Tensor) -> torch.Tensor:
    """A private copy (numpy's allocator reuses freed blocks: no fresh page faults)."""
    out = np.empty(tuple(planes.shape), dtype=np.uint8)
    np.copyto(out, planes.numpy())
    return torch.from_numpy(out)


def to_float(planes: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 x / 255 in one compiled pass (numpy's allocator reuses freed blocks,
    where torch.empty would page-fault a fresh buffer per batch)."""
    if planes.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 tensor, got {planes.dtype}")
    return torch.from_numpy(uint8_to_float(planes.contiguous().numpy()))


def to_float_on_device(planes: torch.Tensor) -> torch.Tensor:
    """to_float for a uint8 tensor already on a device (a GPU): the same x / 255 values. The
    float64 product rounds to exactly x / 255 for every level, where CUDA would turn a float32
    division by a scalar into a multiply by its reciprocal (up to an ulp away)."""
    return planes.to(torch.float64).mul_(1.0 / 255.0).to(torch.float32)


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float32 3xHxW in [0, 1]."""
    return torch.from_numpy(uint8_to_float(np.ascontiguousarray(image.transpose(2, 0, 1))))


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """float 3xHxW (or 1x3xHxW) -> uint8 HxWx3, clip(rint(x * 255))."""
    planes = tensor.detach().float().squeeze(0).cpu().numpy()
    return float_to_uint8(np.ascontiguousarray(planes.transpose(1, 2, 0)))
