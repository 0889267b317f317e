"""A small, fast random stream for the numba kernels: xoshiro256++ with a 256-layer ziggurat.

Why: the noise ops draw one value per pixel and channel, and numpy's Generator, even called
from numba, costs several times what xoshiro256++ and the ziggurat's 99% fast path cost
(figures in docs/benchmarks.md). Streams are a pure function of a 64-bit seed (expanded to the 4-word state by
SplitMix64, as xoshiro's authors recommend), so outputs stay tied to each op's `seed` param.

State: a uint64[4] array, advanced in place by the njit functions below. They are inlined
into their callers (numba IR inlining), which spares a call and the array's reference counting
per draw.
Ziggurat: Marsaglia & Tsang (2000) with 256 layers of equal area V under exp(-x^2 / 2),
R = 3.6541528853610088; the base layer carries the tail, sampled exactly by Marsaglia's method.
standard_normal spends one 64-bit draw per attempt (52-bit position); the noise kernels use the
paired stream (paired_normal), where each 64-bit draw serves two 32-bit attempts (23-bit
position, ample for noise on 8- and 16-bit images), which is cheaper per value.
"""
from __future__ import annotations

import math

import numba
import numpy as np

ZIGGURAT_R = 3.6541528853610088
ZIGGURAT_V = 0.00492867323399
_MASK64 = (1 << 64) - 1


def splitmix64_state(seed: int) -> np.ndarray:
    """xoshiro256++ state (uint64[4]) from a seed in [0, 2**64), via SplitMix64."""
    x = int(seed) & _MASK64
    words = []
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & _MASK64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        words.append(z ^ (z >> 31))
    return np.array(words, dtype=np.uint64)


def _ziggurat_tables():
    """(width, inner, bottom, top) per layer: a draw x = u * width[i] is accepted at once when
    x < inner[i]; otherwise the wedge test compares a height in [bottom[i], top[i]] with f(x)."""
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    edges = [ZIGGURAT_R]
    for _ in range(254):
        edges.append(math.sqrt(-2.0 * math.log(f(edges[-1]) + ZIGGURAT_V / edges[-1])))
    edges.append(0.0)
    width = np.array([ZIGGURAT_V / f(ZIGGURAT_R)] + edges[:-1])
    inner = np.array([ZIGGURAT_R] + edges[1:])
    bottom = np.array([0.0] + [f(e) for e in edges[:-1]])
    top = np.array([f(ZIGGURAT_R)] + [f(e) for e in edges[1:]])
    return width, inner, bottom, top


ZIGGURAT_WIDTH, ZIGGURAT_INNER, ZIGGURAT_BOTTOM, ZIGGURAT_TOP = _ziggurat_tables()


@numba.njit(cache=True, nogil=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@numba.njit(cache=True, nogil=True, inline="always")
def next_u64(state):
    """The next 64-bit output of xoshiro256++; advances `state`."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    result = _rotl(s0 + s3, 23) + s0
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return result


@numba.njit(cache=True, nogil=True, inline="always")
def next_double(state):
    """Uniform in [0, 1) with 53 random bits."""
    # via int64: a signed conversion is one instruction, an unsigned 64-bit one is not
    return np.float64(np.int64(next_u64(state) >> np.uint64(11))) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, nogil=True, inline="always")
def standard_normal(state):
    """N(0, 1) by the ziggurat: one 64-bit draw gives the layer (8 bits), the sign (1 bit) and
    the position (52 bits)."""
    while True:
        r = next_u64(state)
        layer = np.int64(r & np.uint64(0xFF))
        # +1 or -1 by arithmetic: a branch on a random bit would mispredict half the time
        sign = 1.0 - 2.0 * np.float64((r >> np.uint64(8)) & np.uint64(1))
        u = np.float64(np.int64(r >> np.uint64(12))) * (1.0 / 4503599627370496.0)
        x = u * ZIGGURAT_WIDTH[layer]
        if x < ZIGGURAT_INNER[layer]:
            return sign * x
        if layer == 0:  # the tail beyond R, exactly (Marsaglia 1964)
            while True:
                a = -math.log1p(-next_double(state)) / ZIGGURAT_R
                b = -math.log1p(-next_double(state))
                if b + b > a * a:
                    break
            return sign * (ZIGGURAT_R + a)
        height = ZIGGURAT_BOTTOM[layer] + next_double(state) * (
            ZIGGURAT_TOP[layer] - ZIGGURAT_BOTTOM[layer])
        if height < math.exp(-0.5 * x * x):
            return sign * x


@numba.njit(cache=True, nogil=True, inline="always")
def normal_from_32_bits(bits, state):
    """N(0, 1) from 32 random bits (8 layer, 1 sign, 23 position, as numpy's float32 ziggurat),
    so one 64-bit draw serves two values. This is one complete ziggurat attempt: the rare
    wedge or tail work draws from `state`, and a rejected attempt is replaced by a fresh
    standard_normal(state), which keeps the result exactly normal (every attempt accepts with
    density proportional to the target)."""
    layer = np.int64(bits & np.uint64(0xFF))
    sign = 1.0 - 2.0 * np.float64((bits >> np.uint64(8)) & np.uint64(1))
    u = np.float64(np.int64((bits >> np.uint64(9)) & np.uint64(0x7FFFFF))) * (1.0 / 8388608.0)
    x = u * ZIGGURAT_WIDTH[layer]
    if x < ZIGGURAT_INNER[layer]:
        return sign * x
    if layer == 0:
        while True:
            a = -math.log1p(-next_double(state)) / ZIGGURAT_R
            b = -math.log1p(-next_double(state))
            if b + b > a * a:
                return sign * (ZIGGURAT_R + a)
    height = ZIGGURAT_BOTTOM[layer] + next_double(state) * (
        ZIGGURAT_TOP[layer] - ZIGGURAT_BOTTOM[layer])
    if height < math.exp(-0.5 * x * x):
        return sign * x
    return standard_normal(state)


@numba.njit(cache=True, nogil=True, inline="always")
def paired_normal(index, spare, state):
    """(normal, spare) for the index-th value of a paired stream: even indices draw 64 bits and
    use the low half, keeping the high half as `spare` for the next (odd) index."""
    if index % 2 == 0:
        r = next_u64(state)
        return normal_from_32_bits(r & np.uint64(0xFFFFFFFF), state), r >> np.uint64(32)
    return normal_from_32_bits(spare, state), spare


@numba.njit(cache=True, nogil=True)
def fill_paired_normals(state, count):
    """`count` normals of the paired stream, in order (used by tests and references)."""
    out = np.empty(count, np.float64)
    spare = np.uint64(0)
    for i in range(count):
        out[i], spare = paired_normal(i, spare, state)
    return out


@numba.njit(cache=True, nogil=True)
def fill_standard_normal(state, count):
    """`count` normals as float64, in stream order (used by tests and references)."""
    out = np.empty(count, np.float64)
    for i in range(count):
        out[i] = standard_normal(state)
    return out


@numba.njit(cache=True, nogil=True)
def fill_uniform(state, count):
    """`count` uniforms in [0, 1) as float64, in stream order."""
    out = np.empty(count, np.float64)
    for i in range(count):
        out[i] = next_double(state)
    return out
