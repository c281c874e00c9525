import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COMPANION_DEVICE", "cpu")  # CUDA only when asked

from companion import train  # noqa: E402

train.pin_threads()  # COMPANION_THREADS (set by tools/run_tests.py) fixes the thread count


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """An empty companion cache for tests that must not touch the user's."""
    monkeypatch.setenv("COMPANION_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
