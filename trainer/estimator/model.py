"""The degradation estimator: a small fully-convolutional CNN, globally pooled, that gives for
each op of its list a presence logit and a level in [0, level_span].

Levels are degrade's op levels on their linear scale (`Severity.linear_level`): 0..1 spans the
range PROD samples, and values above 1 reach beyond it (noise sigma 60 is level 2), which is
where level-conditioned adapters are used. Estimators saved before `level_span` existed read 1.

Two things the naive "conv stack + global pooling" misses are built in:
- Noise is a per-pixel statistic: the stem (two 3x3 convolutions) runs at full resolution and
  its per-channel mean and standard deviation over the image feed the head directly.
- JPEG leaves its mark on the 8x8 block grid: stem features (reduced by a 1x1 convolution) are
  averaged per position inside the 8x8 block ("grid phase pooling", B x C x 8 x 8), so a seam
  every 8 pixels stands out of the content however large the image. This needs the image's
  grid where JPEG put it: inputs start at a multiple of 8 from the encoded image's origin and
  their sides are multiples of 8 (the inference and training crops keep both).
- Noise types differ in how their strength follows brightness (Gaussian: flat; Poisson: sigma
  like the square root of brightness; speckle: like brightness): a "noise curve" (robust
  quantiles of a full-resolution noise residual per brightness bin, in log2, see
  `noise_curve`) feeds the head. Estimators saved before it carry the older "noise profile"
  (`noise_bins`, block energies) and still load.
- A family's presence ("some noise") is its own output: per-op logits spread a noisy image's
  probability over noise ops that look alike, so their maximum undersells the family. One more
  logit per family of two or more ops (trainer.tasks: noise, blur), trained on "any member
  present". Estimators saved before it have no `families` and score a family by its most
  probable member.
- Rain streaks and motion smears are thin straight lines at one angle: a fixed bank of line
  kernels (`line_kernels`: 16 angles, 9 pixels long, a ridge detector) filters the grey image at
  full resolution and its responses join the stem's features at the trunk's input, so the
  trunk sees where each angle's lines are. Estimators saved before it have no `line_angles`.
A strided trunk (four stride-2 stages) sees wider structure (blur, rain, haze) and is
average-pooled. Pooled features are averages or quantiles, so the image size hardly shifts
them.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

GRID = 8
NOISE_QUANTILE = 0.25
CURVE_BINS = 8
CURVE_QUANTILES = (0.25, 0.5)
# Immerkaer's noise-estimation mask [[1,-2,1],[-2,4,-2],[1,-2,1]], divided by 6 so that
# i.i.d. noise of std s gives a residual of std s; it cancels constant and linear intensity.
IMMERKAER_SCALE = 6.0
LOG2_FLOOR = -12.0  # log2 of the smallest residual told apart (8-bit steps are 2^-10.6)
LOG2_STEP = 0.25  # histogram resolution, interpolated within
LOG2_BUCKETS = 52  # up to 2^1, above the largest residual (4/3)
# Levels up to 3x the sampled range: Gaussian noise sigma 90, JPEG down to quality 1 (its own
# limit, level 1.41): the hyper-network paper's levels (sigma 15-75) with room for error.
LEVEL_SPAN = 3.0
# The direction profile's offsets: 8 undirected directions (0, 90, 45, 135 degrees and the four
# knight's moves), a set that flips and quarter turns map onto itself.
DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1), (1, 2), (2, 1), (1, -2), (2, -1))
DIRECTION_LAGS = (1, 2, 3)
# The line bank: thin straight segments at LINE_ANGLES angles over 180 degrees (16: quarter turns
# and flips map the set onto itself), LINE_LENGTH pixels long, each minus the mean of its two
# parallel neighbours LINE_GAP pixels to either side (a ridge detector that ignores constant and
# linear intensity).
LINE_ANGLES = 16
LINE_LENGTH = 9
LINE_GAP = 1.5


def default_families(ops: Sequence[str]) -> dict[str, list[str]]:
    """The task families (trainer.tasks.TASKS) with two or more members among `ops` (a family
    of one op is that op's own logit)."""
    from trainer.tasks import TASKS

    families = {name: [op for op in members if op in ops] for name, members in TASKS.items()}
    return {name: members for name, members in families.items() if len(members) >= 2}


def _block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm (a short CPU training converges much faster with it), ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1,
                                   bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class DegradationEstimator(nn.Module):
    """forward(x: B x 3 x H x W in [0, 1], H and W multiples of 8) -> (logits, levels), both
    B x len(ops); levels in [0, level_span]. `config` rebuilds it (see `from_config`)."""

    def __init__(self, ops: Sequence[str], stem: int = 16, phase: int = 8,
                 trunk: Sequence[int] = (32, 64, 96, 128), hidden: int = 256,
                 noise_bins: int = 0, curve_bins: int = CURVE_BINS,
                 level_span: float = LEVEL_SPAN,
                 direction_lags: Sequence[int] = DIRECTION_LAGS,
                 families: dict[str, Sequence[str]] | None = None,
                 line_angles: int = LINE_ANGLES):
        super().__init__()
        if not level_span >= 1.0:
            raise ValueError(f"level_span must be at least 1 (the sampled range), got {level_span}")
        self.ops = list(ops)
        self.noise_bins, self.curve_bins = noise_bins, curve_bins
        self.level_span = float(level_span)
        self.direction_lags = tuple(int(lag) for lag in direction_lags)
        self.line_angles = int(line_angles)
        if self.line_angles % 4:
            raise ValueError(f"line_angles must be a multiple of 4 (closed under quarter turns "
                             f"and flips), got {line_angles}")
        self.families = default_families(self.ops) if families is None else {
            name: [op for op in members] for name, members in families.items()}
        unknown = sorted({op for members in self.families.values() for op in members}
                         - set(self.ops))
        if unknown:
            raise ValueError(f"families name ops outside the estimator's: {', '.join(unknown)}")
        membership = torch.zeros(len(self.ops), len(self.families))
        for column, members in enumerate(self.families.values()):
            for op in members:
                membership[self.ops.index(op), column] = 1.0
        self.register_buffer("membership", membership, persistent=False)
        self.config = {"arch": "degradation-estimator", "ops": self.ops, "stem": stem,
                       "phase": phase, "trunk": list(trunk), "hidden": hidden,
                       "noise_bins": noise_bins, "curve_bins": curve_bins,
                       "level_span": self.level_span,
                       "direction_lags": list(self.direction_lags),
                       "families": self.families, "line_angles": self.line_angles}
        self.stem = nn.Sequential(_block(6, stem), _block(stem, stem))
        self.phase = nn.Conv2d(stem, phase, 1)
        if self.line_angles:
            self.register_buffer("lines", line_kernels(self.line_angles), persistent=False)
        stages, channels = [], stem + self.line_angles
        for width in trunk:
            stages += [_block(channels, width, stride=2), _block(width, width)]
            channels = width
        self.trunk = nn.Sequential(*stages)
        features = (2 * stem + phase * GRID * GRID + channels + 4 * noise_bins
                    + curve_features(curve_bins) + direction_features(self.direction_lags))
        self.head = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, 2 * len(self.ops) + len(self.families)))

    @classmethod
    def from_config(cls, config: dict) -> "DegradationEstimator":
        if config.get("arch") != "degradation-estimator":
            raise ValueError(f"not an estimator config (arch {config.get('arch')!r})")
        # estimators saved before the noise profile (curve) existed lack noise_bins (curve_bins),
        # those saved before levels beyond the sampled range lack level_span, and those saved
        # before the direction profile lack direction_lags, before family outputs families,
        # before the line bank line_angles
        return cls(config["ops"], config["stem"], config["phase"], config["trunk"],
                   config["hidden"], config.get("noise_bins", 0), config.get("curve_bins", 0),
                   config.get("level_span", 1.0), config.get("direction_lags", ()),
                   config.get("families", {}), config.get("line_angles", 0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.read_head(self.head(self.features(x)))

    def forward_with_families(self, x: torch.Tensor):
        """(presence logits, levels, family logits B x len(families))."""
        output = self.head(self.features(x))
        return (*self.read_head(output), self.read_families(output))

    def read_head(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The head's output -> (presence logits, levels in [0, level_span])."""
        count = len(self.ops)
        logits, levels = output[:, :count], output[:, count:2 * count]
        return logits, self.level_span * torch.sigmoid(levels)

    def read_families(self, output: torch.Tensor) -> torch.Tensor:
        """The head's output -> family presence logits, B x len(families) (B x 0 without)."""
        return output[:, 2 * len(self.ops):]

    def family_presence(self, presence: torch.Tensor) -> torch.Tensor:
        """B x ops presence labels -> B x families: 1 where any member op is present."""
        return (presence @ self.membership.to(presence.dtype) > 0).to(presence.dtype)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """B x F pooled features, the head's input (see the module docstring)."""
        detail = high_pass(x)
        features = self.stem(torch.cat([x - 0.5, detail], dim=1))
        wide = features
        if self.line_angles:
            wide = torch.cat([features, line_responses(x, self.lines)], dim=1)
        pooled = [features.mean(dim=(2, 3)), features.std(dim=(2, 3)),
                  grid_phase_pool(self.phase(features)), self.trunk(wide).mean(dim=(2, 3))]
        if self.noise_bins:
            pooled.append(noise_profile(x, detail, self.noise_bins))
        if self.curve_bins:
            pooled.append(noise_curve(x, self.curve_bins))
        if self.direction_lags:
            pooled.append(direction_profile(x, self.direction_lags))
        return torch.cat(pooled, dim=1)


def high_pass(x: torch.Tensor) -> torch.Tensor:
    """x minus its 3x3 box mean (reflected edges), scaled by 4: the fine detail where noise,
    JPEG seams and lost sharpness show, given to the first layer as extra channels."""
    mean = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    return 4.0 * (x - mean)


def noise_profile(x: torch.Tensor, detail: torch.Tensor, bins: int) -> torch.Tensor:
    """B x (4 * bins): how much fine detail the flattest parts of the image hold, by brightness.

    The image is cut into 8x8 blocks; each block has a brightness (mean over pixels and
    channels) and, per channel, an energy (mean square of `detail`, the high-pass). Blocks are
    put in `bins` equal brightness bins; per bin and channel the lower quartile of the energy
    (the flat blocks: noise without texture), as (log(energy + 1e-5) + 7) / 3, then each bin's
    share of the blocks. An empty bin takes the quartile over all blocks. Gaussian noise gives
    a flat profile, Poisson noise one rising like the square root of brightness, speckle one
    rising linearly: what tells the noise ops apart.
    """
    energy = F.avg_pool2d(detail * detail, GRID).flatten(2)  # B x 3 x blocks
    brightness = F.avg_pool2d(x.mean(dim=1, keepdim=True), GRID).flatten(1)  # B x blocks
    which = (brightness * bins).long().clamp(0, bins - 1)
    overall = torch.quantile(energy, NOISE_QUANTILE, dim=2)
    levels, shares = [], []
    for index in range(bins):
        inside = which == index
        count = inside.sum(dim=1)
        ranked = torch.where(inside[:, None, :], energy, torch.inf).sort(dim=2).values
        rank = ((count - 1).clamp(min=0) * NOISE_QUANTILE).long()  # lower rank, no interpolation
        picked = ranked.gather(2, rank[:, None, None].expand(-1, energy.shape[1], 1))[..., 0]
        picked = torch.where(count[:, None] > 0, picked, overall)
        levels.append((torch.log(picked + 1e-5) + 7.0) / 3.0)
        shares.append(count.float() / energy.shape[2])
    return torch.cat(levels + [torch.stack(shares, dim=1)], dim=1)


def curve_features(bins: int) -> int:
    """Width of noise_curve's output: a value per bin and quantile, and each bin's share."""
    return bins * (len(CURVE_QUANTILES) + 1) if bins else 0


def second_differences(x: torch.Tensor) -> torch.Tensor:
    """... x H x W -> ... x (H-2) x (W-2): the outer product of two second differences
    [1, -2, 1] (Immerkaer's mask times 6), applied as two, over the valid pixels (no padding:
    edges invent no structure). Constant and linear intensity give 0."""
    across = x[..., :, :-2] - 2.0 * x[..., :, 1:-1] + x[..., :, 2:]
    return across[..., :-2, :] - 2.0 * across[..., 1:-1, :] + across[..., 2:, :]


def noise_residual(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(|residual|, local brightness), both B x 3(H-2)(W-2): Immerkaer's mask and the 3x3 mean
    of each channel, over the valid pixels."""
    residual = second_differences(x)
    rows = x[..., :, :-2] + x[..., :, 1:-1] + x[..., :, 2:]
    mean = (rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]) / 9.0
    batch = x.shape[0]
    return (residual.abs() / IMMERKAER_SCALE).reshape(batch, -1), mean.reshape(batch, -1)


@torch.no_grad()
def noise_curve(x: torch.Tensor, bins: int = CURVE_BINS) -> torch.Tensor:
    """B x curve_features(bins): how the noise residual's size follows brightness.

    Each channel's pixels are put in `bins` equal bins of their local brightness; per bin, the
    lower quartile and the median of |residual| (log2; quantiles ignore the minority of pixels
    on edges and texture, which only raise the residual), then each bin's share of the pixels.
    Differences between bins are scale-free: Gaussian noise gives a flat curve, Poisson one
    rising by 1/2 per doubling of brightness, speckle by 1. Quantiles come from a histogram of
    log2 |residual| in steps of 1/4, interpolated linearly within the step (linear time on
    every device; counts are exact, so the result is deterministic). An empty bin takes the
    quantile over all pixels. The input is data, not weights: no gradient flows through it.
    """
    residual, brightness = noise_residual(x)
    which = (brightness * bins).long().clamp(0, bins - 1)
    position = (torch.log2(residual + 2.0 ** LOG2_FLOOR) - LOG2_FLOOR) / LOG2_STEP
    bucket = position.long().clamp(0, LOG2_BUCKETS - 1)
    counts = torch.zeros(x.shape[0], bins * LOG2_BUCKETS, dtype=x.dtype, device=x.device)
    counts.scatter_add_(1, which * LOG2_BUCKETS + bucket, torch.ones_like(residual))
    counts = counts.reshape(x.shape[0], bins, LOG2_BUCKETS)
    histograms = torch.cat([counts, counts.sum(dim=1, keepdim=True)], dim=1)  # + all pixels
    values = [histogram_quantile(histograms, q) for q in CURVE_QUANTILES]
    present = histograms[:, :bins].sum(dim=2) > 0
    values = [torch.where(present, v[:, :bins], v[:, bins:]) for v in values]
    curve = torch.stack(values, dim=2).reshape(x.shape[0], -1)
    shares = histograms[:, :bins].sum(dim=2) / residual.shape[1]
    return torch.cat([(curve + 6.0) / 3.0, shares], dim=1)


def direction_features(lags: Sequence[int]) -> int:
    """Width of direction_profile's output: 8 directions per lag, and the kurtosis."""
    return len(DIRECTIONS) * len(lags) + 1 if lags else 0


def _lagged_product(residual: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """B: the mean over the overlap of residual times residual shifted by (dy, dx)."""
    height, width = residual.shape[-2:]
    first = residual[..., max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)]
    second = residual[..., max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return (first * second).mean(dim=(-2, -1))


@torch.no_grad()
def direction_profile(x: torch.Tensor, lags: Sequence[int] = DIRECTION_LAGS) -> torch.Tensor:
    """B x direction_features(lags): how the image's fine detail lines up.

    The residual is `second_differences` of the grey image (the channel mean). Per lag and
    each of the 8 DIRECTIONS, its autocorrelation at that offset times the lag (the mean
    product over the overlap divided by the mean square), sorted from high to low: flips and
    quarter turns permute the directions, so the sorted values do not change. Then the
    residual's kurtosis (mean fourth power over the squared mean square), as log / 3. I.i.d.
    noise gives the mask's own correlations, the same along both axes (-2/3 at one pixel,
    1/6 at two, 0 beyond) and a kurtosis of 3; a streak or a motion smear keeps its residual
    correlated along its direction only, and sparse streaks raise the kurtosis. The input is
    data, not weights: no gradient flows through it.
    """
    residual = second_differences(x.mean(dim=1))
    energy = (residual * residual).mean(dim=(-2, -1)).clamp(min=1e-12)
    pooled = []
    for lag in lags:
        products = torch.stack([_lagged_product(residual, lag * dy, lag * dx)
                                for dy, dx in DIRECTIONS], dim=1)
        pooled.append((products / energy[:, None]).sort(dim=1, descending=True).values)
    kurtosis = (residual ** 4).mean(dim=(-2, -1)) / (energy * energy)
    pooled.append(torch.log(kurtosis.clamp(min=1.0))[:, None] / 3.0)  # >= 1 unless all zero
    return torch.cat(pooled, dim=1)


def line_kernels(angles: int = LINE_ANGLES, length: int = LINE_LENGTH,
                 gap: float = LINE_GAP) -> torch.Tensor:
    """angles x 1 x S x S float32: kernel k is a segment of `length` unit-spaced samples through
    the centre at k * 180 / angles degrees from vertical (the rain op's convention), splatted
    with bilinear weights and divided by `length`, minus half of the same segment moved `gap`
    pixels to either side, perpendicular to it. Each kernel sums to 0 and is symmetric through
    its centre, so constant and linear intensity give 0; a thin line along the kernel's
    direction gives the largest response. Rotating kernel k by a quarter turn gives kernel
    k + angles / 2 (mod angles), mirroring it left-right gives kernel -k (mod angles)."""
    half = math.ceil(math.hypot((length - 1) / 2, gap)) + 1  # the farthest sample, + bilinear
    size = 2 * half + 1
    kernels = np.zeros((angles, 1, size, size), np.float64)
    for k in range(angles):
        theta = math.pi * k / angles
        along_y, along_x = math.cos(theta), math.sin(theta)
        for offset, weight in ((0.0, 1.0), (gap, -0.5), (-gap, -0.5)):
            for i in range(length):
                t = i - (length - 1) / 2
                y = half + t * along_y - offset * along_x
                x = half + t * along_x + offset * along_y
                y0, x0 = math.floor(y), math.floor(x)
                fy, fx = y - y0, x - x0
                for dy, wy in ((0, 1.0 - fy), (1, fy)):
                    for dx, wx in ((0, 1.0 - fx), (1, fx)):
                        kernels[k, 0, y0 + dy, x0 + dx] += weight * wy * wx / length
    return torch.from_numpy(kernels.astype(np.float32))


@torch.no_grad()
def line_responses(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """B x angles x H x W: the grey image (channel mean) filtered by each line kernel, edges
    replicated, times 4 (a thin streak of contrast c gives about 4c, comparable to the stem's
    input scale). Rain streaks and motion smears are thin lines at one angle; the trunk sees
    where each angle's lines are. Data, not weights: no gradient flows through it."""
    pad = kernels.shape[-1] // 2
    grey = F.pad(x.mean(dim=1, keepdim=True), (pad, pad, pad, pad), mode="replicate")
    return 4.0 * F.conv2d(grey, kernels)


def histogram_quantile(histograms: torch.Tensor, q: float) -> torch.Tensor:
    """... x buckets counts of log2 |residual| -> ... quantile q in log2, interpolated linearly
    inside its bucket (LOG2_FLOOR for an empty histogram)."""
    cumulative = histograms.cumsum(dim=-1)
    target = q * cumulative[..., -1:]
    index = (cumulative < target).sum(dim=-1, keepdim=True).clamp(max=histograms.shape[-1] - 1)
    before = torch.where(index > 0, cumulative.gather(-1, (index - 1).clamp(min=0)),
                         torch.zeros_like(target))
    inside = histograms.gather(-1, index)
    fraction = ((target - before) / inside.clamp(min=1.0)).clamp(0.0, 1.0)
    return (LOG2_FLOOR + LOG2_STEP * (index + fraction))[..., 0]


def grid_phase_pool(features: torch.Tensor) -> torch.Tensor:
    """B x C x H x W (H, W multiples of 8) -> B x (C * 64): each channel's mean at each of the
    64 positions inside the 8x8 block grid, minus that channel's mean over the 64 (the seam
    pattern, not the content's brightness)."""
    batch, channels, height, width = features.shape
    blocks = features.reshape(batch, channels, height // GRID, GRID, width // GRID, GRID)
    phases = blocks.mean(dim=(2, 4))
    phases = phases - phases.mean(dim=(2, 3), keepdim=True)
    return phases.reshape(batch, channels * GRID * GRID)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
