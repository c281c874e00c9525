"""A non-editable install works from any folder: the wheel carries the code and the embedded data."""
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_wheel_installs_and_runs_from_another_folder(tmp_path):
    # build from a clean copy: setuptools writes build/ and *.egg-info/ into the source folder, and
    # a stale build/lib there would slip modules deleted since into the wheel
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".build", "build", ".vendor", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache",
        "_build"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(src)], check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "companion/_data/mnist_5k.npz" in names and "companion/_data/SHA256SUMS" in names
    assert any(n.startswith("companion/quantization") for n in names)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--target", str(target),
                    str(wheel)], check=True, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import companion, companion.data as d, companion.models as m; "
            "x, y = d.load_mnist('test'); t = m.layer_table('alexnet'); "
            "print(companion.__file__); print(len(y), t.params)")
    env = dict(os.environ, PYTHONPATH=str(target), COMPANION_CACHE=str(tmp_path / "cache"))
    env.pop("COMPANION_DATA", None)
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=elsewhere, env=env,
                         capture_output=True, text=True).stdout.split("\n")
    assert out[0].startswith(str(target)), out
    assert out[1] == "1000 61100840"
