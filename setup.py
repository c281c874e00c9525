"""Packaging details pyproject.toml cannot express: ship ``data/`` inside the wheel as
``companion._data`` (so a non-editable ``pip install .`` finds the embedded MNIST and layer tables)."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["companion", "companion.*"]) + ["companion._data"],
    package_dir={"companion._data": "data"},
    package_data={"companion._data": ["*.npz", "*.csv", "SHA256SUMS", "README.md", "layers/*.csv",
                                      "scalesim/*.csv", "scalesim/README.md",
                                      "baselines/*.pt", "baselines/provenance.json"]},
)
