"""The motion_blur op: random camera-shake kernels, centred so ground truth stays aligned.

Trajectories follow the Boracchi-Foi (2012) model: a particle moving at constant speed whose
velocity receives, each step, a Gaussian shake, a centripetal pull back towards the start and,
rarely, an abrupt impulse that roughly reverses it. The path is simulated finely, then kept as
TRAJECTORY_POINTS positions at equally spaced instants of the exposure.

Params (plain JSON): {"size": odd int in 5..31, "points": [[x, y], ...]} with x along columns and
y along rows, in pixels relative to the kernel centre, rounded to 3 decimals. Storing the points
rather than a seed makes replay independent of numpy's random streams; a record costs about 1 KB.

Rasterisation: the camera moves linearly between consecutive points and spends equal time on
each segment; each segment is sampled at most 0.1 px apart and every sample is splatted
bilinearly. Bilinear splatting preserves the first moment, so subtracting the samples' mean
before splatting puts the kernel's centre of mass exactly on the centre pixel (to rounding).
Filtering is correlation, like cv2.filter2D (see degrade.filtering).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from degrade.filtering import CostModel, correlate, plan_filter
from degrade.op import Op, Param, Params, Severity
from degrade.paramcheck import check_keys

OP_NAME = "motion_blur"
MAX_POINTS = 4096  # a bound on replay work for hand-written records
KERNEL_SIZES = tuple(range(5, 32, 2))
TRAJECTORY_POINTS = 64
SIMULATION_STEPS = 2000
SAMPLE_SPACING = 0.1  # px between splatted samples along the path
# Boracchi-Foi draws: anxiety ~ U(0, 0.1), centripetal ~ U(0, 0.7), big-shake probability
# ~ U(0, 0.2), Gaussian shake ~ U(0, 10), simulated path length = size - 1 (their 60 px on a
# 64 px canvas). The shaky paths often curl up far inside the canvas, so the path is then
# scaled until its farthest point from the centre of mass lies at a random fraction
# REACH_RANGE of the kernel radius: the size sets how far the blur reaches.
ANXIETY_MAX = 0.1
CENTRIPETAL_MAX = 0.7
BIG_SHAKE_MAX = 0.2
GAUSSIAN_SHAKE_MAX = 10.0
REACH_RANGE = (0.5, 1.0)
FIT_MARGIN = 0.01  # px kept free inside the kernel so rounding never pushes a point out


@njit(cache=True)
def _simulate_path(length, anxiety, centripetal, big_shake, gaussian_shake, angle,
                   uniforms, normals):
    """Positions (steps x 2) of a Boracchi-Foi particle; all randomness comes in the arrays."""
    steps = uniforms.shape[0] + 1
    speed = length / (steps - 1)
    path = np.zeros((steps, 2))
    vx, vy = math.cos(angle) * speed, math.sin(angle) * speed
    for t in range(steps - 1):
        dvx = anxiety * (gaussian_shake * normals[t, 0] - centripetal * path[t, 0]) * speed
        dvy = anxiety * (gaussian_shake * normals[t, 1] - centripetal * path[t, 1]) * speed
        if uniforms[t, 0] < big_shake * anxiety:
            # abrupt shake: twice the velocity, turned by pi +- 0.5 rad
            turn = math.pi + uniforms[t, 1] - 0.5
            dvx += 2.0 * (vx * math.cos(turn) - vy * math.sin(turn))
            dvy += 2.0 * (vx * math.sin(turn) + vy * math.cos(turn))
        vx, vy = vx + dvx, vy + dvy
        norm = math.sqrt(vx * vx + vy * vy)
        if norm > 0.0:
            vx, vy = vx / norm * speed, vy / norm * speed
        path[t + 1, 0] = path[t, 0] + vx
        path[t + 1, 1] = path[t, 1] + vy
    return path


@njit(cache=True)
def _path_samples(points, spacing):
    """Sample positions and weights along the polyline (equal time per segment), mean removed."""
    segments = points.shape[0] - 1
    if segments == 0:
        return np.zeros((1, 2)), np.ones(1)
    counts = np.empty(segments, dtype=np.int64)
    for s in range(segments):
        dx = points[s + 1, 0] - points[s, 0]
        dy = points[s + 1, 1] - points[s, 1]
        counts[s] = max(1, int(math.ceil(math.sqrt(dx * dx + dy * dy) / spacing)))
    positions = np.empty((counts.sum(), 2))
    weights = np.empty(counts.sum())
    k = 0
    for s in range(segments):
        for m in range(counts[s]):
            t = (m + 0.5) / counts[s]
            positions[k, 0] = points[s, 0] + t * (points[s + 1, 0] - points[s, 0])
            positions[k, 1] = points[s, 1] + t * (points[s + 1, 1] - points[s, 1])
            weights[k] = 1.0 / (segments * counts[s])
            k += 1
    mean_x = (positions[:, 0] * weights).sum() / weights.sum()
    mean_y = (positions[:, 1] * weights).sum() / weights.sum()
    positions[:, 0] -= mean_x
    positions[:, 1] -= mean_y
    return positions, weights / weights.sum()


@njit(cache=True)
def _splat(positions, weights, size):
    """Bilinear splat of weighted (x, y) offsets onto a size x size grid centred at size // 2."""
    kernel = np.zeros((size, size))
    centre = size // 2
    for k in range(positions.shape[0]):
        u = positions[k, 0] + centre
        v = positions[k, 1] + centre
        # clamp so a point on the last row/column gives all its weight to that row/column
        col = min(max(int(math.floor(u)), 0), size - 2)
        row = min(max(int(math.floor(v)), 0), size - 2)
        fx = min(max(u - col, 0.0), 1.0)
        fy = min(max(v - row, 0.0), 1.0)
        w = weights[k]
        kernel[row, col] += w * (1.0 - fx) * (1.0 - fy)
        kernel[row, col + 1] += w * fx * (1.0 - fy)
        kernel[row + 1, col] += w * (1.0 - fx) * fy
        kernel[row + 1, col + 1] += w * fx * fy
    return kernel


def trajectory_centre(points: np.ndarray) -> np.ndarray:
    """Time-averaged position of the polyline: the kernel's centre of mass before centring.

    Equal time per segment and samples symmetric about each segment's midpoint make it the mean
    of the segment midpoints (the single point for a one-point trajectory).
    """
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 1:
        return points[0].copy()
    return ((points[:-1] + points[1:]) / 2).mean(axis=0)


def motion_kernel(points, size: int) -> np.ndarray:
    """Rasterise a trajectory (N x 2, x/y offsets in px) into a centred size x size kernel."""
    positions, weights = _path_samples(np.ascontiguousarray(points, dtype=np.float64),
                                       SAMPLE_SPACING)
    kernel = _splat(positions, weights, size)
    return kernel / kernel.sum()


def sample_trajectory(rng: np.random.Generator, size: int) -> np.ndarray:
    """A centred TRAJECTORY_POINTS x 2 camera path that fits a size x size kernel."""
    radius = (size - 1) / 2
    reach = float(rng.uniform(*REACH_RANGE)) * radius - FIT_MARGIN
    anxiety, centripetal, big_shake, gaussian_shake = rng.uniform(
        0.0, [ANXIETY_MAX, CENTRIPETAL_MAX, BIG_SHAKE_MAX, GAUSSIAN_SHAKE_MAX])
    angle = float(rng.uniform(0.0, 2 * math.pi))
    uniforms = rng.random((SIMULATION_STEPS - 1, 2))
    normals = rng.standard_normal((SIMULATION_STEPS - 1, 2))
    path = _simulate_path(float(size - 1), anxiety, centripetal, big_shake, gaussian_shake, angle,
                          uniforms, normals)
    keep = np.linspace(0, SIMULATION_STEPS - 1, TRAJECTORY_POINTS).round().astype(np.int64)
    points = path[keep] - trajectory_centre(path[keep])
    extent = np.abs(points).max()
    return points * (reach / extent) if extent > 0 else points


def sample_motion_blur(rng: np.random.Generator, image_shape: tuple[int, ...]) -> Params:
    """A size from {5, 7, ..., 31} and a trajectory for it; the image shape does not matter."""
    del image_shape
    size = int(rng.choice(KERNEL_SIZES))
    points = np.round(sample_trajectory(rng, size), 3)
    return {"size": size, "points": [[float(x), float(y)] for x, y in points]}


def _points_array(points) -> np.ndarray:
    if not isinstance(points, (list, tuple)) or not 1 <= len(points) <= MAX_POINTS:
        raise ValueError(f"{OP_NAME}: points must be a list of 1..{MAX_POINTS} [x, y] pairs")
    for pair in points:
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           for v in pair)):
            raise ValueError(f"{OP_NAME}: point {pair!r} is not an [x, y] pair of numbers")
    array = np.asarray(points, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{OP_NAME}: points contain a non-finite coordinate")
    return array


def _checked_points(params: Params) -> np.ndarray:
    """The trajectory as an N x 2 array, after every check; ValueError names what is wrong."""
    check_keys(OP_NAME, params, ("size", "points"))
    size = params["size"]
    if isinstance(size, bool) or not isinstance(size, int) or size not in KERNEL_SIZES:
        raise ValueError(f"{OP_NAME}: size={size!r} is not an odd integer in 5..31")
    points = _points_array(params["points"])
    reach = np.abs(points - trajectory_centre(points)).max()
    if reach > (size - 1) / 2 + 1e-6:
        raise ValueError(f"{OP_NAME}: trajectory reaches {reach:.3f} px from its centre of "
                         f"mass, more than the {(size - 1) // 2} px a size-{size} kernel holds")
    return points


def validate_motion_blur(params: Params) -> None:
    """Raise ValueError naming the first missing, unknown or out-of-range parameter."""
    _checked_points(params)


def apply_motion_blur(image: np.ndarray, params: Params) -> np.ndarray:
    """Correlate with the centred trajectory kernel (regenerated from the points)."""
    kernel = motion_kernel(_checked_points(params), params["size"])
    costs = CostModel(image.shape[0] * image.shape[1])
    return correlate(image, plan_filter(kernel, costs=costs, low_rank=False))


def motion_length(params: Params) -> float:
    """The blur's length in pixels: the largest distance between two points of the path."""
    points = np.asarray(params["points"], dtype=np.float64)
    gaps = points[:, None, :] - points[None, :, :]
    return float(np.sqrt((gaps * gaps).sum(axis=2)).max())


# Sampled paths reach 31 px (a diagonal in the largest kernel); under 2 px they barely smear.
SEVERITY = Severity("length (px)", motion_length, 0.0, 32.0, 2.0)

MOTION_BLUR = Op(name=OP_NAME, apply=apply_motion_blur,
                 sample_params=sample_motion_blur, validate=validate_motion_blur,
                 severity=SEVERITY, params=(
                     Param("size", "integer", "side of the square kernel (odd)", "pixels",
                           KERNEL_SIZES[0], KERNEL_SIZES[-1], choices=KERNEL_SIZES),
                     Param("points", "points", "the camera path: [x, y] positions relative to "
                           "the kernel centre (x along columns, y along rows), equal time on "
                           "each segment", "pixels", high=MAX_POINTS)))

