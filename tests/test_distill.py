"""Knowledge distillation (companion.distill): the loss against a hand computation and torch's
KLDivLoss, the fit-based trainer against a hand-written loop on the same loss, bad input."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings, strategies as st
from torch import nn

from companion import distill, models, train


def test_loss_matches_a_hand_computation():
    s = torch.tensor([[1.0, 0.0]])
    t = torch.tensor([[0.0, 2.0]])
    y = torch.tensor([0])
    T, alpha = 2.0, 0.75
    # by hand: p = softmax(t/T) = softmax([0, 1]), q = softmax(s/T) = softmax([0.5, 0])
    p = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    q = np.exp([0.5, 0.0]) / np.exp([0.5, 0.0]).sum()
    kl = float((p * np.log(p / q)).sum())
    ce = -math.log(math.exp(1.0) / (math.exp(1.0) + 1.0))
    expected = alpha * T * T * kl + (1 - alpha) * ce
    got = float(distill.distillation_loss(s, t, y, T=T, alpha=alpha))
    assert got == pytest.approx(expected, rel=1e-6)
    # p = (0.269, 0.731), q = (0.622, 0.378): KL = 0.269 ln(0.269/0.622) + 0.731 ln(0.731/0.378) = 0.2574;
    # CE = ln(1 + e^-1) = 0.3133; L = 0.75 * 4 * 0.2574 + 0.25 * 0.3133 = 0.8505
    assert got == pytest.approx(0.8505, abs=1e-3)


@settings(max_examples=30, deadline=None)
@example(n=1, c=2, T=4.0, alpha=1.0, seed=2)  # found by ./run.sh fuzz: torch's float32 oracle was off by 1.7e-5
@given(n=st.integers(1, 6), c=st.integers(2, 7), T=st.floats(0.5, 20.0), alpha=st.floats(0.0, 1.0),
       seed=st.integers(0, 10_000))
def test_loss_matches_torch_kldivloss(n, c, T, alpha, seed):
    g = torch.Generator().manual_seed(seed)
    s, t = 3 * torch.randn(n, c, generator=g), 3 * torch.randn(n, c, generator=g)
    y = torch.randint(0, c, (n,), generator=g)

    def oracle(s, t):
        kl = nn.KLDivLoss(reduction="batchmean")(torch.log_softmax(s / T, 1), torch.softmax(t / T, 1))
        return alpha * T * T * kl + (1 - alpha) * nn.functional.cross_entropy(s, y)
    # the oracle in float64: in float32, KL of two close distributions loses digits to cancellation
    # (about 1e-7 of each term), and T² multiplies that error
    want = float(oracle(s.double(), t.double()))
    got = distill.distillation_loss(s, t, y, T=T, alpha=alpha)
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(want, rel=1e-5, abs=2e-7 * max(1.0, T * T))
    # in float64 it is the same formula to round-off
    assert float(distill.distillation_loss(s.double(), t.double(), y, T=T, alpha=alpha)) == pytest.approx(
        want, rel=1e-10, abs=1e-12)
    # KL >= 0: the loss is never below its cross-entropy part; alpha = 0 is plain cross-entropy
    assert float(got) >= (1 - alpha) * float(nn.functional.cross_entropy(s, y)) - 1e-5
    assert float(distill.distillation_loss(s, t, y, T=T, alpha=0.0)) == pytest.approx(
        float(nn.functional.cross_entropy(s, y)), rel=1e-6)


def test_soft_term_is_zero_for_equal_logits_and_sends_no_gradient_to_the_teacher():
    s = torch.randn(4, 10, requires_grad=True)
    t = s.detach().clone().requires_grad_(True)
    assert float(distill.soft_term(s, t, 3.0).detach()) == pytest.approx(0.0, abs=1e-6)
    distill.distillation_loss(s, t, torch.zeros(4, dtype=torch.int64), T=3.0, alpha=0.5).backward()
    assert t.grad is None and s.grad is not None


def test_T_squared_keeps_the_soft_gradient_scale():
    # Hinton et al.: for large T the gradient of KL(p_T || q_T) scales as 1/T^2; times T^2 it stays O(1)
    g = torch.Generator().manual_seed(0)
    s0, t = 0.1 * torch.randn(8, 10, generator=g), 0.1 * torch.randn(8, 10, generator=g)
    norms = []
    for T in (10.0, 20.0, 40.0):
        s = s0.clone().requires_grad_(True)
        distill.soft_term(s, t, T).backward()
        norms.append(float(s.grad.norm()))
    assert max(norms) / min(norms) < 1.1


@pytest.mark.parametrize("kw, exc, words", [
    ({"T": 0.0}, ValueError, "T (temperature)"),
    ({"T": float("nan")}, ValueError, "T (temperature)"),
    ({"alpha": 1.5}, ValueError, "alpha"),
    ({"alpha": "0.5"}, TypeError, "alpha"),
])
def test_loss_rejects_bad_parameters(kw, exc, words):
    s = torch.randn(2, 3)
    with pytest.raises(exc, match=words.replace("(", r"\(").replace(")", r"\)")):
        distill.distillation_loss(s, s, torch.tensor([0, 1]), **kw)


def test_loss_rejects_bad_tensors():
    s = torch.randn(2, 3)
    with pytest.raises(ValueError, match="same shape"):
        distill.distillation_loss(s, torch.randn(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="targets"):
        distill.distillation_loss(s, s, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="targets"):
        distill.distillation_loss(s, s, torch.tensor([0]))
    with pytest.raises(TypeError, match="student_logits"):
        distill.distillation_loss([[1.0]], s, torch.tensor([0]))
    with pytest.raises(ValueError, match="student_logits"):
        distill.distillation_loss(torch.randn(6), torch.randn(6), torch.tensor([0]))


def _tiny_data(n=48):
    g = torch.Generator().manual_seed(3)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_distill_follows_the_loss_like_a_hand_written_loop():
    """The fit-based trainer (CE + α/(1−α)·soft term, weight decay / (1−α)) takes the same Adam
    steps as a plain loop on Hinton's loss with the given weight decay (oracle), up to Adam's ε."""
    x, y = _tiny_data()
    teacher = models.build("lenet300", seed=1)
    student0 = distill.build_student("lenet5-tiny", seed=0)
    T, alpha, lr, wd, bs = 3.0, 0.7, 1e-3, 1e-3, 16
    a = copy.deepcopy(student0)
    distill.distill(teacher, a, epochs=2, T=T, alpha=alpha, seed=5, lr=lr, batch_size=bs, weight_decay=wd,
                    train_data=(x, y), progress=False)
    # the oracle: the same data order as train.fit (a generator seeded with the seed)
    b = copy.deepcopy(student0)
    opt = torch.optim.Adam(b.parameters(), lr=lr, weight_decay=wd)
    gen = torch.Generator().manual_seed(5)
    torch.manual_seed(5)
    for _ in range(2):
        b.train()
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), bs):
            idx = order[i:i + bs]
            with torch.no_grad():
                t = teacher(x[idx])
            loss = distill.distillation_loss(b(x[idx]), t, y[idx], T=T, alpha=alpha)
            opt.zero_grad()
            loss.backward()
            opt.step()
    # Adam's ε (1e-8) is the only difference: it matters for the few weights whose gradient is ~1e-8
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        diff = (pa - pb).detach().abs()
        assert float(diff.max()) < lr, n  # never a whole step apart
        assert float((diff > 2e-5).float().mean()) < 0.02, n
    # and the students really moved away from their initialisation (the test can fail)
    assert not torch.allclose(a.fc1.weight, student0.fc1.weight, atol=1e-4)
    assert not any(p.requires_grad is False for p in a.parameters())
    from companion import reparam
    assert reparam.hooks(a) == []  # the hooks are gone after training


def test_distill_alpha_zero_is_plain_fit_and_is_reproducible():
    x, y = _tiny_data(32)
    teacher = models.build("lenet300", seed=1)
    a, b = distill.build_student(seed=0), distill.build_student(seed=0)
    distill.distill(teacher, a, epochs=1, alpha=0.0, seed=2, batch_size=16, train_data=(x, y), progress=False)
    train.fit(b, epochs=1, seed=2, batch_size=16, train_data=(x, y), progress=False)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c, d = distill.build_student(seed=0), distill.build_student(seed=0)
    for m in (c, d):
        distill.distill(teacher, m, epochs=1, seed=2, batch_size=16, train_data=(x, y), progress=False)
    assert all(torch.equal(p, q) for p, q in zip(c.parameters(), d.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_distill_rejects_bad_input():
    m = distill.build_student()
    with pytest.raises(TypeError, match="model"):
        distill.distill("lenet5", m, epochs=1)
    with pytest.raises(ValueError, match="different modules"):
        distill.distill(m, m, epochs=1)
    with pytest.raises(ValueError, match="alpha"):
        distill.distill(models.build("lenet300"), m, epochs=1, alpha=1.0)  # fit's CE weight is fixed: alpha < 1
    with pytest.raises(ValueError, match="epochs"):
        distill.distill(models.build("lenet300"), m, epochs=-1)
    with pytest.raises(ValueError, match="unknown student"):
        distill.build_student("resnet")


def test_build_student_is_a_small_seeded_lenet5():
    a, b = distill.build_student(seed=4), distill.build_student(seed=4)
    assert isinstance(a, models.LeNet5) and a.conv1.out_channels == 4 and a.fc1.out_features == 32
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    n_student = sum(p.numel() for p in a.parameters())
    n_teacher = sum(p.numel() for p in models.build("lenet5").parameters())
    assert n_teacher / n_student > 50
    assert a(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.slow
def test_student_recipe_is_cached_and_keyed_by_distilled(tmp_cache, monkeypatch):
    teacher = models.build("lenet300", seed=1)
    calls = []
    monkeypatch.setattr(train, "baseline", lambda name, seed=0, progress=True: calls.append(seed) or copy.deepcopy(teacher))
    a = distill.student(teacher="lenet300", distilled=True, epochs=1, progress=False)
    b = distill.student(teacher="lenet300", distilled=True, epochs=1, progress=False)
    c = distill.student(teacher="lenet300", distilled=False, epochs=1, progress=False)
    assert calls == [0]  # trained once, then loaded
    assert train.key_of(a) == train.key_of(b) != train.key_of(c)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
