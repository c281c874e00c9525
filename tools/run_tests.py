"""The whole test suite: unit and property tests, notebooks (nbval), the book build, browser tests.

Installs what the tests need beyond the Python packages (Chromium from Debian packages when
running as root on a machine without it), then runs one pytest session.

    python tools/run_tests.py            # everything (what CI runs)
    python tools/run_tests.py --fast     # the hermetic tier: temporary cache, no training beyond
                                         # seconds, no notebooks, no book, no browser (< 2 minutes)
    python tools/run_tests.py -k metrics # extra arguments go to pytest
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_chromium() -> None:
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("!! Chromium is missing and cannot be installed here: browser tests will be skipped", flush=True)
        return
    print("== installing Chromium (Debian packages)", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], check=True, env=env,
                   stdout=subprocess.DEVNULL)


FAST_MARKERS = "not slow and not browser and not book and not notebook"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fast"]:
        env = dict(os.environ, PYTHONHASHSEED="0", COMPANION_PROGRESS="0", COMPANION_TEST_TIER="fast",
                   HYPOTHESIS_PROFILE=os.environ.get("HYPOTHESIS_PROFILE", "ci"),
                   GOMP_SPINCOUNT=os.environ.get("GOMP_SPINCOUNT", "10000"),
                   COMPANION_DEVICE="cpu", COMPANION_THREADS=os.environ.get("COMPANION_THREADS", "2"))
        env.pop("MPLBACKEND", None)
        cmd = [sys.executable, "-m", "pytest", "tests", "-m", FAST_MARKERS, "-p", "no:cacheprovider",
               "--durations", "10", *argv[1:]]
        print("==", " ".join(cmd), flush=True)
        return subprocess.run(cmd, cwd=ROOT, env=env).returncode
    ensure_chromium()
    notebooks = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    cmd = [sys.executable, "-m", "pytest", "tests", *notebooks,
           "--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
           "--nbval-cell-timeout", "3600", "-p", "no:cacheprovider", "--durations", "15", *argv]
    # no progress bars: with a cold model cache a bar would be an extra output in a checked cell
    env = dict(os.environ, PYTHONHASHSEED="0", COMPANION_PROGRESS="0")
    env.setdefault("HYPOTHESIS_PROFILE", "ci")  # reproducible property tests (see tests/conftest.py)
    env.setdefault("GOMP_SPINCOUNT", "10000")  # companion.OPENMP_ENV: kernels survive a busy core
    # the book's setting; another thread count or CPU trains other bits, which the checks allow
    # (trained results are compared within the noise of their seeds: tools/noise.py)
    env.setdefault("COMPANION_DEVICE", "cpu")
    env.setdefault("COMPANION_THREADS", "2")
    env.pop("MPLBACKEND", None)
    print("==", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
