"""Do the timings the prose cites survive a busy machine? (issue 13; a tool, not a CI test)

Executes chapters twice — on a quiet machine, then with one core kept busy by another process —
and compares every glued timing (names with ``speedup``, ``_ms``, ``time_ratio``, ``latency``):
each must stay within a factor ``--tolerance`` (1.5) of its quiet value. It also prints each
chapter's run time in both conditions. Timings are never
asserted in unit tests; this is the check behind the library's one timer
(``companion.metrics.time_calls_ms``: single thread, interleaved rounds, min of repeats).

    python tools/check_timings.py                 # every chapter (a few minutes with a warm cache)
    python tools/check_timings.py 05_sparsification 02_compact_models
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chapters as nbtool  # noqa: E402

TIMING = re.compile(r"speedup|_ms$|_ms_|time_ratio|latency_ratio")


def timing_glue(src: Path) -> tuple[dict[str, float], float]:
    """The chapter's glued timings and its run time (s)."""
    done: list = []
    elapsed = nbtool.execute(src, write=False, executed=done)
    out = {}
    for name, text in nbtool.glued_values(done[0]).items():
        if TIMING.search(name) and "ideal" not in name and "runtime" not in name:
            try:
                out[name] = float(str(text).strip("'\""))
            except (TypeError, ValueError):
                pass
    return out, elapsed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chapters", nargs="*", help="chapter stems (default: all)")
    ap.add_argument("--tolerance", type=float, default=1.5)
    args = ap.parse_args(argv)
    srcs = [s for s in nbtool.sources() if not args.chapters or s.stem in args.chapters]
    bad = 0
    run_times = []
    for src in srcs:
        quiet, quiet_s = timing_glue(src)
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            loaded, loaded_s = timing_glue(src)
        finally:
            busy.kill()
        run_times.append((src.stem, quiet_s, loaded_s))
        for name, q in sorted(quiet.items()):
            v = loaded.get(name)
            factor = max(v / q, q / v) if v and q else float("inf")
            ok = factor <= args.tolerance
            bad += not ok
            print(f"{src.stem:26s} {name:34s} quiet {q:10.3f}  loaded {v if v is not None else float('nan'):10.3f}"
                  f"  x{factor:5.2f}  {'ok' if ok else 'OUTSIDE'}", flush=True)
    print("\nrun time (s)               quiet   one core busy")
    for stem, q, v in run_times:
        print(f"{stem:26s} {q:6.1f}  {v:6.1f}  x{v / q:4.2f}")
    print(f"{'total':26s} {sum(r[1] for r in run_times):6.1f}  {sum(r[2] for r in run_times):6.1f}")
    print(f"{bad} timing(s) outside a factor {args.tolerance}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
