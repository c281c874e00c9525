"""Claims are code: every sentence that compares, ranks or bounds numbers is checked against them.

A chapter never types a verdict around a glued number ("QAT clearly earns its keep", "no more
than a few points"): when the number moves between machines or seeds, the typed words go wrong.
Instead a sentence is either

* **produced** from the numbers by one helper: :func:`verdict` turns a statistical test (or an
  interval of a difference) into "higher", "lower" or "not distinguishable at 95 %", and
  :func:`compare_accuracies` does it for two test accuracies on the same images (McNemar's exact
  test on the per-image results when they are given, else the intervals); or
* **registered** as a predicate over the numbers it cites: :func:`claim` evaluates it where the
  numbers are computed and raises :class:`ClaimError` with the sentence and the numbers when it is
  false, so the notebook tests and the book build (which execute every chapter) fail on a false
  sentence. :func:`companion.nb.claim` also glues the checked sentence for the page.

Every evaluated claim is kept in :data:`CLAIMS` (sentence, numbers, verdict), so a test or the
book build can list what a chapter asserts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

__all__ = ["ClaimError", "Claim", "CLAIMS", "claim", "verdict", "interval_verdict", "compare_accuracies",
           "VERDICTS", "ALPHA"]

#: The words of a comparison; every comparing sentence of the book uses one of them.
VERDICTS = ("higher", "lower", "not distinguishable")
#: The significance level of every verdict (two-sided): 95 % confidence.
ALPHA = 0.05


class ClaimError(AssertionError):
    """A sentence of the book is false for the numbers it cites."""


@dataclass(frozen=True)
class Claim:
    """One evaluated sentence: its text, the numbers it cites and whether it holds."""

    sentence: str
    holds: bool
    numbers: dict = field(default_factory=dict)


#: Every claim evaluated in this process, in order (a chapter's kernel: the chapter's claims).
CLAIMS: list[Claim] = []


def _fmt(numbers: dict) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in numbers.items())


def claim(sentence: str, holds: Any, **numbers: Any) -> str:
    """Register ``sentence`` as true for ``numbers`` (``holds``: the predicate, already evaluated
    over them); return the sentence. A false one raises :class:`ClaimError` naming the sentence
    and the numbers: the book cannot be built with it.

    >>> claim("8 bits lose less than 1 point", 0.3 < 1, drop=0.3)
    '8 bits lose less than 1 point'
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError("a claim needs its sentence (a non-empty string)")
    import numpy as np
    if not isinstance(holds, (bool, np.bool_)):
        raise TypeError(f"holds must be a bool (the predicate evaluated over the numbers), got {type(holds).__name__}"
                        " — a truthy object would let any sentence pass")
    c = Claim(sentence, bool(holds), dict(numbers))
    CLAIMS.append(c)
    if not c.holds:
        raise ClaimError(f"false claim: {sentence!r} does not hold for {_fmt(numbers)}")
    return sentence


def verdict(difference: float, p_value: float, alpha: float = ALPHA) -> str:
    """"higher" / "lower" (the sign of ``difference`` = A − B) when a two-sided test rejects
    equality at ``alpha``, else "not distinguishable".

    >>> verdict(0.8, 0.01), verdict(-0.8, 0.01), verdict(0.8, 0.3)
    ('higher', 'lower', 'not distinguishable')
    """
    d, p = float(difference), float(p_value)
    if math.isnan(d) or not 0.0 <= p <= 1.0:
        raise ValueError(f"need a difference and a p-value in [0, 1], got {difference!r}, {p_value!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if p >= alpha or d == 0.0:
        return "not distinguishable"
    return "higher" if d > 0 else "lower"


def interval_verdict(low: float, high: float) -> str:
    """The verdict of an interval of a difference A − B: "higher" if it lies above 0, "lower" if
    below, else "not distinguishable".

    >>> interval_verdict(0.2, 1.4), interval_verdict(-2.0, -0.1), interval_verdict(-0.5, 0.7)
    ('higher', 'lower', 'not distinguishable')
    """
    lo, hi = float(low), float(high)
    if not lo <= hi:
        raise ValueError(f"an interval needs low <= high, got [{low!r}, {high!r}]")
    if lo > 0:
        return "higher"
    if hi < 0:
        return "lower"
    return "not distinguishable"


def compare_accuracies(acc_a: float, acc_b: float, n: int, *, correct_a: Sequence[bool] | None = None,
                       correct_b: Sequence[bool] | None = None) -> str:
    """Is model A's test accuracy (%) higher, lower or not distinguishable from B's, on the same
    ``n`` images? With the per-image results, McNemar's exact test decides (the right test for
    paired results); without them, the 95 % Wilson intervals must not overlap (conservative).
    """
    from . import stats
    if correct_a is not None and correct_b is not None:
        m = stats.mcnemar_exact(correct_a, correct_b)
        return verdict(m.only_a - m.only_b, m.p_value)
    a, b = stats.accuracy_interval(acc_a, n), stats.accuracy_interval(acc_b, n)
    if a.low > b.high:
        return "higher"
    if a.high < b.low:
        return "lower"
    return "not distinguishable"
