"""Regression tests of companion.fairness.distinguishable: Welch's t-test, not |Δmean| > 2·max(std)."""
import pytest

from companion import fairness, stats

scipy_stats = pytest.importorskip("scipy.stats")


def test_welch_test_matches_scipy_on_seed_values():
    a, b = [97.1, 97.6, 96.9], [96.0, 96.4, 96.3]
    r = fairness.welch_test(fairness.mean_std(a), fairness.mean_std(b))
    ref = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert r.statistic == pytest.approx(ref.statistic) and r.p_value == pytest.approx(ref.pvalue)
    assert r.p_value == pytest.approx(stats.welch_t_test(a, b).p_value)


def test_old_rule_false_positive_two_seeds():
    # |Δ| = 3 > 2·std = 2.83 (old rule: distinguishable) but with 2 seeds each Welch's p ≈ 0.17
    a, b = fairness.mean_std([90.0, 92.0]), fairness.mean_std([93.0, 95.0])
    assert abs(a.mean - b.mean) > 2 * max(a.std, b.std)
    assert fairness.welch_test(a, b).p_value > 0.1
    assert not fairness.distinguishable(a, b)


def test_old_rule_false_negative_many_seeds():
    # 20 seeds each, std 1, Δ = 1: old rule says no (1 < 2), Welch's p ≈ 0.003
    xs = [float(i % 2) * 2 - 1 for i in range(20)]                     # ±1, std ≈ 1.03
    a, b = fairness.mean_std([97.0 + x for x in xs]), fairness.mean_std([96.0 + x for x in xs])
    assert abs(a.mean - b.mean) < 2 * max(a.std, b.std)
    assert fairness.distinguishable(a, b)


def test_deterministic_methods_and_alpha():
    same, other = fairness.mean_std([95.0, 95.0, 95.0]), fairness.mean_std([96.0, 96.0, 96.0])
    assert fairness.distinguishable(same, other) and not fairness.distinguishable(same, same)
    a, b = fairness.mean_std([97.1, 97.6, 96.9]), fairness.mean_std([96.0, 96.4, 96.3])
    p = fairness.welch_test(a, b).p_value
    assert fairness.distinguishable(a, b, alpha=min(0.99, p * 1.01)) and not fairness.distinguishable(a, b, alpha=p * 0.99)


def test_distinguishable_bad_input():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        fairness.distinguishable(fairness.mean_std([1.0]), fairness.mean_std([1.0, 2.0]))
    with pytest.raises(TypeError, match="Stat"):
        fairness.distinguishable(1.0, fairness.mean_std([1.0, 2.0]))
    with pytest.raises(ValueError, match="alpha"):
        fairness.distinguishable(fairness.mean_std([1.0, 2.0]), fairness.mean_std([1.0, 2.0]), alpha=0.0)
