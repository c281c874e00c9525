"""Notebook plumbing: one setup call, the chapter's run-time clock, and ``glue``.

Every chapter's setup cell calls :func:`setup`; its last cell glues :func:`runtime_s` so
the header box can cite the measured run time (never a typed number).
"""
from __future__ import annotations

import random
import time

import numpy as np
import torch

__all__ = ["setup", "runtime_s", "glue", "GLUED"]

_T0 = [time.perf_counter()]

#: Every value glued in this kernel, by name (also without myst-nb installed).
GLUED: dict = {}


def setup(seed: int = 0, *, quiet: bool = False) -> torch.device:
    """Seed Python, NumPy and torch, apply the plot style, start the chapter clock; return the device."""
    from . import plotting, train
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    _T0[0] = time.perf_counter()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    plotting.style()
    _inline_figures()
    threads = train.pin_threads()
    dev = train.device()
    if not quiet:
        print(f"torch {torch.__version__} on {dev.type}; {threads} CPU threads")
    return dev


def _inline_figures() -> None:
    """In a kernel, show figures inline as PNG without the slow tight-bbox pass."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None or not hasattr(ip, "kernel"):
        return
    ip.run_line_magic("matplotlib", "inline")
    ip.run_line_magic("config", "InlineBackend.print_figure_kwargs = {'bbox_inches': None}")


def runtime_s() -> float:
    """Seconds since :func:`setup` was called."""
    return time.perf_counter() - _T0[0]


def glue(name: str, value, display: bool = False, *, measured: bool = False) -> None:
    """``myst_nb.glue`` (the website cites the value with ``{glue:text}`name```).

    ``measured=True`` declares a measurement of *this machine* (a timing, a speed-up, the torch
    version, whether a CPU kernel exists): the notebook tests never compare it with the committed
    value. Everything else glued is a result, checked on re-execution: exactly if it is
    deterministic, within the noise of its seeds if it is trained (``tools/noise.py``).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"glue name must be an identifier, got {name!r}")
    GLUED[name] = value
    try:
        from myst_nb import glue as _glue
    except ImportError:  # outside the book toolchain: keep the value, show it if asked
        if display:
            print(f"{name} = {value!r}")
        return
    if not measured:
        _glue(name, value, display=display)
        return
    # myst_nb.glue's own output (a display_data with a scrapbook record), marked as a measurement
    import IPython
    from myst_nb.ext.glue import GLUE_PREFIX
    mimebundle, metadata = IPython.core.formatters.format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = dict(name=name, mime_prefix=prefix)
    metadata["companion"] = {"measured": True}
    IPython.display.display({prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata)


def claim(name: str, sentence: str, holds, **numbers) -> str:
    """Check ``sentence`` against ``numbers`` (:func:`companion.claims.claim`: a false one raises
    :class:`~companion.claims.ClaimError`, so the chapter cannot execute and the book cannot be
    built with it) and glue it as ``name`` for the page (``{glue:text}`name```). Returns it."""
    from . import claims
    text = claims.claim(sentence, holds, **numbers)
    glue(name, text)
    return text
