"""Tests of companion.stats: oracles from scipy.stats, closed forms, and properties of the intervals."""
import math

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from companion import stats

scipy_stats = pytest.importorskip("scipy.stats")


# --- Student's t ------------------------------------------------------------------------------

@pytest.mark.parametrize("df", [1, 2, 3.5, 10, 57.3, 500])
@pytest.mark.parametrize("t", [-6.0, -2.0, -0.3, 0.0, 0.7, 2.5, 12.0])
def test_t_cdf_matches_scipy(t, df):
    assert stats.t_cdf(t, df) == pytest.approx(scipy_stats.t.cdf(t, df), abs=1e-10)


@pytest.mark.parametrize("df", [1, 2, 4, 9.7, 100])
@pytest.mark.parametrize("q", [0.001, 0.025, 0.3, 0.5, 0.9, 0.975, 0.9995])
def test_t_ppf_matches_scipy(q, df):
    assert stats.t_ppf(q, df) == pytest.approx(scipy_stats.t.ppf(q, df), rel=1e-8, abs=1e-9)


def test_t_closed_forms():
    # df = 1 is the Cauchy distribution: F(t) = 1/2 + atan(t)/π; df = 2: F(t) = 1/2 + t / (2√(2 + t²))
    for t in (-3.0, 0.5, 4.0):
        assert stats.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert stats.t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    assert stats.t_ppf(0.975, 2) == pytest.approx(4.302652729911275, rel=1e-9)


# --- Wilson -----------------------------------------------------------------------------------

@pytest.mark.parametrize("k,n", [(0, 10), (1, 10), (5, 10), (10, 10), (970, 1000), (981, 1000), (1000, 1000), (3, 500)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(k, n, confidence):
    ref = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    w = stats.wilson_interval(k, n, confidence)
    assert w.low == pytest.approx(ref.low, abs=1e-12)
    assert w.high == pytest.approx(ref.high, abs=1e-12)
    assert w.estimate == k / n


def test_wilson_closed_form_half():
    # p̂ = 1/2, n = 4, z = 1.96: centre 1/2, half = z/(1+z²/4)·√(1/16 + z²/64)
    z = 1.959963984540054
    half = z / (1 + z * z / 4) * math.sqrt(1 / 16 + z * z / 64)
    w = stats.wilson_interval(2, 4)
    assert (w.low, w.high) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-12)


def test_accuracy_interval_percent_and_width_at_97():
    a = stats.accuracy_interval(97.0, 1000)
    assert a.estimate == 97.0 and a.low == pytest.approx(95.74965858524128) and a.high == pytest.approx(97.89062611711653)
    assert 0.9 < a.half_width < 1.2          # "±~1 pp at 97 % on 1,000 images"
    assert str(a) == "97.0 [95.7, 97.9]"


def test_accuracy_interval_rejects_impossible_accuracy():
    with pytest.raises(ValueError, match="whole number of correct images"):
        stats.accuracy_interval(97.05, 1000)      # 970.5 images
    with pytest.raises(ValueError, match="accuracy_pct"):
        stats.accuracy_interval(101.0, 1000)


@pytest.mark.parametrize("bad,exc", [(dict(correct=5, n=0), ValueError), (dict(correct=11, n=10), ValueError),
                                     (dict(correct=-1, n=10), ValueError), (dict(correct=2.0, n=10), TypeError),
                                     (dict(correct=2, n=10, confidence=1.0), ValueError),
                                     (dict(correct=2, n=10, confidence=0.0), ValueError)])
def test_wilson_bad_input(bad, exc):
    with pytest.raises(exc):
        stats.wilson_interval(**bad)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 20_000), frac=st.floats(0, 1), conf=st.floats(0.5, 0.999))
def test_wilson_properties(n, frac, conf):
    k = round(frac * n)
    w = stats.wilson_interval(k, n, conf)
    assert 0.0 <= w.low <= w.estimate <= w.high <= 1.0     # bounds in [0, 1], contains p̂
    wider = stats.wilson_interval(k, n, min(0.9999, conf + 0.0005))
    assert wider.low <= w.low + 1e-12 and wider.high >= w.high - 1e-12   # more confidence, wider


@settings(max_examples=100, deadline=None)
@given(n=st.integers(10, 5000), frac=st.floats(0.05, 0.95))
def test_wilson_shrinks_with_n(n, frac):
    k = round(frac * n)
    # the same proportion on 4x the images: the interval is narrower
    assert stats.wilson_interval(4 * k, 4 * n).half_width < stats.wilson_interval(k, n).half_width


# --- Welch ------------------------------------------------------------------------------------

@pytest.mark.parametrize("a,b", [([97.0, 97.2, 97.4], [96.1, 96.5, 96.2]),
                                 ([1.0, 2.0], [1.5, 2.5, 3.5, 10.0]),
                                 ([90.0, 91.0, 92.0], [95.0, 95.0, 95.0]),
                                 ([5.0, 5.1, 4.9, 5.05, 5.2], [5.0, 5.3])])
def test_welch_matches_scipy(a, b):
    ref = scipy_stats.ttest_ind(a, b, equal_var=False)
    r = stats.welch_t_test(a, b)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-12)
    assert r.df == pytest.approx(ref.df, rel=1e-10)


def test_welch_zero_variance_and_bad_input():
    assert stats.welch_t_test([1.0, 1.0], [1.0, 1.0]).p_value == 1.0
    r = stats.welch_t_test([1.0, 1.0], [2.0, 2.0])
    assert r.p_value == 0.0 and r.statistic == -math.inf and r.significant()
    with pytest.raises(ValueError, match="at least 2"):
        stats.welch_t_test([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        stats.welch_t_test([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(TypeError):
        stats.welch_t_test("12", [1.0, 2.0])


def test_welch_tiny_variances_do_not_underflow():
    # Found by hypothesis in CI: squaring a subnormal variance gave 0 and a ZeroDivisionError.
    r = stats.welch_t_test([0.0, 0.0], [0.0, 6.878736150308971e-161])
    assert 0.0 <= r.p_value <= 1.0 and r.df == pytest.approx(1.0)
    s = stats.welch_t_test([1e-150, 3e-150], [2e-150, 5e-150, 1e-150])
    big = stats.welch_t_test([1.0, 3.0], [2.0, 5.0, 1.0])   # the same data scaled by 1e150
    assert s.statistic == pytest.approx(big.statistic) and s.df == pytest.approx(big.df)
    assert s.p_value == pytest.approx(big.p_value)


@settings(max_examples=60, deadline=None)
@example([0.0, 0.0], [0.0, 6.878736150308971e-161])
@given(st.lists(st.floats(-100, 100), min_size=2, max_size=8), st.lists(st.floats(-100, 100), min_size=2, max_size=8))
def test_welch_symmetric_and_valid(a, b):
    r, s = stats.welch_t_test(a, b), stats.welch_t_test(b, a)
    assert 0.0 <= r.p_value <= 1.0
    assert r.p_value == pytest.approx(s.p_value, abs=1e-12)


# --- McNemar and the paired bootstrap ---------------------------------------------------------

def _pairs(both, only_a, only_b, neither):
    a = np.array([True] * both + [True] * only_a + [False] * only_b + [False] * neither)
    b = np.array([True] * both + [False] * only_a + [True] * only_b + [False] * neither)
    return a, b


@pytest.mark.parametrize("only_a,only_b", [(0, 0), (1, 0), (5, 1), (10, 10), (3, 17), (40, 25), (200, 150)])
def test_mcnemar_matches_binomtest(only_a, only_b):
    a, b = _pairs(900, only_a, only_b, 30)
    r = stats.mcnemar_exact(a, b)
    assert (r.only_a, r.only_b) == (only_a, only_b)
    ref = 1.0 if only_a + only_b == 0 else scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert r.p_value == pytest.approx(ref, rel=1e-9, abs=1e-15)


def test_mcnemar_closed_form():
    # 6 discordant images all favouring A: p = 2 · (1/2)^6 = 1/32
    a, b = _pairs(50, 6, 0, 4)
    assert stats.mcnemar_exact(a, b).p_value == pytest.approx(1 / 32)
    assert stats.mcnemar_exact(b, a).p_value == pytest.approx(1 / 32)   # symmetric


def test_mcnemar_ignores_agreement_and_accepts_tensors():
    import torch
    a, b = _pairs(10, 4, 2, 5)
    a2, b2 = _pairs(900, 4, 2, 80)
    assert stats.mcnemar_exact(a, b).p_value == stats.mcnemar_exact(a2, b2).p_value
    assert stats.mcnemar_exact(torch.from_numpy(a), torch.from_numpy(b).int()).p_value == stats.mcnemar_exact(a, b).p_value


def test_paired_inputs_bad():
    with pytest.raises(ValueError, match="same images"):
        stats.mcnemar_exact(np.ones(5, bool), np.ones(6, bool))
    with pytest.raises(ValueError, match="booleans"):
        stats.mcnemar_exact(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="1-D"):
        stats.paired_bootstrap(np.ones((2, 2), bool), np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="n_resamples"):
        stats.paired_bootstrap(np.ones(5, bool), np.ones(5, bool), n_resamples=10)


def test_paired_bootstrap():
    a, b = _pairs(900, 30, 10, 60)
    r = stats.paired_bootstrap(a, b, n_resamples=2000, seed=1)
    assert r.estimate == pytest.approx(2.0)                  # (30 − 10) / 1000 images = 2 points
    assert r.low < 2.0 < r.high and r.low > 0.0               # 30 vs 10 discordant: clearly positive
    assert r == stats.paired_bootstrap(a, b, n_resamples=2000, seed=1)  # deterministic
    same = stats.paired_bootstrap(a, a, n_resamples=500)
    assert (same.low, same.estimate, same.high) == (0.0, 0.0, 0.0)
    # the paired interval is narrower than the difference of two unpaired intervals
    assert r.half_width < stats.wilson_interval(930, 1000).half_width * 100 * 2


# --- seeds ------------------------------------------------------------------------------------

def test_seed_summary_matches_scipy_t_interval():
    xs = [97.1, 97.6, 96.9]
    s = stats.seed_summary(xs)
    lo, hi = scipy_stats.t.interval(0.95, len(xs) - 1, loc=np.mean(xs), scale=scipy_stats.sem(xs))
    assert (s.low, s.high) == pytest.approx((lo, hi), rel=1e-10)
    assert s.std == pytest.approx(np.std(xs, ddof=1)) and s.n == 3 and s.values == tuple(xs)
    assert "n=3" in str(s)


def test_seed_summary_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        stats.seed_summary([97.0])
    with pytest.raises(TypeError):
        stats.seed_summary([97.0, True])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=2, max_size=10))
def test_seed_summary_contains_mean(xs):
    s = stats.seed_summary(xs)
    assert s.low <= s.mean <= s.high
    assert min(xs) - 1e-9 <= s.mean <= max(xs) + 1e-9


@pytest.mark.slow
def test_per_image_correct_agrees_with_evaluate(tmp_cache):
    from companion import models, train
    model = models.build("lenet300", seed=0)
    c = stats.per_image_correct(model, "test")
    assert c.dtype == bool and c.shape == (1000,)
    assert 100 * c.mean() == pytest.approx(train.evaluate(model, "test"))
