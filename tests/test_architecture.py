"""The library's shape (issue 15): small modules, one name per thing, arrows pointing down."""
import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import companion

ROOT = Path(companion.__file__).resolve().parent
MODULES = sorted(m.name for m in pkgutil.walk_packages(companion.__path__, "companion.")
                 if not m.name.startswith("companion._data"))


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_over_500_lines(path):
    assert len(path.read_text().splitlines()) <= 500, f"{path.relative_to(ROOT)}: split it along its seams"


def test_no_two_public_objects_share_a_name():
    seen: dict[str, dict[int, str]] = {}
    for name in MODULES:
        mod = importlib.import_module(name)
        for public in getattr(mod, "__all__", []):
            obj = getattr(mod, public)
            if inspect.ismodule(obj) or isinstance(obj, (int, float, str, bool, tuple, frozenset)):
                continue
            seen.setdefault(public, {})[id(obj)] = name
    clashes = {n: sorted(set(owners.values())) for n, owners in seen.items() if len(owners) > 1}
    assert not clashes, f"one name, several things: {clashes}"


def test_no_two_modules_share_a_name_with_tools():
    tools = {p.stem for p in (ROOT.parent / "tools").glob("*.py")}
    ours = {p.stem for p in ROOT.rglob("*.py") if not p.stem.startswith("_")}
    assert not tools & ours, f"same module name in tools/ and companion/: {sorted(tools & ours)}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    pkg = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    parts = pkg.split(".")
    if path.name != "__init__.py":
        parts = parts[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = parts[:len(parts) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            if node.level and not node.module:
                out |= {f"{mod}.{a.name}" for a in node.names}
            else:
                out.add(mod)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m.startswith("companion")}


HALL = ["data", "models", "plotting", "cache", "train", "metrics", "timing", "reparam", "checks", "rows",
        "widgets", "exercises", "nb", "stats"]
CHAPTERS = ["compact", "decomposition", "quantization", "sparsity", "joint", "search", "robustness", "distill",
            "recurrent", "bench", "why_compress", "fairness"]


@pytest.mark.parametrize("module", HALL)
def test_the_hall_never_imports_a_chapter(module):
    path = ROOT / f"{module}.py"
    bad = {m for m in _imports(path) for c in CHAPTERS if m == f"companion.{c}" or m.startswith(f"companion.{c}.")}
    assert not bad, f"{module} imports {sorted(bad)}"


def test_the_accelerator_stands_alone():
    for path in (ROOT / "accelerator").glob("*.py"):
        bad = {m for m in _imports(path) if not m.startswith("companion.accelerator")
               and m not in ("companion.models", "companion.exercises", "companion.checks", "companion.data",
                                                                      "companion.metrics")}
        assert not bad, f"{path.name} imports {sorted(bad)} (the accelerator never imports training code)"
