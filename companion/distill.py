"""Knowledge distillation: a small *student* network trained to imitate a large *teacher*.

Beside the survey's four families (compact models, decomposition, quantization, sparsification)
stands a method that changes how a small network is *trained*, not how a big one is stored:
Hinton, Vinyals and Dean (2015), "Distilling the Knowledge in a Neural Network". The student
learns from the teacher's softened output distribution as well as from the labels:

    L = α · T² · KL( softmax(t / T) ‖ softmax(s / T) ) + (1 − α) · CE(s, y)

with ``s`` the student's logits [N, C], ``t`` the teacher's [N, C], ``y`` the labels [N] and a
temperature ``T ≥ 1`` that softens both distributions so that the small probabilities the teacher
gives to wrong classes ("a 7 looks a bit like a 1") carry a gradient. The factor ``T²`` keeps the
soft term's gradient at the same scale when ``T`` changes (its gradient scales as ``1/T²``).
The KL divergence is averaged over the batch (``KLDivLoss(reduction="batchmean")``).

* :func:`distillation_loss` — the pure loss (tested against a hand computation and ``nn.KLDivLoss``);
* :func:`distill` — trains a student in place with :func:`companion.train.fit` (the same
  deterministic loop as every other training in the book);
* :func:`build_student`, :func:`student` and :func:`compare_students` — the chapter 6 recipe:
  the same small student trained with and without a teacher, at the same budget, over seeds (cached).
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from . import models, train
from .checks import check_float, check_int, check_model, check_tensor
from .reparam import attach_input_hook, attach_output_hook

__all__ = ["distillation_loss", "soft_term", "distill", "STUDENTS", "build_student", "student",
           "compare_students", "DEFAULT_T", "DEFAULT_ALPHA"]

#: The chapter's temperature and soft-target weight (Hinton et al. use T in 2..20; α close to 1
#: when the soft term carries the knowledge).
DEFAULT_T = 4.0
DEFAULT_ALPHA = 0.9


def _check_T_alpha(T, alpha, *, alpha_open_high: bool = False) -> tuple[float, float]:
    T = check_float(T, "T (temperature)", minimum=0.0, open_low=True)
    alpha = check_float(alpha, "alpha (weight of the soft term)", minimum=0.0, maximum=1.0, open_high=alpha_open_high)
    return T, alpha


def _check_logits(student_logits, teacher_logits) -> None:
    check_tensor(student_logits, "student_logits", ndim=2, floating=True)
    check_tensor(teacher_logits, "teacher_logits", ndim=2, floating=True)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student_logits and teacher_logits must have the same shape [N, C], got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")


def soft_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float) -> torch.Tensor:
    """``T² · KL(softmax(t/T) ‖ softmax(s/T))``, averaged over the batch (a scalar).

    ``student_logits``, ``teacher_logits``: [N, C]. The teacher is a target: no gradient flows into it.
    """
    _check_logits(student_logits, teacher_logits)
    T, _ = _check_T_alpha(T, 0.0)
    log_q = torch.log_softmax(student_logits / T, dim=1)
    log_p = torch.log_softmax(teacher_logits.detach() / T, dim=1)
    kl = (log_p.exp() * (log_p - log_q)).sum(1).mean()
    return T * T * kl


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
                      T: float = DEFAULT_T, alpha: float = DEFAULT_ALPHA) -> torch.Tensor:
    """Hinton et al. (2015): ``α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α)·CE(s, y)`` (a scalar).

    ``student_logits`` s and ``teacher_logits`` t: [N, C] floats; ``targets`` y: [N] int64 labels;
    ``T > 0`` the temperature; ``alpha`` in [0, 1] the weight of the soft term (0: plain
    cross-entropy; 1: the teacher alone). Both terms are means over the batch.

    >>> s, t = torch.tensor([[2.0, 0.0]]), torch.tensor([[2.0, 0.0]])
    >>> float(distillation_loss(s, t, torch.tensor([0]), T=2.0, alpha=1.0))  # same logits: KL = 0
    0.0
    """
    _check_logits(student_logits, teacher_logits)
    T, alpha = _check_T_alpha(T, alpha)
    check_tensor(targets, "targets", ndim=1)
    if targets.dtype != torch.int64 or len(targets) != len(student_logits):
        raise ValueError(f"targets must be int64 class labels of shape [{len(student_logits)}], got "
                         f"{targets.dtype} {tuple(targets.shape)}")
    ce = nn.functional.cross_entropy(student_logits, targets)
    return alpha * soft_term(student_logits, teacher_logits, T) + (1.0 - alpha) * ce


def distill(teacher: nn.Module, student: nn.Module, epochs: int = 15, T: float = DEFAULT_T,
            alpha: float = DEFAULT_ALPHA, seed: int = 0, *, lr: float = 1e-3, batch_size: int = 64,
            weight_decay: float = 0.0, shift_px: int = 0, train_data: str | tuple = "train",
            progress: bool = True) -> list[dict[str, float]]:
    """Train ``student`` in place on :func:`distillation_loss` against a frozen ``teacher``.

    Built on :func:`companion.train.fit`, whose loss is ``CE(s, y) + regularizer``: two named hooks
    on the student catch each batch's input and logits, and the regularizer adds
    ``α/(1−α) · T²·KL`` (the teacher is run on the same batch, without gradients). That objective
    is Hinton's loss divided by ``(1 − α)``; Adam's steps do not depend on a constant scale of the
    gradient (up to its ε), and the weight decay is passed as ``weight_decay/(1 − α)``, so the
    training follows :func:`distillation_loss` with ``weight_decay``. Hence ``alpha < 1`` here;
    ``alpha = 0`` is plain training with :func:`~companion.train.fit`. Same ``seed`` → same student.
    ``train_data``: a split name or an ``(x, y)`` pair, as for ``fit``.
    Returns ``fit``'s history (its ``loss`` column is the scaled objective).
    """
    check_model(teacher)
    check_model(student)
    if teacher is student:
        raise ValueError("teacher and student must be different modules")
    epochs = check_int(epochs, "epochs", minimum=0)
    T, alpha = _check_T_alpha(T, alpha, alpha_open_high=True)
    seed = check_int(seed, "seed", minimum=0)
    weight_decay = check_float(weight_decay, "weight_decay", minimum=0.0)
    scale = 1.0 / (1.0 - alpha)
    if alpha == 0.0:
        return train.fit(student, epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, seed=seed,
                         shift_px=shift_px, train_data=train_data, progress=progress,
                         desc="training the student alone")
    teacher = copy.deepcopy(teacher).to(train.device()).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    seen: dict[str, torch.Tensor] = {}

    def keep(key):
        def fn(t):
            seen[key] = t
            return t
        return fn

    def regularizer(model: nn.Module) -> torch.Tensor:
        if not model.training:  # only the training forward passes are distilled
            return torch.zeros((), device=seen["logits"].device)
        with torch.no_grad():
            t = teacher(seen["input"])
        return alpha * scale * soft_term(seen["logits"], t, T)

    handles = [attach_input_hook(student, "distill.input", keep("input")),
               attach_output_hook(student, "distill.logits", keep("logits"))]
    try:
        return train.fit(student, epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay * scale,
                         seed=seed, shift_px=shift_px, train_data=train_data, regularizer=regularizer,
                         progress=progress,
                         desc=f"distilling (T={T:g}, alpha={alpha:g})")
    finally:
        for h in handles:
            h.remove()
        seen.clear()


# --- the chapter's experiment: one small student, with and without a teacher ---------------------

#: Students: a model class of :mod:`companion.models` and its constructor arguments.
STUDENTS: dict[str, tuple[type, dict]] = {
    "lenet5-tiny": (models.LeNet5, {"channels": (4, 8), "hidden": 32}),
}


def build_student(name: str = "lenet5-tiny", seed: int = 0) -> nn.Module:
    """A freshly initialised student (``STUDENTS[name]``), seeded like :func:`companion.models.build`."""
    if name not in STUDENTS:
        raise ValueError(f"unknown student {name!r}; allowed: {sorted(STUDENTS)}")
    seed = check_int(seed, "seed", minimum=0)
    cls, kwargs = STUDENTS[name]
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(models.run_seed(seed))
        return cls(**kwargs)
    finally:
        torch.random.set_rng_state(state)


def student(*, teacher: str = "lenet5", student_name: str = "lenet5-tiny", distilled: bool = True,
            T: float = DEFAULT_T, alpha: float = DEFAULT_ALPHA, epochs: int | None = None, seed: int = 0,
            progress: bool = True) -> nn.Module:
    """The student trained with the teacher ``train.baseline(teacher, seed=seed)`` (``distilled``) or
    alone (cross-entropy only), cached. Both get the *teacher's* training budget (epochs, lr,
    batch size, weight decay, augmentation) and the same initialisation and data order (``seed``)."""
    if not isinstance(distilled, bool):
        raise TypeError(f"distilled must be a bool, got {type(distilled).__name__}")
    T, alpha = _check_T_alpha(T, alpha, alpha_open_high=True)
    cfg = train.baseline_config(teacher, seed)
    epochs = cfg.epochs if epochs is None else check_int(epochs, "epochs", minimum=1)
    spec = {"distill_student": student_name, "teacher": teacher, "distilled": distilled, "epochs": epochs,
            "lr": cfg.lr, "batch_size": cfg.batch_size, "weight_decay": cfg.weight_decay, "shift_px": cfg.shift_px,
            "seed": seed, **({"T": T, "alpha": alpha} if distilled else {}),
            "student_args": {k: list(v) if isinstance(v, tuple) else v for k, v in STUDENTS[student_name][1].items()}}
    parents = [train.baseline_key(teacher, seed=seed)] if distilled else []

    def fit_student(m):
        kw = dict(epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size, weight_decay=cfg.weight_decay,
                  shift_px=cfg.shift_px, seed=seed, progress=progress)
        if distilled:
            distill(train.baseline(teacher, seed=seed, progress=progress), m, T=T, alpha=alpha, **kw)
        else:
            train.fit(m, desc="training the student alone", **kw)  # the same loop, cross-entropy only

    return train.cached_model(spec, lambda: build_student(student_name, seed), fit_student,
                              name=f"distill-{student_name}", parents=parents,
                              code=(student, distill, soft_term, build_student))


def compare_students(teacher: str = "lenet5", student_name: str = "lenet5-tiny", seeds: Sequence[int] = (0, 1, 2),
                     *, T: float = DEFAULT_T, alpha: float = DEFAULT_ALPHA, split: str = "test",
                     progress: bool = True) -> dict:
    """Test accuracy of the student with and without distillation, per seed (same budget), and the
    teacher's: ``{"seeds", "teacher": [...], "distilled": [...], "alone": [...], "n_test",
    "student_params", "teacher_params"}`` (accuracies in %). Each model is cached on its own."""
    seeds = [check_int(s, "seeds[i]", minimum=0) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty sequence of distinct non-negative ints, got {seeds!r}")
    out = {"seeds": seeds, "teacher": [], "distilled": [], "alone": [], "n_test": len(train._as_xy(split)[1])}
    for s in seeds:
        out["teacher"].append(train.evaluate(train.baseline(teacher, seed=s, progress=progress), split))
        for key, d in (("distilled", True), ("alone", False)):
            m = student(teacher=teacher, student_name=student_name, distilled=d, T=T, alpha=alpha, seed=s,
                        progress=progress)
            out[key].append(train.evaluate(m, split))
    out["student_params"] = sum(p.numel() for p in build_student(student_name).parameters())
    out["teacher_params"] = sum(p.numel() for p in models.build(teacher).parameters())
    return out
