"""Argument checks shared by the compact-model modules (thin names over :mod:`companion.checks`)."""
from __future__ import annotations

from .. import checks


def pos_int(name: str, v) -> int:
    """``v`` as an int >= 1 (bools and floats refused)."""
    return checks.check_int(v, name, minimum=1)


def nonneg_int(name: str, v) -> int:
    """``v`` as an int >= 0."""
    return checks.check_int(v, name, minimum=0)


def pos_float(name: str, v) -> float:
    """``v`` as a finite float > 0."""
    return checks.check_float(v, name, minimum=0.0, open_low=True)


def divisible(what: str, channels: int, groups: int) -> None:
    """Refuse a channel count that the group count does not divide."""
    if channels % groups:
        raise ValueError(f"{what}={channels} is not divisible by groups={groups}; "
                         f"choose channels that are a multiple of the group count")
