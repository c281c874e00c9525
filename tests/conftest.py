import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COMPANION_DEVICE", "cpu")  # CUDA only when asked

#: ``COMPANION_TEST_TIER=fast`` (``./run.sh test-fast``): hermetic — an empty temporary model
#: cache, and any test that trains for more than a few seconds fails with "mark it slow".
FAST_TIER = os.environ.get("COMPANION_TEST_TIER", "") == "fast"
FAST_TIER_MAX_SAMPLE_EPOCHS = 20_000  # e.g. 1 epoch of 3,500 images x 5; a baseline is 52,500+
if FAST_TIER:
    import tempfile
    os.environ["COMPANION_CACHE"] = tempfile.mkdtemp(prefix="companion-fast-cache-")

from hypothesis import settings as _hypothesis_settings  # noqa: E402

#: Property tests: ``./run.sh test`` (CI) loads the reproducible ``ci`` profile — the same
#: pseudo-random examples on every run, so a red run can be replayed and a green one stays
#: green. ``./run.sh fuzz`` loads ``explore``: fresh random examples each run, to find new bugs
#: (add each one found as an ``@example`` so CI keeps it).
_hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
_hypothesis_settings.register_profile("explore", derandomize=False, print_blob=True)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "explore"))

from companion import train  # noqa: E402

train.pin_threads()  # COMPANION_THREADS (set by tools/run_tests.py) fixes the thread count


if FAST_TIER:
    import functools

    _real_fit = train.fit

    @functools.wraps(_real_fit)
    def _guarded_fit(model, *args, epochs=10, train_data="train", **kwargs):
        _real_fit(model, *args, epochs=0, train_data=train_data, **kwargs)  # argument errors first, as usual
        x, _ = train._as_xy(train_data)
        if epochs * len(x) > FAST_TIER_MAX_SAMPLE_EPOCHS:
            raise RuntimeError(f"this test trains {epochs} epochs on {len(x)} images in the fast tier: "
                               "mark it @pytest.mark.slow")
        return _real_fit(model, *args, epochs=epochs, train_data=train_data, **kwargs)

    train.fit = _guarded_fit


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """An empty companion cache for tests that must not touch the user's."""
    monkeypatch.setenv("COMPANION_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's, driven by Playwright); skipped without it, an error on CI."""
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing on CI (tools/run_tests.py should have installed it)")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()

