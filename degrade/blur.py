"""The gaussian_blur op, and the fast 2-D correlation both blur ops share.

Filtering convention: correlation, as cv2.filter2D computes it,
    out[y, x] = sum_{i, j} kernel[i, j] * image[y + i - k_h // 2, x + j - k_w // 2],
so an impulse comes out as the kernel flipped in both axes (the Gaussian-family kernels are
point-symmetric, so for them correlation and convolution agree). Edges: reflect-101
(cv2.BORDER_REFLECT_101, numpy's 'reflect': ... 2 1 | 0 1 2 ... n-1 | n-2 ...), folded again
as often as needed when the kernel reaches past the far edge; a single row or column repeats.

Speed: `plan_filter` replaces the kernel by the cheapest of (a) a sum of r separable passes
(cv2.sepFilter2D) from its SVD, possibly on a cropped box, and (b) the exact kernel through
cv2.filter2D (direct for small areas, OpenCV's DFT path for large ones), among plans whose
worst-case output error on images in [0, 1] is at most ERROR_BOUND = 0.5/255. The bound is
exact for the approximation (not a heuristic): with the residual R = kernel - approximation,
the output error lies in [-sum(R<0), sum(R>0)] for inputs in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from degrade.kernels import OP_NAME, kernel_from_params, sample_kernel_params, validate_kernel_params
from degrade.op import Op, Params

ERROR_BOUND = 0.5 / 255

# Rough single-thread costs (ms for a 256x256x3 float32 image), measured on the development
# machine with OpenCV 5; only their ratios matter, to choose between plans.
_SEPARABLE_PASS_BASE = 0.13
_SEPARABLE_PER_TAP = 0.0095
_DIRECT_PER_TAP = 0.012
_DFT_COST = 5.5
_DFT_MIN_AREA = 130  # OpenCV's filter2D switches float32 kernels to its DFT path at this area


@dataclass(frozen=True)
class FilterPlan:
    """How to correlate with one kernel: a box of it, either exact or as separable passes.

    box: (top, left, height, width) inside the original kernel; the anchor keeps the original
    kernel centre, so cropping shifts nothing. columns[i] (length height) and rows[i] (length
    width) are the vertical and horizontal factors of pass i; exact is the float32 box when the
    plan filters with the full 2-D box instead. error_bound: worst output error on [0, 1] input.
    """

    kernel_shape: tuple[int, int]
    box: tuple[int, int, int, int]
    columns: tuple[np.ndarray, ...]
    rows: tuple[np.ndarray, ...]
    exact: np.ndarray | None
    error_bound: float
    cost: float

    @property
    def anchor(self) -> tuple[int, int]:
        """cv2 anchor (x, y) of the original kernel centre inside the box."""
        top, left, _, _ = self.box
        return (self.kernel_shape[1] // 2 - left, self.kernel_shape[0] // 2 - top)


def _residual_bound(residual: np.ndarray) -> float:
    return float(max(residual[residual > 0].sum(), -residual[residual < 0].sum()))


def _separable_cost(height: int, width: int) -> float:
    return _SEPARABLE_PASS_BASE + _SEPARABLE_PER_TAP * (height + width)


def _exact_cost(height: int, width: int) -> float:
    area = height * width
    return _DFT_COST if area >= _DFT_MIN_AREA else _DIRECT_PER_TAP * area


def _candidate_boxes(kernel: np.ndarray, budget: float) -> list[tuple[int, int, int, int]]:
    """The whole kernel, its non-zero support, and a box peeled while the lost mass <= budget.

    Every box contains the kernel centre (cv2 needs the anchor inside the kernel).
    """
    k_h, k_w = kernel.shape
    c_y, c_x = k_h // 2, k_w // 2
    boxes = [(0, 0, k_h, k_w)]
    rows_used = np.flatnonzero(np.abs(kernel).sum(axis=1) > 0)
    cols_used = np.flatnonzero(np.abs(kernel).sum(axis=0) > 0)
    if rows_used.size:
        top, bottom = min(rows_used[0], c_y), max(rows_used[-1], c_y)
        left, right = min(cols_used[0], c_x), max(cols_used[-1], c_x)
        boxes.append((int(top), int(left), int(bottom - top + 1), int(right - left + 1)))
    boxes.append(_peeled_box(kernel, budget))
    return list(dict.fromkeys(boxes))


def _peeled_box(kernel: np.ndarray, budget: float) -> tuple[int, int, int, int]:
    """Greedily drop the lightest outer row or column while the dropped |mass| stays <= budget."""
    k_h, k_w = kernel.shape
    top, bottom, left, right = 0, k_h - 1, 0, k_w - 1
    magnitude, lost = np.abs(kernel), 0.0
    while True:
        edges = []
        if top < k_h // 2:
            edges.append((magnitude[top, left:right + 1].sum(), "top"))
        if bottom > k_h // 2:
            edges.append((magnitude[bottom, left:right + 1].sum(), "bottom"))
        if left < k_w // 2:
            edges.append((magnitude[top:bottom + 1, left].sum(), "left"))
        if right > k_w // 2:
            edges.append((magnitude[top:bottom + 1, right].sum(), "right"))
        if not edges:
            break
        mass, side = min(edges)
        if lost + mass > budget:
            break
        lost += mass
        top, bottom = top + (side == "top"), bottom - (side == "bottom")
        left, right = left + (side == "left"), right - (side == "right")
    return (top, left, bottom - top + 1, right - left + 1)


def _plans_for_box(kernel: np.ndarray, box: tuple[int, int, int, int],
                   tolerance: float) -> list[FilterPlan]:
    """The exact-box plan and the lowest-rank separable plan within tolerance, if any.

    Both are rescaled to the kernel's total weight, so a flat image stays exactly flat.
    """
    top, left, height, width = box
    sub = kernel[top:top + height, left:left + width]
    plans = []
    cropped = sub * (kernel.sum() / sub.sum())
    bound = _residual_bound(_residual(kernel, box, cropped))
    if bound <= tolerance:
        plans.append(FilterPlan(kernel.shape, box, (), (), cropped.astype(np.float32), bound,
                                _exact_cost(height, width)))
    u, s, vt = np.linalg.svd(sub)
    max_useful_rank = int(_exact_cost(height, width) // _separable_cost(height, width)) + 1
    for rank in range(1, min(len(s), max_useful_rank) + 1):
        columns = u[:, :rank] * s[:rank]
        rows = vt[:rank]
        gain = kernel.sum() / (columns.sum(axis=0) @ rows.sum(axis=1))
        bound = _residual_bound(_residual(kernel, box, gain * columns @ rows))
        if bound <= tolerance:
            plans.append(FilterPlan(
                kernel.shape, box,
                tuple((gain * columns[:, i]).astype(np.float32) for i in range(rank)),
                tuple(rows[i].astype(np.float32) for i in range(rank)),
                None, bound, rank * _separable_cost(height, width)))
            break
    return plans


def _residual(kernel: np.ndarray, box: tuple[int, int, int, int],
              approximation: np.ndarray) -> np.ndarray:
    """kernel minus the approximation of its box (zero outside the box)."""
    top, left, height, width = box
    residual = kernel.copy()
    residual[top:top + height, left:left + width] -= approximation
    return residual


def plan_filter(kernel: np.ndarray, tolerance: float = ERROR_BOUND) -> FilterPlan:
    """The cheapest plan whose worst-case output error on [0, 1] images is <= tolerance."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(f"blur: kernel shape {kernel.shape} is not 2-D with odd sides")
    plans = [FilterPlan(kernel.shape, (0, 0) + kernel.shape, (), (), kernel.astype(np.float32),
                        0.0, _exact_cost(*kernel.shape))]
    for box in _candidate_boxes(kernel, tolerance / 2):
        plans.extend(_plans_for_box(kernel, box, tolerance))
    return min(plans, key=lambda plan: plan.cost)


def reflect_indices(length: int, before: int, after: int) -> np.ndarray:
    """Source indices of a reflect-101 padded axis, folded as often as needed (length >= 1)."""
    positions = np.arange(-before, length + after)
    if length == 1:
        return np.zeros_like(positions)
    period = 2 * (length - 1)
    positions = np.mod(positions, period)
    return np.where(positions >= length, period - positions, positions)


def _reach(plan: FilterPlan) -> tuple[int, int, int, int]:
    """How far the box reaches above, below, left and right of the output pixel."""
    top, left, height, width = plan.box
    anchor_x, anchor_y = plan.anchor
    return anchor_y, height - 1 - anchor_y, anchor_x, width - 1 - anchor_x


def _run_plan(image: np.ndarray, plan: FilterPlan) -> np.ndarray:
    border = cv2.BORDER_REFLECT_101
    if plan.exact is not None:
        return cv2.filter2D(image, -1, plan.exact, anchor=plan.anchor, borderType=border)
    out = None
    for column, row in zip(plan.columns, plan.rows):
        part = cv2.sepFilter2D(image, -1, row, column, anchor=plan.anchor, borderType=border)
        out = part if out is None else cv2.add(out, part, dst=out)
    return out


def correlate(image: np.ndarray, plan: FilterPlan) -> np.ndarray:
    """Correlate a float32 HxWx3 image with a plan's kernel; same size, clipped to [0, 1].

    Where the kernel reaches past the far edge (images smaller than the kernel, down to 1x1),
    the image is padded here with the folded reflect-101 indices and the centre cut back out,
    so the edge rule does not depend on OpenCV's handling of tiny images.
    """
    up, down, left, right = _reach(plan)
    height, width = image.shape[:2]
    if up < height and down < height and left < width and right < width:
        out = _run_plan(image, plan)
    else:
        rows = reflect_indices(height, up, down)
        cols = reflect_indices(width, left, right)
        padded = np.ascontiguousarray(image[rows[:, None], cols[None, :]])
        out = _run_plan(padded, plan)[up:up + height, left:left + width]
    out = np.ascontiguousarray(out, dtype=np.float32).reshape(image.shape)
    return np.clip(out, 0.0, 1.0, out=out)


def apply_gaussian_blur(image: np.ndarray, params: Params) -> np.ndarray:
    """Blur with the kernel the params define (regenerated, never stored), reflect-101 edges."""
    validate_kernel_params(params)
    return correlate(image, plan_filter(kernel_from_params(params)))


def sample_gaussian_blur(rng: np.random.Generator, image_shape: tuple[int, ...]) -> Params:
    """Kernel family and shape from the paper's ranges; the image shape does not matter."""
    del image_shape
    return sample_kernel_params(rng)


GAUSSIAN_BLUR = Op(name=OP_NAME, apply=apply_gaussian_blur,
                   sample_params=sample_gaussian_blur, validate=validate_kernel_params)
