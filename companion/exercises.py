"""Self-checks for readers: ``check("ch1.vgg_fc_share", answer)``.

Each chapter module registers its exercises with :func:`register` (the chapter's module is
imported lazily the first time one of its exercises is checked). A check

* prints a short confirmation when the answer is right;
* prints a gentle reminder when the answer is still ``None`` / ``...``
  (the stub as shipped), so "Run all" never stops at an unanswered exercise;
* raises :class:`ExerciseError` with a hint when the answer is wrong.

In the notebooks each exercise is a stub cell and a check; the solution sits in a cell that
the website hides behind a toggle and that CI runs, so no exercise can silently rot.
"""
from __future__ import annotations

import importlib
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

__all__ = ["ExerciseError", "Exercise", "register", "check", "exercises", "close_to", "same_values",
           "same_function", "one_of", "POINTS", "points", "GRADING_LOG_ENV", "start_grading"]

#: Points of an exercise by level (the grader's rule: easy 1, medium 2, hard 3).
POINTS = {"easy": 1, "medium": 2, "hard": 3}
#: When this environment variable names a file, every ``check`` appends one JSON line to it:
#: ``{"id": ..., "level": ..., "outcome": "passed" | "failed" | "unanswered"}`` (see tools/student.py).
GRADING_LOG_ENV = "COMPANION_GRADING_LOG"
_GRADING: dict[str, Any] = {"log": None, "locked": False}

# chapter prefix -> module that registers its exercises (imported on first use)
_CHAPTER_MODULES = {
    "ch1": "companion.why_compress",  # registers the ch1.* exercises (there is no companion.cost)
    "ch2": "companion.compact",
    "ch3": "companion.decomposition",
    "ch4": "companion.quantization",
    "ch5": "companion.sparsity",
    "ch6": "companion.joint",
    "ch7": "companion.accelerator",
    "ch8": "companion.search",
}
_REGISTRY: dict[str, "Exercise"] = {}


class ExerciseError(AssertionError):
    """A wrong answer; the message is a hint, never the solution."""


@dataclass(frozen=True)
class Exercise:
    """``checker(answer)`` returns ``None`` (or a confirmation text) when right, raises ExerciseError when wrong."""

    id: str
    prompt: str
    checker: Callable[[Any], str | None]
    level: str = "easy"


def register(id: str, prompt: str, checker: Callable[[Any], str | None], level: str = "easy") -> Exercise:
    """Register (or replace) exercise ``id`` (``"chN.name"``)."""
    if not isinstance(id, str) or "." not in id or not id.split(".")[0].startswith("ch"):
        raise ValueError(f"exercise id must look like 'ch3.rank_budget', got {id!r}")
    if level not in ("easy", "medium", "hard"):
        raise ValueError(f"level must be easy, medium or hard, got {level!r}")
    if _GRADING["locked"] and id in _REGISTRY:
        raise ValueError(f"exercise {id!r} cannot be replaced while a notebook is being graded")
    ex = Exercise(id, prompt, checker, level)
    _REGISTRY[id] = ex
    return ex


def points(level: str) -> int:
    """Points of an exercise of ``level``: easy 1, medium 2, hard 3 (:data:`POINTS`)."""
    if level not in POINTS:
        raise ValueError(f"level must be easy, medium or hard, got {level!r}")
    return POINTS[level]


def _record(ex: Exercise, outcome: str) -> None:
    path = _GRADING["log"] or os.environ.get(GRADING_LOG_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": ex.id, "level": ex.level, "outcome": outcome}) + "\n")


def start_grading(ids: Iterable[str] = (), modules: Iterable[str] = ()) -> None:
    """Called by the grader (tools/student.py) in a fresh kernel before a submission's first cell.

    Imports ``modules`` and the chapter modules of ``ids`` (so the official checkers are
    registered first), then locks the registry: a submission cannot replace an exercise's
    checker. The log file named by :data:`GRADING_LOG_ENV` is remembered and the variable removed
    from the environment, so the submission's code does not see where results go.
    """
    for m in modules:
        importlib.import_module(m)
    for id in ids:
        _lookup(id)
    path = os.environ.pop(GRADING_LOG_ENV, None)
    if not path:
        raise ValueError(f"start_grading needs the environment variable {GRADING_LOG_ENV} (the results file)")
    _GRADING["log"] = path
    _GRADING["locked"] = True


def _lookup(id: str) -> Exercise:
    if not isinstance(id, str):
        raise TypeError(f"exercise id must be a str, got {type(id).__name__}")
    if id not in _REGISTRY:
        module = _CHAPTER_MODULES.get(id.split(".")[0])
        if module:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError:
                pass
    if id not in _REGISTRY:
        raise KeyError(f"no exercise {id!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[id]


def check(id: str, answer: Any) -> None:
    """Check ``answer`` for exercise ``id``; see the module docstring for what happens."""
    ex = _lookup(id)
    if answer is None or answer is Ellipsis:
        _record(ex, "unanswered")
        print(f"⏳ {id}: not answered yet — {ex.prompt}")
        return None
    try:
        message = ex.checker(answer)
    except BaseException:
        _record(ex, "failed")
        raise
    _record(ex, "passed")
    print(f"✅ {id}: correct!" + (f" {message}" if message else ""))
    return None


def exercises(chapter: str | None = None) -> list[Exercise]:
    """Registered exercises (of one chapter prefix such as ``"ch1"``, after importing its module)."""
    if chapter is not None:
        module = _CHAPTER_MODULES.get(chapter)
        if module:
            importlib.import_module(module)
    return [e for k, e in sorted(_REGISTRY.items()) if chapter is None or k.startswith(chapter + ".")]


# --- checker builders ----------------------------------------------------------------------

def _as_float(answer: Any) -> float:
    try:
        return float(answer)
    except (TypeError, ValueError):
        raise ExerciseError(f"expected a number, got {type(answer).__name__} {answer!r}") from None


def close_to(expected: Callable[[], float] | float, *, rtol: float = 1e-3, atol: float = 0.0, hint: str = "",
             explain: Callable[[float], str] | str | None = None) -> Callable[[Any], str | None]:
    """Checker: a number within ``rtol``/``atol`` of ``expected`` (a value or a zero-arg function)."""
    def checker(answer):
        value = _as_float(answer)
        target = expected() if callable(expected) else expected
        if not math.isclose(value, target, rel_tol=rtol, abs_tol=atol):
            direction = "too large" if value > target else "too small"
            raise ExerciseError(f"{value:g} is {direction}. Hint: {hint}" if hint else f"{value:g} is {direction}.")
        return explain(target) if callable(explain) else explain
    return checker


def same_values(expected: Callable[[], Any], *, atol: float = 1e-6, hint: str = "") -> Callable[[Any], str | None]:
    """Checker: an array/tensor/sequence equal (to ``atol``) to ``expected()``, shape included."""
    def checker(answer):
        a = np.asarray(answer.detach().cpu() if hasattr(answer, "detach") else answer, dtype=float)
        e = np.asarray(expected(), dtype=float)
        if a.shape != e.shape:
            raise ExerciseError(f"shape {a.shape} but expected {e.shape}. Hint: {hint}")
        bad = ~np.isclose(a, e, atol=atol, rtol=0)
        if bad.any():
            raise ExerciseError(f"{int(bad.sum())} of {a.size} values differ. Hint: {hint}")
        return None
    return checker


def same_function(reference: Callable, cases: Callable[[], Iterable[tuple]], *, atol: float = 1e-6,
                  hint: str = "") -> Callable[[Any], str | None]:
    """Checker: a function that agrees with ``reference`` on every argument tuple of ``cases()``."""
    def checker(fn):
        if not callable(fn):
            raise ExerciseError(f"expected a function, got {type(fn).__name__}")
        for args in cases():
            want = np.asarray(_to_np(reference(*args)), dtype=float)
            try:
                got = np.asarray(_to_np(fn(*args)), dtype=float)
            except Exception as e:  # the reader's code raised
                raise ExerciseError(f"your function raised {type(e).__name__}: {e}. Hint: {hint}") from None
            if got.shape != want.shape or not np.allclose(got, want, atol=atol, rtol=0):
                raise ExerciseError(f"wrong result for an input of shape {_shape(args)}. Hint: {hint}")
        return None
    return checker


def one_of(expected: Callable[[], Any] | Any, *, hint: str = "", normalize: Callable[[Any], Any] = lambda a: a
           ) -> Callable[[Any], str | None]:
    """Checker: an answer equal to ``expected`` after ``normalize`` (e.g. ``str.lower``)."""
    def checker(answer):
        target = expected() if callable(expected) else expected
        if normalize(answer) != normalize(target):
            raise ExerciseError(f"{answer!r} is not it. Hint: {hint}")
        return None
    return checker


def _to_np(v):
    return v.detach().cpu().numpy() if hasattr(v, "detach") else v


def _shape(args) -> str:
    return ", ".join(str(tuple(a.shape)) if hasattr(a, "shape") else type(a).__name__ for a in args)


# The preface's warm-up exercise (chapter 0 has no module of its own).
register("ch0.digit_bytes", "how many bytes does one 28x28 digit take at 1 bit per pixel?",
         close_to(28 * 28 / 8, rtol=1e-9, hint="28 × 28 pixels, 1 bit each, 8 bits per byte"), level="easy")
