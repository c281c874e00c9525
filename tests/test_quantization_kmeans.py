"""k-means weight sharing (``kmeans_codebook``) against scipy's ``kmeans2`` from the same start,
and the empty-cluster re-seeding that keeps ``2^bits`` distinct centroids."""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st

from companion import quantization as Q

from test_quantization import _one_thread, _randn  # noqa: F401  (the fixture is autouse)

vq = pytest.importorskip("scipy.cluster.vq")


def _sse(values, codebook):
    """Σ (w − nearest centroid)², in float64."""
    v = np.asarray(values, np.float64).reshape(-1, 1)
    cb = np.sort(np.asarray(codebook, np.float64)).reshape(-1, 1)
    _, dist = vq.vq(v, cb)
    return float((dist ** 2).sum())


def _scipy_sse(w, bits, iters=30):
    """scipy's Lloyd from our linear initialisation (``minit='matrix'``), same iterations."""
    v = w.reshape(-1).to(torch.float64).numpy()
    init = torch.linspace(float(w.min()), float(w.max()), 2 ** bits).to(torch.float64).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about its empty clusters
        centroids, _ = vq.kmeans2(v.reshape(-1, 1), init.reshape(-1, 1), iter=iters, minit="matrix",
                                  missing="warn")
    return _sse(v, centroids[:, 0])


@pytest.fixture(scope="module")
def gaussian():
    torch.manual_seed(0)
    return torch.randn(300, 784)


def _bimodal():
    gen = torch.Generator().manual_seed(1)
    return torch.cat([torch.randn(20000, generator=gen) * 0.1 - 1, torch.randn(20000, generator=gen) * 0.1 + 1])


@pytest.mark.parametrize("bits", [2, 3, 4, 5])
def test_kmeans_gaussian_matches_scipy_and_keeps_all_centroids(gaussian, bits):
    cb, codes = Q.kmeans_codebook(gaussian, bits)
    assert cb.numel() == 2 ** bits and bool((cb[1:] > cb[:-1]).all())
    assert torch.unique(codes).numel() == 2 ** bits
    ours = _sse(gaussian.reshape(-1).numpy(), cb.numpy())
    assert ours <= _scipy_sse(gaussian, bits) * (1 + 1e-6)
    # the codes are the nearest-centroid assignment, so decoding gives exactly that error
    dec = Q.decode_codebook(cb, codes).to(torch.float64)
    assert float(((dec - gaussian.to(torch.float64)) ** 2).sum()) == pytest.approx(ours, rel=1e-12)


@pytest.mark.parametrize("bits", [2, 3, 4, 5])
def test_kmeans_bimodal_not_worse_than_scipy(bits):
    w = _bimodal()
    cb, _ = Q.kmeans_codebook(w, bits)
    assert cb.numel() == 2 ** bits  # the linear start leaves clusters empty in the gap: re-seeded
    ours, ref = _sse(w.numpy(), cb.numpy()), _scipy_sse(w, bits)
    assert ours <= ref * (1 + 1e-6)
    if bits >= 3:  # scipy keeps its empty clusters where they are; re-seeding them pays
        assert ours < 0.9 * ref


def test_kmeans_reseeds_empty_cluster():
    w = torch.tensor([-1.0, -0.9, 0.0, 0.1, 0.2, 5.0])  # linear start [-1, 1, 3, 5]: 3 gets no weight
    cb, codes = Q.kmeans_codebook(w, 2)
    assert cb.numel() == 4 and torch.unique(codes).numel() == 4
    assert _sse(w.numpy(), cb.numpy()) < _sse(w.numpy(), [-0.95, 0.1, 5.0])  # better than dropping it


def test_kmeans_fewer_distinct_values_than_levels():
    w = torch.tensor([0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    cb, codes = Q.kmeans_codebook(w, 3)
    assert cb.tolist() == [0.0, 1.0, 2.0]
    assert torch.equal(Q.decode_codebook(cb, codes), w)


@pytest.mark.parametrize("init", ["linear", "density", "random"])
def test_kmeans_repeated_values_keep_all_centroids(init):
    w = _randn(50, 40, seed=3)
    w = torch.where(w.abs() < 1.0, torch.zeros_like(w), w)  # ~68 % exact zeros: quantiles collide
    cb, codes = Q.kmeans_codebook(w, 4, init=init)
    assert cb.numel() == 16 and torch.unique(codes).numel() == 16


def test_kmeans_mask_keeps_all_centroids():
    w = _randn(30, 30, seed=4)
    mask = w.abs() > 0.8
    cb, codes = Q.kmeans_codebook(w * mask, 3, mask=mask)
    assert cb.numel() == 8 and bool((codes[~mask] == -1).all())
    assert torch.unique(codes[mask]).numel() == 8


@pytest.mark.parametrize("init", ["linear", "density", "random"])
def test_kmeans_deterministic(init):
    w = _bimodal()[::7]
    a = Q.kmeans_codebook(w, 4, init=init, seed=5)
    b = Q.kmeans_codebook(w, 4, init=init, seed=5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


_values = st.one_of(
    st.lists(st.floats(-1e3, 1e3, width=32, allow_nan=False, allow_subnormal=True), min_size=2, max_size=60),
    st.lists(st.integers(-6, 6).map(float), min_size=2, max_size=60),  # many repeated values
    st.lists(st.sampled_from([0.0, 1.0, float(np.nextafter(np.float32(1), np.float32(2))), 1e-30, -1e-30, 3.0]),
             min_size=2, max_size=60),  # adjacent floats
)


@settings(max_examples=150, deadline=None)
@given(values=_values, bits=st.integers(1, 4), iters=st.integers(1, 30),
       init=st.sampled_from(["linear", "density", "random"]), seed=st.integers(0, 50))
def test_kmeans_distinct_centroids_nearest_codes(values, bits, iters, init, seed):
    w = torch.tensor(values, dtype=torch.float32)
    assume(torch.unique(w).numel() >= 2 ** bits)
    cb, codes = Q.kmeans_codebook(w, bits, init=init, iters=iters, seed=seed)
    assert cb.dtype == torch.float32 and cb.numel() == 2 ** bits
    assert bool((cb[1:] > cb[:-1]).all())  # distinct, sorted
    assert torch.unique(codes).numel() == 2 ** bits  # each centroid is used
    d = (w.to(torch.float64).reshape(-1, 1) - cb.to(torch.float64).reshape(1, -1)).abs()
    assert torch.equal(d.gather(1, codes.reshape(-1, 1)).squeeze(1), d.min(1).values)  # nearest centroid


def test_log_quantize_is_symmetric_in_sign_and_rounds_ties_up_in_magnitude():
    """Regression: ties went to the lower value, so 0.75 -> 0.5 but -0.75 -> -1.0 at 3 bits."""
    from companion import quantization as Q
    out = Q.log_quantize(torch.tensor([0.75, -0.75, 0.375, -0.375, -0.01]), 3)
    assert out.tolist() == [1.0, -1.0, 0.5, -0.5, 0.0] and not torch.signbit(out[-1])
    x = torch.randn(2000, generator=torch.Generator().manual_seed(3))
    for bits in (2, 3, 5):
        assert torch.equal(Q.log_quantize(-x, bits), -Q.log_quantize(x, bits) + 0.0)
        levels = Q.log_levels(float(x.abs().max()), bits)
        assert torch.isin(Q.log_quantize(x, bits), levels).all()
