"""Train the book's three baselines (seeds 0, 1, 2) by their own recipe and ship them in ``data/baselines``.

    python data/make_baselines.py        # ~3 minutes on 2 cores; rewrites data/baselines/* and SHA256SUMS

Each is trained exactly as :func:`companion.train.baseline` trains it (``train.BASELINES``, the
training loop :func:`companion.train.fit`), on the CPU with 2 torch threads, into a temporary
cache; the state dict is saved as ``baselines/<name>.pt`` (seed 0) or ``<name>-s<seed>.pt``. ``baselines/provenance.json`` records
for each its recipe, the :func:`companion.train.shipped_fingerprint` of the code that made it,
torch's version, the thread count, the date and its test accuracy. ``baseline()`` uses a shipped
file only while its fingerprint matches the checkout's code (else it warns and trains), and
``tests/test_data.py`` fails when a shipped baseline is stale.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ["COMPANION_CACHE"] = tempfile.mkdtemp(prefix="companion-make-baselines-")
os.environ.pop("COMPANION_SEED", None)
os.environ["COMPANION_DEVICE"] = "cpu"
THREADS = 2


def main() -> int:
    import torch
    from companion import train
    train.pin_threads(THREADS)
    out = HERE / train.SHIPPED_DIR
    out.mkdir(exist_ok=True)
    provenance = {}
    stems = []
    for name in sorted(train.BASELINES):
        for seed in train.SHIPPED_SEEDS:
            stem = train.shipped_name(name, seed)
            model = train.baseline(name, seed=seed, retrain=True, progress=False)  # the recipe, never a shipped file
            buf = io.BytesIO()
            torch.save(model.state_dict(), buf)
            (out / f"{stem}.pt").write_bytes(buf.getvalue())
            stems.append(stem)
            provenance[stem] = {"recipe": asdict(train.baseline_config(name, seed)),
                                "fingerprint": train.shipped_fingerprint(name, seed),
                                "test_accuracy_pct": train.evaluate(model), "torch": torch.__version__,
                                "threads": THREADS, "made": datetime.date.today().isoformat(),
                                "command": "python data/make_baselines.py", "bytes": len(buf.getvalue())}
            print(f"{stem}: {provenance[stem]['test_accuracy_pct']:.1f} % test, {len(buf.getvalue()) / 1e6:.2f} MB",
                  flush=True)
    (out / "provenance.json").write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    sums = HERE / "SHA256SUMS"
    lines = [l for l in sums.read_text().splitlines() if l.strip() and not l.split()[1].startswith(train.SHIPPED_DIR + "/")]
    for stem in stems:
        rel = f"{train.SHIPPED_DIR}/{stem}.pt"
        lines.append(f"{hashlib.sha256((HERE / rel).read_bytes()).hexdigest()}  {rel}")
    sums.write_text("\n".join(sorted(lines, key=lambda l: l.split()[1])) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
