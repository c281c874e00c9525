"""Reproducible *within the noise*: what a re-executed chapter is checked against.

A trained number depends on the CPU model and the thread count (floating-point reduction
order), so it cannot be checked as exact text anywhere but where it was made. The book
therefore separates two kinds of checked output (cell tags):

* ``nbval-check-output`` — **deterministic** (formulas, layer tables, the accelerator model,
  encoders, seeded untrained examples): nbval compares the text exactly.
* ``check-within-noise`` — **trained** results (accuracies, drops, ratios after fine-tuning):
  the text must keep its shape, and each number must land inside the *prediction interval* of
  the same number over the recorded seeds (:func:`companion.stats.prediction_interval`, 99.9 %,
  widened by one unit of the printed last digit).

Every glued value (what the prose cites) is checked the same way: equal to its value in every
seed if it never moved between seeds (deterministic), else inside the prediction interval.
A glued *measurement of this machine* (a timing, a speed-up, the torch version:
``nb.glue(..., measured=True)``) is never compared.

The record ``notebooks/spread/NN_name.json`` holds, for each seed, every glued value and the
text of every tagged cell. It is *measured*, never typed: ``python tools/chapters.py spread``
re-executes a chapter with ``COMPANION_SEED=1, 2, …`` (every model retrained from other
initialisations and data orders) and takes seed 0 from the committed notebook. A tolerance is
never widened by hand; a number whose seeds disagree wildly is not a finding (report a mean over
seeds with its interval instead).
"""
from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from companion import stats  # noqa: E402

RECORD_DIR = Path(os.environ.get("COMPANION_SPREAD_DIR") or ROOT / "notebooks" / "spread")
SANITIZE_CFG = ROOT / "tests" / "nbval_sanitize.cfg"
EXACT_TAG, NOISE_TAG = "nbval-check-output", "check-within-noise"
CONFIDENCE = 0.999  #: of each prediction interval
MIN_SEEDS = 4  #: seeds a record needs (t with 3 degrees of freedom: 12.9 at 99.9 %)
DETERMINISTIC_RTOL = 1e-9  #: "equal" for a float that never moved between seeds (last-ulp CPU differences)

#: A number in text, not part of a name (``lenet300``, ``fc1``, ``W1A1``); ``−`` counts as a sign.
NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_NUMPY_SCALAR = re.compile(r"np\.(?:float|int|uint)\d*\(([^()]*)\)")


def record_path(stem: str) -> Path:
    return RECORD_DIR / f"{stem}.json"


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    cfg = configparser.ConfigParser()
    cfg.read(SANITIZE_CFG)
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]


_SANITIZE = _sanitizers()


def sanitize(text: str) -> str:
    for rx, rep in _SANITIZE:
        text = rx.sub(rep, text)
    return text


# --- what a cell shows -----------------------------------------------------------------------

def is_measured(output: dict) -> bool:
    """A glued *measurement of this machine* (``nb.glue(..., measured=True)``): never compared."""
    return bool(output.get("metadata", {}).get("companion", {}).get("measured"))


def glue_of(output: dict) -> tuple[str, str] | None:
    """``(name, text)`` if ``output`` is a glued value (myst-nb's scrapbook record), else None."""
    name = output.get("metadata", {}).get("scrapbook", {}).get("name")
    if not name:
        return None
    data = output.get("data", {})
    text = next((v for k, v in data.items() if k.endswith("text/plain")), "")
    return name, "".join(text) if isinstance(text, list) else str(text)


def cell_text(outputs: Iterable[dict]) -> str:
    """The sanitized text a reader sees in a cell (streams and text/plain; glue and images aside)."""
    parts = []
    for o in outputs:
        if glue_of(o):
            continue
        if o.get("output_type") == "stream":
            parts.append("".join(o.get("text", "")))
        elif o.get("output_type") in ("execute_result", "display_data"):
            data = o.get("data", {})
            if "text/plain" in data and not any(k.startswith("image/") or k.startswith("application/vnd.jupyter.widget")
                                                for k in data):
                parts.append("".join(data["text/plain"]))
    return sanitize("".join(parts))


def cell_keys(sources: Sequence[str]) -> list[str]:
    """A stable key per cell: its source's digest and, for repeated sources, the occurrence."""
    seen: dict[str, int] = {}
    keys = []
    for src in sources:
        h = hashlib.sha256(src.encode()).hexdigest()[:16]
        seen[h] = seen.get(h, 0) + 1
        keys.append(h if seen[h] == 1 else f"{h}-{seen[h]}")
    return keys


def tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def snapshot(cells: Sequence[dict]) -> dict:
    """What one executed notebook shows: ``{"glue": {name: text}, "cells": {key: text}}`` for its
    glued values and every cell that shows text (checked ones are those tagged exact or within-noise)."""
    code = [c for c in cells if c.get("cell_type") == "code"]
    keys = cell_keys(["".join(c.get("source", "")) for c in code])
    glue, texts = {}, {}
    for key, c in zip(keys, code):
        for o in c.get("outputs", []):
            g = glue_of(o)
            if g and not is_measured(o):
                glue[g[0]] = g[1]
        text = cell_text(c.get("outputs", []))
        if text or EXACT_TAG in tags(c) or NOISE_TAG in tags(c):  # every cell with text: tags may change later
            texts[key] = text
    return {"glue": glue, "cells": texts}


# --- comparing within the noise --------------------------------------------------------------

def _number(token: str) -> float:
    return float(token.replace("−", "-"))


def _decimals(token: str) -> int:
    mantissa = re.split(r"[eE]", token)[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def split_numbers(text: str) -> tuple[str, list[str]]:
    """``(shape, numbers)``: the text with every number replaced by ``#`` and each run of spaces
    by one space (a table pads its columns to the widest number), and the numbers."""
    text = _NUMPY_SCALAR.sub(r"\1", text)
    return re.sub(r"[ \t]+", " ", NUMBER.sub("#", text)), NUMBER.findall(text)


def within_noise(new: str, seeds: Sequence[str], *, printed: bool) -> str | None:
    """None if ``new`` agrees with the recorded ``seeds`` (texts, one per seed); else why not.

    The shape (text without its numbers) must be one the seeds showed. A number that was the
    same in every seed must be the same (exact up to :data:`DETERMINISTIC_RTOL`; one unit of
    its last printed digit more when ``printed``: rounding); a number that moved must lie in the
    99.9 % prediction interval of the seeds' values (plus one printed unit).
    """
    shape, numbers = split_numbers(new)
    split = [split_numbers(s) for s in seeds]
    same_shape = [nums for sh, nums in split if sh == shape]
    if not same_shape:
        return f"its text changed: {new!r} (seeds showed {sorted(set(seeds))[:3]!r})"
    if len(same_shape) < 2:
        return None if new in seeds else f"{new!r} differs from the one seed that showed this text"
    for i, token in enumerate(numbers):
        x = _number(token)
        values = [_number(nums[i]) for nums in same_shape]
        unit = 10.0 ** -max([_decimals(token)] + [_decimals(n[i]) for n in same_shape]) if printed else 0.0
        if max(values) == min(values):
            v = values[0]
            if abs(x - v) > DETERMINISTIC_RTOL * max(1.0, abs(v)) + unit:
                return (f"number {i + 1} is {token}, but it was {nums_text(values)} in every seed "
                        "(deterministic: it must not move)")
            continue
        p = stats.prediction_interval(values, CONFIDENCE)
        slack = unit + DETERMINISTIC_RTOL * max(1.0, abs(p.estimate))  # never tighter than the last ulps
        if not (p.low - slack <= x <= p.high + slack):
            return (f"number {i + 1} is {token}, outside the {100 * CONFIDENCE:g} % prediction interval "
                    f"[{p.low:.6g}, {p.high:.6g}] of its {len(values)} seeds ({nums_text(values)})")
    return None


def nums_text(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.6g}" for v in values)


def moved(seeds: Sequence[str]) -> bool:
    """Whether a recorded output differs between seeds (after sanitizing): it depends on training."""
    return len(set(seeds)) > 1


# --- the record ------------------------------------------------------------------------------

def retag_cells(cells: Sequence[dict], record: dict) -> list[str]:
    """Retag, in place, each ``nbval-check-output`` cell whose recorded output moved between seeds
    as ``check-within-noise``; returns the first source line of each retagged cell."""
    code = [c for c in cells if c.get("cell_type") == "code"]
    changed = []
    for key, cell in zip(cell_keys(["".join(c.get("source", "")) for c in code]), code):
        seeds = [t for t in record["cells"].get(key) or [] if t is not None]
        if EXACT_TAG in tags(cell) and moved(seeds):
            cell["metadata"]["tags"] = [NOISE_TAG if t == EXACT_TAG else t for t in tags(cell)]
            changed.append("".join(cell.get("source", "")).strip().splitlines()[0][:70])
    return changed


def load_record(stem: str) -> dict | None:
    path = record_path(stem)
    return json.loads(path.read_text()) if path.is_file() else None


def merge(snapshots: dict[int, dict]) -> dict:
    """One record from per-seed snapshots: ``{"glue": {name: [text per seed]}, "cells": {...}}``.

    A name or cell missing from a seed's run is recorded as None there (the run differed in
    shape: :func:`check_record` reports it)."""
    seeds = sorted(snapshots)
    out = {"seeds": seeds, "glue": {}, "cells": {}}
    for part in ("glue", "cells"):
        names = sorted(set().union(*(snapshots[s][part] for s in seeds)))
        out[part] = {n: [snapshots[s][part].get(n) for s in seeds] for n in names}
    return out


def check_notebook(cells: Sequence[dict], record: dict | None) -> list[str]:
    """Problems of a committed notebook against its record (empty: fine). Used by the tests.

    * every glued value and tagged cell has a recorded value in every seed;
    * a cell tagged ``nbval-check-output`` never moved between seeds (else it depends on the
      exact bits of a trained model: tag it ``check-within-noise``);
    * what the notebook shows now is within the noise of the record.
    """
    if record is None:
        return ["no seed-spread record: run `python tools/chapters.py spread` for this chapter"]
    problems = []
    if len(record.get("seeds", [])) < MIN_SEEDS:
        problems.append(f"the record holds {len(record.get('seeds', []))} seeds; at least {MIN_SEEDS} are needed")
    snap = snapshot(cells)
    code = [c for c in cells if c.get("cell_type") == "code"]
    keyed = dict(zip(cell_keys(["".join(c.get("source", "")) for c in code]), code))
    checked = {k: t for k, t in snap["cells"].items() if EXACT_TAG in tags(keyed[k]) or NOISE_TAG in tags(keyed[k])}
    for name, text in snap["glue"].items():
        seeds = record["glue"].get(name)
        if seeds is None or any(s is None for s in seeds):
            problems.append(f"glue {name}: not in every seed of the record (re-measure the spread)")
            continue
        why = within_noise(text, seeds, printed=False)
        if why:
            problems.append(f"glue {name}: {why}")
    for key, text in checked.items():
        seeds = record["cells"].get(key)
        first = "".join(keyed[key].get("source", "")).strip().splitlines()[:1]
        where = f"cell {first[0][:60]!r}" if first else f"cell {key}"
        if seeds is None or any(s is None for s in seeds):
            problems.append(f"{where}: not in every seed of the record (its source changed: re-measure the spread)")
            continue
        if EXACT_TAG in tags(keyed[key]):
            if moved(seeds):
                problems.append(f"{where} is tagged {EXACT_TAG} but its output moved between seeds: it depends on "
                                f"trained weights; tag it {NOISE_TAG} (seeds showed {sorted(set(seeds))[:2]!r})")
            elif text != seeds[0]:
                problems.append(f"{where}: the committed output differs from the record")
        else:
            why = within_noise(text, seeds, printed=True)
            if why:
                problems.append(f"{where}: {why}")
    return problems


def unstable(record: dict) -> list[tuple[str, str, list[float]]]:
    """Glued numbers that are not findings at face value: ``(name, why, values per seed)`` for
    each whose sign flips between seeds, or whose seeds span more than half its mean."""
    out = []
    for name, texts in sorted(record.get("glue", {}).items()):
        if not texts or any(t is None for t in texts):
            continue
        parsed = [split_numbers(t) for t in texts]
        if len({shape for shape, _ in parsed}) != 1 or [len(n) for _, n in parsed] != [1] * len(parsed):
            continue
        values = [_number(n[0]) for _, n in parsed]
        lo, hi = min(values), max(values)
        mean = sum(values) / len(values)
        if lo < 0 < hi:
            out.append((name, "sign flips between seeds", values))
        elif hi > lo and (hi - lo) > 0.5 * abs(mean):
            out.append((name, "seeds span more than half its mean", values))
    return out
