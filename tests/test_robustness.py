"""Tests of companion.robustness: FGSM against its closed form on a linear model, PGD's ball, bad input."""
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from companion import robustness as rb

PLAIN = rb.Normalization()  # std 1: pixel units = input units


def _linear(seed, d=6, c=3):
    torch.manual_seed(seed)
    return nn.Linear(d, c)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.0, 1.0), n=st.integers(1, 8))
def test_fgsm_matches_closed_form_on_linear_model(seed, eps, n):
    lin = _linear(seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    got = rb.fgsm(lin, x, y, eps, normalization=PLAIN, pixel_range=None)
    want = rb.linear_fgsm_closed_form(lin.weight.detach(), lin.bias.detach(), x, y, eps)
    torch.testing.assert_close(got, want)


def test_fgsm_docstring_value_and_linf_size():
    lin = nn.Linear(2, 2, bias=False)
    lin.weight.data = torch.eye(2)
    out = rb.fgsm(lin, torch.zeros(1, 2), torch.tensor([0]), 0.1, normalization=PLAIN, pixel_range=None)
    torch.testing.assert_close(out, torch.tensor([[-0.1, 0.1]]))


def test_fgsm_increases_linear_loss_by_eps_times_l1_norm_of_gradient():
    # first-order exact for a linear model's logit margin: z_y - z_k changes by -eps*||w_y - w_k||_1 (2 classes)
    lin = _linear(0, d=5, c=2)
    x = torch.randn(4, 5)
    y = torch.zeros(4, dtype=torch.long)
    eps = 0.05
    x_adv = rb.fgsm(lin, x, y, eps, normalization=PLAIN, pixel_range=None)
    w = lin.weight.detach()
    margin = lambda v: (v @ w.T)[:, 0] - (v @ w.T)[:, 1]
    torch.testing.assert_close(margin(x) - margin(x_adv), torch.full((4,), eps * float((w[0] - w[1]).abs().sum())))


def test_pixel_units_scale_by_std_and_clip_to_range():
    lin = _linear(1, d=4, c=2)
    norm = rb.Normalization(0.5, 0.25)
    x = torch.zeros(3, 4)  # pixel 0.5
    y = torch.tensor([0, 1, 0])
    out = rb.fgsm(lin, x, y, 0.1, normalization=norm, pixel_range=(0.0, 1.0))
    assert torch.allclose(out.abs(), torch.full_like(out, 0.4))  # 0.1 pixel / 0.25 std
    big = rb.fgsm(lin, x, y, 5.0, normalization=norm, pixel_range=(0.0, 1.0))
    assert big.min() >= -2.0 - 1e-6 and big.max() <= 2.0 + 1e-6  # (0 - .5)/.25, (1 - .5)/.25


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), eps=st.floats(0.0, 0.5), steps=st.integers(1, 5))
def test_pgd_stays_in_ball_and_range(seed, eps, steps):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    norm = rb.Normalization(0.2, 0.5)
    x = (torch.rand(5, 8) - 0.2) / 0.5
    y = torch.randint(0, 3, (5,))
    out = rb.pgd(model, x, y, eps, steps=steps, seed=seed, normalization=norm)
    assert (out - x).abs().max() <= eps / 0.5 + 1e-5
    assert out.min() >= (0 - 0.2) / 0.5 - 1e-5 and out.max() <= (1 - 0.2) / 0.5 + 1e-5


def test_pgd_is_reproducible_and_at_least_as_strong_as_fgsm_on_linear():
    lin = _linear(3, d=10, c=4)
    x = torch.randn(64, 10)
    y = torch.randint(0, 4, (64,))
    a = rb.pgd(lin, x, y, 0.3, steps=5, seed=7, normalization=PLAIN, pixel_range=None)
    b = rb.pgd(lin, x, y, 0.3, steps=5, seed=7, normalization=PLAIN, pixel_range=None)
    assert torch.equal(a, b)
    with torch.no_grad():
        loss = lambda v: nn.functional.cross_entropy(lin(v), y)
        f = rb.fgsm(lin, x, y, 0.3, normalization=PLAIN, pixel_range=None)
        p = rb.pgd(lin, x, y, 0.3, steps=20, alpha=0.05, random_start=False, normalization=PLAIN, pixel_range=None)
        assert loss(p) >= loss(f) - 1e-4 and loss(f) > loss(x)


def test_eps_zero_is_identity_and_model_mode_restored():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2)).train()
    x = torch.rand(3, 4)
    y = torch.tensor([0, 1, 1])
    assert torch.equal(rb.fgsm(model, x, y, 0.0, normalization=PLAIN), x)
    assert torch.equal(rb.pgd(model, x, y, 0.0, normalization=PLAIN), x)
    assert model.training


def test_attack_accuracy_on_embedded_mnist_small():
    from companion import train
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    train.fit(model, epochs=1, progress=False)
    clean = rb.attack_accuracy(model, 0.0, n=200)
    adv = rb.robustness_curve(model, [0.05, 0.2], n=200)
    pgd = rb.attack_accuracy(model, 0.2, attack="pgd", n=200, steps=3)
    assert clean > 70 and clean >= adv[0] >= adv[1] and pgd <= adv[1] + 1.0


@pytest.mark.parametrize("eps", [-0.1, float("nan")])
def test_negative_or_nan_eps_is_rejected(eps):
    lin = _linear(0)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        rb.fgsm(lin, torch.zeros(1, 6), torch.tensor([0]), eps)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        rb.pgd(lin, torch.zeros(1, 6), torch.tensor([0]), eps)


def test_bad_inputs_are_rejected():
    lin = _linear(0)
    x, y = torch.zeros(2, 6), torch.tensor([0, 1])
    with pytest.raises(TypeError, match="eps must be a number"):
        rb.fgsm(lin, x, y, "0.1")
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        rb.fgsm(lambda v: v, x, y, 0.1)
    with pytest.raises(ValueError, match="y must be int64"):
        rb.fgsm(lin, x, y.float(), 0.1)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        rb.pgd(lin, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="pixel_range"):
        rb.fgsm(lin, x, y, 0.1, pixel_range=(1.0, 0.0))
    with pytest.raises(ValueError, match="attack must be"):
        rb.attack_accuracy(lin, 0.1, attack="cw")
    with pytest.raises(ValueError, match="std must be > 0"):
        rb.Normalization(0.0, 0.0)


def test_robustness_table_rows():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    rows = rb.robustness_table({"lin": model}, [0.0, 0.1], n=50, pgd_steps=2)
    assert [(r["attack"], r["eps"]) for r in rows] == [("fgsm", 0.0), ("fgsm", 0.1), ("pgd", 0.0), ("pgd", 0.1)]
    assert rows[0]["accuracy"] == rows[2]["accuracy"]  # eps = 0: both attacks are the identity
    with pytest.raises(ValueError, match="non-empty dict"):
        rb.robustness_table({}, [0.1])


def test_margin_loss_values_and_unmasked_gradient_where_cross_entropy_saturates():
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0]])
    y = torch.tensor([0, 2])
    assert float(rb.margin_loss(logits, y)) == pytest.approx((2.0 - 3.0) + (5.0 - 1.0))
    lin = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1000.0, 0, 0, 0], [-1000.0, 0, 0, 0]]))  # saturated softmax
    x, y = torch.ones(1, 4), torch.tensor([0])
    assert torch.equal(rb.fgsm(lin, x, y, 0.1, normalization=PLAIN, pixel_range=None), x)  # CE gradient is 0
    moved = rb.fgsm(lin, x, y, 0.1, normalization=PLAIN, pixel_range=None, loss="margin")
    assert float(moved[0, 0]) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="loss must be one of"):
        rb.fgsm(lin, x, y, 0.1, loss="hinge")


def test_within_interval_uses_the_wilson_interval_of_the_reference():
    # Wilson 95 % interval of 97.0 % on 1,000 images: [95.75, 97.89]
    assert rb.within_interval(96.0, 97.0, 1000) and rb.within_interval(97.8, 97.0, 1000)
    assert not rb.within_interval(95.6, 97.0, 1000) and not rb.within_interval(98.0, 97.0, 1000)
    with pytest.raises(ValueError, match="accuracy"):
        rb.within_interval(101.0, 97.0, 1000)
    with pytest.raises(ValueError, match="whole number"):
        rb.within_interval(96.0, 97.05, 1000)


def test_match_clean_accuracy_picks_the_most_compressed_model_inside_the_interval():
    cands = {"50 %": 97.6, "70 %": 97.1, "80 %": 96.6, "90 %": 92.6}
    assert rb.match_clean_accuracy(cands, 97.2, 1000) == "80 %"
    with pytest.raises(ValueError, match="interval"):
        rb.match_clean_accuracy({"90 %": 92.6}, 97.2, 1000)
    with pytest.raises(ValueError, match="non-empty"):
        rb.match_clean_accuracy({}, 97.2, 1000)
