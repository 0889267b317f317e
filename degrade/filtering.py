"""The filtering engine both blur ops share: plan a kernel into cheap cv2 passes, then correlate.

Filtering convention: correlation, as cv2.filter2D computes it,
    out[y, x] = sum_{i, j} kernel[i, j] * image[y + i - k_h // 2, x + j - k_w // 2],
so an impulse comes out as the kernel flipped in both axes (the Gaussian-family kernels are
point-symmetric, so for them correlation and convolution agree). Edges: reflect-101
(cv2.BORDER_REFLECT_101, numpy's 'reflect': ... 2 1 | 0 1 2 ... n-1 | n-2 ...), folded again
as often as needed when the kernel reaches past the far edge; a single row or column repeats.

Speed: `plan_filter` turns a kernel into a few passes, each one cv2 call on a box of the
kernel, and picks the cheapest plan for the image size (cost model measured with OpenCV 5, one
thread) among: the kernel's support in one cv2.filter2D call (OpenCV runs it directly below
130 taps and through its DFT above); its SVD truncated to r separable cv2.sepFilter2D passes;
row or column strips of under 130 taps covering the non-zero taps, one direct filter2D call
each (degrade.blur plans unrotated Gaussians from their exact 1-D factors instead). Plans drop the
lightest taps (the whole tolerance for dense and strip plans, half of it before an SVD), are
rescaled to the kernel's total weight (a flat image stays exactly flat), and are kept only if
their worst-case output error on images in [0, 1] is at most ERROR_BOUND = 0.5/255. The bound
is exact, not a heuristic: with R = kernel - plan, the error lies in [-sum(R<0), sum(R>0)].
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from numba import njit

ERROR_BOUND = 0.5 / 255

# Single-thread cost model (OpenCV 5, development machine, float32 HxWx3), in ms; only the
# ratios matter. Direct and separable passes cost per tap per pixel; OpenCV's filter2D sends
# kernels of 130 taps or more through its DFT path, whose cost hardly depends on the kernel.
_DIRECT_MAX_AREA = 129
_DIRECT_CALL, _DIRECT_PER_TAP = 0.02, 0.0085  # per 256x256 image
_SEPARABLE_CALL, _SEPARABLE_PER_TAP = 0.05, 0.013  # per 256x256 image, taps = height + width
_ACCUMULATE = 0.03  # per 256x256 image, adding one more pass into the output
_OFF_CENTRE = 0.08  # per 256x256 image, copying out a pass run on the padded image
_DFT_PIXELS = (4096, 16384, 65536, 147456, 262144)
_DFT_MS = (0.23, 0.7, 5.5, 7.5, 13.5)


@dataclass(frozen=True)
class CostModel:
    """Estimated ms of each kind of pass on an image of `pixels` pixels."""

    pixels: int = 256 * 256

    @property
    def scale(self) -> float:
        return self.pixels / 65536

    def direct(self, area: int) -> float:
        if area > _DIRECT_MAX_AREA:
            return self.dft()
        return self.scale * (_DIRECT_CALL + _DIRECT_PER_TAP * area)

    def separable(self, height: int, width: int) -> float:
        return self.scale * (_SEPARABLE_CALL + _SEPARABLE_PER_TAP * (height + width))

    def accumulate(self) -> float:
        return self.scale * _ACCUMULATE

    def dft(self) -> float:
        if self.pixels > _DFT_PIXELS[-1]:
            return _DFT_MS[-1] * self.pixels / _DFT_PIXELS[-1]
        return float(np.interp(self.pixels, _DFT_PIXELS, _DFT_MS))


Box = tuple[int, int, int, int]  # (top, left, height, width) inside the kernel


@dataclass(frozen=True)
class FilterPass:
    """One cv2 call: a dense box of the kernel (filter2D) or one separable term (sepFilter2D)."""

    box: Box
    dense: np.ndarray | None = None  # float32 height x width
    column: np.ndarray | None = None  # float32 height (vertical factor)
    row: np.ndarray | None = None  # float32 width (horizontal factor)


@dataclass(frozen=True)
class FilterPlan:
    """Passes whose sum approximates the kernel; error_bound is the worst error on [0, 1] input."""

    kernel_shape: tuple[int, int]
    passes: tuple[FilterPass, ...]
    error_bound: float
    cost: float
    kind: str  # "dense", "separable" or "strips", for benchmarks and tests


def _residual_bound(residual: np.ndarray) -> float:
    return float(max(residual[residual > 0].sum(), -residual[residual < 0].sum()))


def _support_box(kernel: np.ndarray) -> Box:
    rows = np.flatnonzero(np.any(kernel != 0, axis=1))
    cols = np.flatnonzero(np.any(kernel != 0, axis=0))
    if rows.size == 0:
        return (kernel.shape[0] // 2, kernel.shape[1] // 2, 1, 1)
    return (int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1))


def _crop(kernel: np.ndarray, box: Box) -> np.ndarray:
    top, left, height, width = box
    return kernel[top:top + height, left:left + width]


def _pruned(kernel: np.ndarray, budget: float) -> np.ndarray:
    """The kernel without its lightest taps, dropping at most `budget` of absolute weight.

    Taps of equal magnitude go together, so a symmetric kernel stays symmetric (and centred).
    """
    magnitude = np.abs(kernel)
    ordered = np.sort(magnitude, axis=None)
    # never the heaviest tap: something must remain to rescale
    cut = min(int(np.searchsorted(np.cumsum(ordered), budget, side="right")), ordered.size - 1)
    if cut == 0:
        return kernel
    threshold = ordered[cut - 1]
    if cut < ordered.size and ordered[cut] == threshold:  # keep a level the cut would split
        return np.where(magnitude < threshold, 0.0, kernel)
    return np.where(magnitude <= threshold, 0.0, kernel)


def _dense_plan(kernel: np.ndarray, approximation: np.ndarray, box: Box,
                costs: CostModel) -> FilterPlan:
    """Filter with the approximation's support box in one filter2D call."""
    dense = _crop(approximation, box)
    scaled = dense * (kernel.sum() / dense.sum())
    full = np.zeros_like(kernel)
    full[box[0]:box[0] + box[2], box[1]:box[1] + box[3]] = scaled
    return FilterPlan(kernel.shape, (FilterPass(box, dense=scaled.astype(np.float32)),),
                      _residual_bound(kernel - full), costs.direct(box[2] * box[3]), "dense")


def _separable_plan(kernel: np.ndarray, approximation: np.ndarray, box: Box, tolerance: float,
                    best_cost: float, costs: CostModel) -> FilterPlan | None:
    """The lowest-rank SVD truncation of the support box within tolerance, if cheaper."""
    top, left, height, width = box
    per_pass = costs.separable(height, width) + costs.accumulate()
    max_rank = min(height, width, int(best_cost // per_pass))
    if max_rank < 1:
        return None
    if max_rank == 1:
        return _marginal_plan(kernel, approximation, box, tolerance, per_pass)
    u, s, vt = np.linalg.svd(_crop(approximation, box))
    terms = np.cumsum((u[:, :max_rank] * s[:max_rank]).T[:, :, None] * vt[:max_rank, None, :],
                      axis=0)  # terms[r - 1]: the rank-r truncation
    gains = kernel.sum() / terms.sum(axis=(1, 2))
    terms *= gains[:, None, None]
    outside = kernel.copy()
    outside[top:top + height, left:left + width] = 0.0
    residual = _crop(kernel, box)[None] - terms
    positive = (np.where(residual > 0, residual, 0).sum(axis=(1, 2)) + outside[outside > 0].sum())
    negative = (np.where(residual < 0, -residual, 0).sum(axis=(1, 2)) - outside[outside < 0].sum())
    fits = np.flatnonzero(np.maximum(positive, negative) <= tolerance)
    if fits.size == 0:
        return None
    rank = int(fits[0]) + 1
    gain = gains[rank - 1]
    passes = tuple(FilterPass(box, column=(gain * s[i] * u[:, i]).astype(np.float32),
                              row=vt[i].astype(np.float32)) for i in range(rank))
    bound = float(max(positive[rank - 1], negative[rank - 1]))
    return FilterPlan(kernel.shape, passes, bound, rank * per_pass, "separable")


def _marginal_plan(kernel: np.ndarray, approximation: np.ndarray, box: Box, tolerance: float,
                   cost: float) -> FilterPlan | None:
    """One separable pass from the box's row and column sums, if within tolerance.

    When only rank 1 could pay, this replaces the SVD: for a separable kernel the product of
    its marginals is the kernel itself, and for a far-from-separable one neither fits.
    """
    top, left, height, width = box
    sub = _crop(approximation, box)
    column = sub.sum(axis=1) * (kernel.sum() / sub.sum())
    row = sub.sum(axis=0) / sub.sum()
    full = np.zeros_like(kernel)
    full[top:top + height, left:left + width] = np.outer(column, row)
    bound = _residual_bound(kernel - full)
    if bound > tolerance:
        return None
    filter_pass = FilterPass(box, column=column.astype(np.float32), row=row.astype(np.float32))
    return FilterPlan(kernel.shape, (filter_pass,), bound, cost, "separable")


@njit(cache=True)
def _strip_dp(firsts, lasts, width, max_area, pass_cost, tap_cost):
    """best[end]: cheapest cover of rows [0, end); choice[end]: where its last strip starts."""
    rows = firsts.shape[0]
    best = np.full(rows + 1, np.inf)
    best[0] = 0.0
    choice = np.zeros(rows + 1, dtype=np.int64)
    for end in range(1, rows + 1):
        low, high = width, -1
        for start in range(end - 1, -1, -1):  # strip = rows start .. end - 1
            low, high = min(low, firsts[start]), max(high, lasts[start])
            area = (end - start) * (high - low + 1) if high >= 0 else 0
            if area > max_area:
                break
            cost = best[start] + (pass_cost + tap_cost * area if area > 0 else 0.0)
            if cost < best[end]:
                best[end], choice[end] = cost, start
    return best[rows], choice


def _strip_cover(mask: np.ndarray, costs: CostModel) -> tuple[float, list[Box]]:
    """Cheapest cover of the True taps by row strips of at most _DIRECT_MAX_AREA taps."""
    used = mask.any(axis=1)
    firsts = np.where(used, mask.argmax(axis=1), mask.shape[1])
    lasts = np.where(used, mask.shape[1] - 1 - mask[:, ::-1].argmax(axis=1), -1)
    # a strip usually misses the kernel centre, so it runs on the padded image and is copied out
    pass_cost = costs.direct(0) + costs.accumulate() + costs.scale * _OFF_CENTRE
    tap_cost = costs.direct(1) - costs.direct(0)
    total, choice = _strip_dp(firsts, lasts, mask.shape[1], _DIRECT_MAX_AREA, pass_cost, tap_cost)
    boxes, end = [], mask.shape[0]
    while end > 0:
        start = int(choice[end])
        low, high = int(firsts[start:end].min()), int(lasts[start:end].max())
        if high >= 0:
            boxes.append((start, low, end - start, high - low + 1))
        end = start
    return float(total), boxes[::-1]


def _strips_plan(kernel: np.ndarray, approximation: np.ndarray, costs: CostModel) -> FilterPlan:
    """Direct filter2D calls on row (or column) strips covering the approximation's taps."""
    mask = approximation != 0
    row_cost, row_boxes = _strip_cover(mask, costs)
    col_cost, col_boxes = _strip_cover(mask.T, costs)
    if col_cost < row_cost:
        row_cost, row_boxes = col_cost, [(t, l, h, w) for (l, t, w, h) in col_boxes]
    scaled = approximation * (kernel.sum() / approximation.sum())
    passes = tuple(FilterPass(box, dense=_crop(scaled, box).astype(np.float32))
                   for box in row_boxes)
    return FilterPlan(kernel.shape, passes, _residual_bound(kernel - scaled), row_cost, "strips")


def plan_filter(kernel: np.ndarray, tolerance: float = ERROR_BOUND,
                costs: CostModel = CostModel(), low_rank: bool = True) -> FilterPlan:
    """The cheapest plan whose worst-case output error on [0, 1] images is <= tolerance.

    kernel: odd-sided, non-negative, with a positive sum (a blur kernel). low_rank=False skips
    the SVD candidate (camera-shake kernels are far from low rank).
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(f"blur: kernel shape {kernel.shape} is not 2-D with odd sides")
    if not np.isfinite(kernel).all() or kernel.min() < 0 or kernel.sum() <= 0:
        raise ValueError("blur: kernel must be finite and non-negative with a positive sum")
    # A dense or strip plan's error is exactly the weight its pruning drops, so those spend the
    # whole tolerance on pruning; the SVD candidate keeps half of it for the rank truncation.
    pruned = _pruned(kernel, tolerance)
    best = _dense_plan(kernel, pruned, _support_box(pruned), costs)
    candidates = []
    if best.cost >= costs.dft():  # below, one direct call already beats any strip cover
        candidates.append(_strips_plan(kernel, pruned, costs))
    if low_rank:
        half_pruned = _pruned(kernel, tolerance / 2)
        candidates.append(_separable_plan(kernel, half_pruned, _support_box(half_pruned),
                                          tolerance, best.cost, costs))
    for plan in candidates:
        if plan is not None and plan.error_bound <= tolerance and plan.cost < best.cost:
            best = plan
    return best


def reflect_indices(length: int, before: int, after: int) -> np.ndarray:
    """Source indices of a reflect-101 padded axis, folded as often as needed (length >= 1)."""
    positions = np.arange(-before, length + after)
    if length == 1:
        return np.zeros_like(positions)
    period = 2 * (length - 1)
    positions = np.mod(positions, period)
    return np.where(positions >= length, period - positions, positions)


def pad_reflect_101(image: np.ndarray, pad_y: int, pad_x: int, out: np.ndarray | None = None):
    """Pad both sides of each axis by reflect-101, folding again where the image is too small.

    out: optional destination of the padded shape (the single-reflection path writes into it).
    """
    height, width = image.shape[:2]
    if pad_y < height and pad_x < width:  # one reflection suffices: OpenCV's is the same rule
        return cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REFLECT_101,
                                  dst=out)
    rows = reflect_indices(height, pad_y, pad_y)
    cols = reflect_indices(width, pad_x, pad_x)
    return np.ascontiguousarray(image[rows[:, None], cols[None, :]])


_workspaces = threading.local()


def _scratch(slot: str, shape: tuple[int, ...]) -> np.ndarray:
    """A reusable float32 array of this shape, private to the thread and to the slot.

    Intermediate images live here instead of in fresh allocations: on first touch every page
    of new memory faults, which costs more than the arithmetic of a small filter pass.
    Never returned to callers.
    """
    size = math.prod(shape)
    buffer = getattr(_workspaces, slot, None)
    if buffer is None or buffer.size < size:
        buffer = np.empty(size, dtype=np.float32)
        setattr(_workspaces, slot, buffer)
    return buffer[:size].reshape(shape)


def _centre_anchor(filter_pass: FilterPass, kernel_shape: tuple[int, int]):
    """cv2 anchor (x, y) of the kernel centre inside the pass's box; None when it lies outside."""
    top, left, height, width = filter_pass.box
    x, y = kernel_shape[1] // 2 - left, kernel_shape[0] // 2 - top
    return (x, y) if 0 <= x < width and 0 <= y < height else None


def _filter(source: np.ndarray, filter_pass: FilterPass, anchor=(-1, -1), dst=None):
    border = cv2.BORDER_REFLECT_101
    if filter_pass.dense is not None:
        return cv2.filter2D(source, -1, filter_pass.dense, dst=dst, anchor=anchor,
                            borderType=border)
    return cv2.sepFilter2D(source, -1, filter_pass.row, filter_pass.column, dst=dst,
                           anchor=anchor, borderType=border)


def _padded_pass(padded: np.ndarray, filter_pass: FilterPass, height: int, width: int):
    """A pass whose box misses the kernel centre, read from real padded pixels only.

    The region is the box's footprint over all outputs; with OpenCV's default (centred) anchor
    output (y, x) sits at (y + h // 2, x + w // 2) in it.
    """
    top, left, box_h, box_w = filter_pass.box
    region = padded[top:top + height + box_h - 1, left:left + width + box_w - 1]
    out = _filter(region, filter_pass, dst=_scratch("region", region.shape))
    return out.reshape(region.shape)[box_h // 2:box_h // 2 + height, box_w // 2:box_w // 2 + width]


def correlate(image: np.ndarray, plan: FilterPlan) -> np.ndarray:
    """Correlate a float32 HxWx3 image with a plan's kernel; same size, clipped to [0, 1].

    Passes whose box holds the kernel centre run on the image itself with OpenCV's
    BORDER_REFLECT_101 (the same rule while half the kernel is shorter than each side). The
    others, and every pass on images smaller than that (down to 1x1), read a copy padded here
    by folded reflect-101 indices. The output is the only fresh array; intermediates reuse
    per-thread scratch memory.
    """
    image = np.ascontiguousarray(image, dtype=np.float32)
    height, width = image.shape[:2]
    k_h, k_w = plan.kernel_shape
    one_reflection = k_h // 2 < height and k_w // 2 < width
    out = np.empty(image.shape, dtype=np.float32)
    padded = None
    for index, filter_pass in enumerate(plan.passes):
        target = out if index == 0 else _scratch("pass", image.shape)
        anchor = _centre_anchor(filter_pass, plan.kernel_shape) if one_reflection else None
        if anchor is not None:
            _filter(image, filter_pass, anchor, dst=target.reshape(image.shape))
        else:
            if padded is None:
                shape = (height + 2 * (k_h // 2), width + 2 * (k_w // 2)) + image.shape[2:]
                padded = pad_reflect_101(image, k_h // 2, k_w // 2, out=_scratch("padded", shape))
                padded = padded.reshape(shape)
            np.copyto(target, _padded_pass(padded, filter_pass, height, width))
        if index > 0:
            cv2.add(out, target, dst=out)
    return np.clip(out, 0.0, 1.0, out=out)
