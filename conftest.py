"""Root conftest: loaded for every test path, the notebooks included (``pytest notebooks/NN.ipynb``).

Notebook cells run by nbval are also checked within the noise of their seeds: every glued value
and every ``check-within-noise`` cell against the chapter's record (``tools/noise_plugin.py``;
nbval itself compares the exact ``nbval-check-output`` cells).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))
pytest_plugins = ["noise_plugin"]
