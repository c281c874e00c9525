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


def _inplace_calls_on_first_argument(fn: ast.FunctionDef) -> list[str]:
    """In-place calls (``name_(...)``) that receive ``fn``'s first argument itself — never a copy:
    a function that rebinds its first argument (``model = copy.deepcopy(model)``) is not flagged,
    nor are in-place *methods* of other objects that merely read it (``w.copy_(arg)``)."""
    args = [a.arg for a in fn.args.args if a.arg not in ("self", "cls")]
    if not args:
        return []
    first = args[0]
    rebound = any(isinstance(t, ast.Name) and t.id == first
                  for node in ast.walk(fn) if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                  for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))
    if rebound:
        return []
    out = []
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if not name.endswith("_") or name.endswith("__"):
            continue
        if isinstance(f, ast.Name) and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == first:
            out.append(f"{name}({first}, ...)")
        elif isinstance(f, ast.Attribute):
            base = f.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id == first and name not in ("requires_grad_",):
                out.append(f"{ast.unparse(f)}(...)")
    return out


def test_functions_that_change_their_argument_in_place_end_in_underscore():
    """Issue 15: in-place functions end in ``_`` (``prune_``, ``bake_masks_``). Checked for the
    module- and class-level public functions of the library (nested helpers are private)."""
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text())
        scopes = [tree] + [n for n in tree.body if isinstance(n, ast.ClassDef)]
        for scope in scopes:
            for fn in scope.body:
                if isinstance(fn, ast.FunctionDef) and not fn.name.startswith("_") and not fn.name.endswith("_"):
                    calls = _inplace_calls_on_first_argument(fn)
                    if calls:
                        offenders.append(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name}: {calls}")
    assert not offenders, "changes its argument in place but does not end in _: " + "; ".join(offenders)


def test_the_in_place_detector_sees_what_it_should():
    src = '''
def shrink(model):
    prune_(model, 0.5)
def shrink_copy(model):
    model = copy.deepcopy(model)
    prune_(model, 0.5)
    return model
def scale(t):
    t.data.mul_(2)
def read(w, src):
    w.copy_(src)
'''
    fns = {f.name: _inplace_calls_on_first_argument(f) for f in ast.parse(src).body}
    assert fns == {"shrink": ["prune_(model, ...)"], "shrink_copy": [], "scale": ["t.data.mul_(...)"],
                   "read": ["w.copy_(...)"]}
