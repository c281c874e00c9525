"""environment.yml (conda) must list the same packages as pyproject.toml (the source of truth)."""
import re
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda name -> PyPI name


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in py["dependencies"]}
    for extra in ("book", "test"):
        wanted |= {_name(r) for r in py["optional-dependencies"][extra]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = set()
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            n = _name(dep)
            if n not in ("python", "pip"):
                conda.add(CONDA_NAMES.get(n, n))
    assert conda == wanted, f"only in environment.yml: {sorted(conda - wanted)}; only in pyproject: {sorted(wanted - conda)}"


def test_openmp_setting_is_the_same_everywhere_it_is_set():
    """companion.OPENMP_ENV is set for conda users, by ./run.sh, the chapter runner and the test
    runner; all must say the same value (they run before torch is imported, so they cannot
    import it from one place)."""
    import companion
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["variables"] == companion.OPENMP_ENV
    for name, value in companion.OPENMP_ENV.items():
        assert f"{name}=${{{name}:-{value}}}" in (ROOT / "run.sh").read_text()
        assert f'os.environ.setdefault("{name}", "{value}")' in (ROOT / "tools" / "chapters.py").read_text()
        runner = (ROOT / "tools" / "run_tests.py").read_text()
        assert f'env.setdefault("{name}", "{value}")' in runner
        assert f'{name}=os.environ.get("{name}", "{value}")' in runner
