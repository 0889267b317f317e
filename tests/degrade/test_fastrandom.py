"""The numba random stream against a plain-Python xoshiro256++ / ziggurat, and its statistics."""
import math

import numpy as np
import pytest
from scipy import stats

from degrade import fastrandom as fr

MASK = (1 << 64) - 1


class PythonXoshiro:
    """xoshiro256++ on Python ints, from the published algorithm."""

    def __init__(self, state):
        self.s = [int(word) for word in state]

    def next_u64(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & MASK  # noqa: E731
        result = (rotl((s[0] + s[3]) & MASK, 23) + s[0]) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def next_double(self):
        return (self.next_u64() >> 11) / 2.0 ** 53

    def attempt(self, layer, negative, u):
        """One ziggurat attempt (None if rejected), written out with Python floats."""
        x = u * fr.ZIGGURAT_WIDTH[layer]
        sign = -1.0 if negative else 1.0
        if x < fr.ZIGGURAT_INNER[layer]:
            return sign * x
        if layer == 0:
            while True:
                a = -math.log1p(-self.next_double()) / fr.ZIGGURAT_R
                b = -math.log1p(-self.next_double())
                if b + b > a * a:
                    return sign * (fr.ZIGGURAT_R + a)
        bottom, top = fr.ZIGGURAT_BOTTOM[layer], fr.ZIGGURAT_TOP[layer]
        if bottom + self.next_double() * (top - bottom) < math.exp(-0.5 * x * x):
            return sign * x
        return None

    def normal(self):
        """64-bit attempts until one accepts: 8 bits layer, 1 sign, 52 position."""
        while True:
            r = self.next_u64()
            value = self.attempt(r & 0xFF, (r >> 8) & 1, (r >> 12) / 2.0 ** 52)
            if value is not None:
                return value

    def normal_from_32(self, bits):
        """One attempt from 32 bits (8 layer, 1 sign, 23 position); a 64-bit normal if rejected."""
        value = self.attempt(bits & 0xFF, (bits >> 8) & 1, ((bits >> 9) & 0x7FFFFF) / 2.0 ** 23)
        return self.normal() if value is None else value

    def paired_normals(self, count):
        out = []
        while len(out) < count:
            r = self.next_u64()
            out.append(self.normal_from_32(r & 0xFFFFFFFF))
            out.append(self.normal_from_32(r >> 32))
        return out[:count]


def test_splitmix_seeding_matches_the_reference_constants():
    # SplitMix64 from seed 0 starts with 0xE220A8397B1DCDAF (Vigna's reference code).
    assert int(fr.splitmix64_state(0)[0]) == 0xE220A8397B1DCDAF


def test_uniforms_and_normals_match_the_python_reference():
    for seed in (0, 1, 2**63 - 1):
        reference = PythonXoshiro(fr.splitmix64_state(seed))
        expected = [reference.next_double() for _ in range(300)]
        np.testing.assert_array_equal(fr.fill_uniform(fr.splitmix64_state(seed), 300), expected)
        reference = PythonXoshiro(fr.splitmix64_state(seed))
        expected = [reference.normal() for _ in range(3000)]  # includes wedge and tail draws
        np.testing.assert_allclose(fr.fill_standard_normal(fr.splitmix64_state(seed), 3000),
                                   expected, rtol=1e-15, atol=0)
        expected = PythonXoshiro(fr.splitmix64_state(seed)).paired_normals(3001)
        np.testing.assert_allclose(fr.fill_paired_normals(fr.splitmix64_state(seed), 3001),
                                   expected, rtol=1e-15, atol=0)


def test_ziggurat_layers_have_equal_area_and_close_at_the_top():
    f = lambda x: np.exp(-0.5 * x * x)  # noqa: E731
    areas = fr.ZIGGURAT_WIDTH[1:] * (fr.ZIGGURAT_TOP[1:] - fr.ZIGGURAT_BOTTOM[1:])
    np.testing.assert_allclose(areas, fr.ZIGGURAT_V, rtol=1e-6)
    assert abs(fr.ZIGGURAT_TOP[-1] - 1.0) < 1e-12 and fr.ZIGGURAT_INNER[-1] == 0.0
    np.testing.assert_allclose(fr.ZIGGURAT_WIDTH[0] * f(fr.ZIGGURAT_R), fr.ZIGGURAT_V)


@pytest.mark.parametrize("fill", [fr.fill_standard_normal, fr.fill_paired_normals])
def test_normals_are_standard_normal(fill):
    draws = fill(fr.splitmix64_state(42), 1_000_000)
    assert abs(np.corrcoef(draws[:-1], draws[1:])[0, 1]) < 0.005  # the two halves of a draw
    assert abs(np.corrcoef(draws[:-1] ** 2, draws[1:] ** 2)[0, 1]) < 0.005
    assert abs(draws.mean()) < 0.005 and abs(draws.var() - 1) < 0.005
    assert abs((draws ** 4).mean() - 3) < 0.03
    assert stats.kstest(draws[:200_000], "norm").pvalue > 1e-3
    tail = np.mean(np.abs(draws) > fr.ZIGGURAT_R)
    expected = 2 * stats.norm.sf(fr.ZIGGURAT_R)
    assert abs(tail - expected) < 5 * math.sqrt(expected / draws.size)
    counts, _ = np.histogram(draws, bins=np.linspace(-4, 4, 41))
    probabilities = np.diff(stats.norm.cdf(np.linspace(-4, 4, 41)))
    chi2 = ((counts - draws.size * probabilities) ** 2 / (draws.size * probabilities)).sum()
    assert chi2 < stats.chi2.ppf(0.999, 39)


def test_uniforms_are_uniform():
    draws = fr.fill_uniform(fr.splitmix64_state(7), 200_000)
    assert draws.min() >= 0 and draws.max() < 1
    assert stats.kstest(draws, "uniform").pvalue > 1e-3
