"""The numba random stream against a plain-Python xoshiro256++ / ziggurat, and its statistics."""
import math

import numpy as np
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

    def normal(self):
        """The same ziggurat as degrade.fastrandom, written out with Python floats."""
        while True:
            r = self.next_u64()
            layer, negative, u = r & 0xFF, (r >> 8) & 1, (r >> 12) / 2.0 ** 52
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


def test_ziggurat_layers_have_equal_area_and_close_at_the_top():
    f = lambda x: np.exp(-0.5 * x * x)  # noqa: E731
    areas = fr.ZIGGURAT_WIDTH[1:] * (fr.ZIGGURAT_TOP[1:] - fr.ZIGGURAT_BOTTOM[1:])
    np.testing.assert_allclose(areas, fr.ZIGGURAT_V, rtol=1e-6)
    assert abs(fr.ZIGGURAT_TOP[-1] - 1.0) < 1e-12 and fr.ZIGGURAT_INNER[-1] == 0.0
    np.testing.assert_allclose(fr.ZIGGURAT_WIDTH[0] * f(fr.ZIGGURAT_R), fr.ZIGGURAT_V)


def test_normals_are_standard_normal():
    draws = fr.fill_standard_normal(fr.splitmix64_state(42), 1_000_000)
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
