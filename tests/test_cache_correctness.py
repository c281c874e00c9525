"""Cache correctness (issue "A fresh machine"): each test failed before its fix.

* the code fingerprint covers the recipe's whole import closure inside ``companion``;
* a record is bound to its key;
* stale-file cleanup deletes only the cache's own temporary files;
* a read-only or full cache returns the fresh result with a visible warning;
* a child that is a hit never builds, loads or trains its parent.
"""
import os
import shutil
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from companion import cache, models, train

PKG = Path(cache.__file__).resolve().parent


def _tiny(calls, seed=0):
    x, y = torch.randn(32, 1, 28, 28, generator=torch.Generator().manual_seed(1)), torch.arange(32) % 10

    def make():
        return models.build("lenet300", seed=seed)

    def fit(m):
        calls.append(1)
        train.fit(m, epochs=1, train_data=(x, y), progress=False)
    return make, fit


# --- the fingerprint covers the import closure ------------------------------------------------

@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of companion/ that a test may edit; the fingerprint reads it instead of the real one."""
    dst = tmp_path / "companion"
    shutil.copytree(PKG, dst, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "_PACKAGE_DIR", dst)
    return dst


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path.name}: the test needs updating"
    path.write_text(text.replace(old, new, 1))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_import_closure_follows_relative_and_absolute_imports():
    closure = cache.import_closure("companion.sparsity.recipes")
    assert {"companion.sparsity.masks", "companion.train", "companion.models", "companion.data"} <= set(closure)
    assert "companion.accelerator.arch" not in closure  # not imported by the recipe
    assert cache.import_closure("companion.data") == ["companion.data"]


def test_changing_the_model_definition_changes_every_training_key(package_copy):
    before = train.baseline_key("lenet300")
    _edit(package_copy / "models.py", "x = torch.relu(self.fc1(x))", "x = torch.tanh(self.fc1(x))")
    assert train.baseline_key("lenet300") != before


def test_changing_a_mask_rule_changes_the_pruning_recipe_key(package_copy):
    from companion.sparsity import recipes
    before = cache.code_fingerprint(recipes.pruned_model)
    _edit(package_copy / "sparsity" / "masks.py", "return int(round(sparsity * n))", "return int(math.floor(sparsity * n))")
    assert cache.code_fingerprint(recipes.pruned_model) != before


def test_comments_and_docstrings_do_not_change_the_key(package_copy):
    before = train.baseline_key("lenet300")
    _edit(package_copy / "models.py", '"""', '"""An edited docstring. ')
    text = (package_copy / "train.py").read_text()
    (package_copy / "train.py").write_text("# a new comment\n" + text)
    assert train.baseline_key("lenet300") == before


def test_code_outside_companion_is_fingerprinted_through_the_companion_names_it_uses(package_copy, tmp_path):
    """A recipe in a notebook cell: its own source, plus the closures of the companion modules it uses."""
    import importlib.util
    src = tmp_path / "cell_recipe.py"
    src.write_text("from companion import models\n\ndef recipe():\n    return models.build('lenet300')\n")
    spec = importlib.util.spec_from_file_location("cell_recipe", src)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = cache.code_fingerprint(module.recipe)
    _edit(package_copy / "models.py", "x = torch.relu(self.fc1(x))", "x = torch.tanh(self.fc1(x))")
    assert cache.code_fingerprint(module.recipe) != before


# --- a record is bound to its key --------------------------------------------------------------

def test_a_pair_copied_under_another_key_is_a_visible_miss(tmp_cache):
    calls = []
    make, fit = _tiny(calls)
    a = train.cached_model({"t": "a"}, make, fit, name="t")
    with torch.no_grad():
        b_weights = {k: torch.full_like(v, -7.0) for k, v in a.state_dict().items()}
    b_key = train.cache_key({"t": "b"}, code=(train.fit,))
    src = next(tmp_cache.glob(f"t-{train.key_of(a)}.pt"))
    train.save_atomic(b_weights, src, key=train.key_of(a))  # the 'a' entry now holds -7 everywhere
    for suffix in (".pt", ".json"):  # copy a's pair under b's name
        shutil.copy(src.with_suffix(suffix), tmp_cache / f"t-{b_key}{suffix}")
    with pytest.warns(train.CacheWarning, match="another key"):
        b = train.cached_model({"t": "b"}, make, fit, name="t")
    assert not torch.all(b.fc1.weight == -7.0), "the copied weights were used"
    assert len(calls) == 2


# --- stale-file cleanup touches only the cache's own files -------------------------------------

def test_cleanup_keeps_other_programs_old_tmp_files(tmp_cache):
    tmp_cache.mkdir(parents=True, exist_ok=True)
    theirs = [tmp_cache / "download.tmp", tmp_cache / "x.pt123.tmp", tmp_cache / ".companion-partial-notes.tmp"]
    ours = tmp_cache / f".companion-partial-r-{'c' * 24}.ptq1w2e3.tmp"
    old = time.time() - 10 * train.STALE_TMP_S
    for f in (*theirs, ours):
        f.write_bytes(b"data")
        os.utime(f, (old, old))
    train.cache_dir()
    assert all(f.exists() for f in theirs), "a file the cache did not make was deleted"
    assert not ours.exists()


def test_save_atomic_writes_recognisable_temporary_files(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append(Path(src).name)
        return real(src, dst)
    monkeypatch.setattr(cache.os, "replace", spy)
    train.save_atomic({"x": torch.zeros(1)}, tmp_path / f"r-{'d' * 24}.pt", key="d" * 24)
    assert seen and all(cache._OWN_TMP.fullmatch(n) for n in seen), seen


# --- a read-only or full cache keeps the fresh result -----------------------------------------

def _fail_writes(monkeypatch, errno_name="EROFS"):
    import errno

    def refuse(payload, path):
        raise OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name)), str(path))
    monkeypatch.setattr(cache, "_write_atomic", refuse)


@pytest.mark.parametrize("errno_name", ["EROFS", "ENOSPC"])
def test_read_only_or_full_cache_returns_the_trained_model_with_a_warning(tmp_cache, monkeypatch, errno_name):
    calls = []
    make, fit = _tiny(calls)
    _fail_writes(monkeypatch, errno_name)
    with pytest.warns(train.CacheWarning, match="could not store"):
        m = train.cached_model({"t": "ro"}, make, fit, name="t")
    assert calls == [1] and isinstance(m, nn.Module) and train.key_of(m)
    with pytest.warns(train.CacheWarning, match="could not store"):
        assert train.cached_result({"k": "ro"}, lambda: 41 + 1, name="r") == 42


def test_an_uncreatable_cache_folder_warns_and_computes(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COMPANION_CACHE", str(blocker / "cache"))
    with pytest.warns(train.CacheWarning):
        assert train.cached_result({"k": "nodir"}, lambda: 5, name="r") == 5


# --- a hit never builds, loads or trains the parent -------------------------------------------

def test_a_child_hit_does_not_train_or_load_its_parent(tmp_cache, monkeypatch):
    calls = {"parent_fit": 0, "child_fit": 0, "parent_loads": 0}
    x, y = torch.randn(32, 1, 28, 28), torch.arange(32) % 10

    def parent():
        def fit(m):
            calls["parent_fit"] += 1
            train.fit(m, epochs=1, train_data=(x, y), progress=False)
        return train.cached_model({"t": "parent"}, lambda: models.build("lenet300"), fit, name="p")

    def child():
        def fit(m):
            calls["child_fit"] += 1
            train.fit(m, epochs=1, train_data=(x, y), progress=False, seed=1)
        return train.cached_model({"t": "child"}, parent, fit, name="c")

    first = child()
    assert calls == {"parent_fit": 1, "child_fit": 1, "parent_loads": 0}
    for p in tmp_cache.glob("p-*"):  # the parent's entry is gone (a cleaned cache, a shipped child)
        p.unlink()
    real_load = cache.load_verified

    def counting_load(path, key=None):
        if path.name.startswith("p-"):
            calls["parent_loads"] += 1
        return real_load(path, key)
    monkeypatch.setattr(train, "load_verified", counting_load)
    again = child()
    assert calls == {"parent_fit": 1, "child_fit": 1, "parent_loads": 0}
    assert train.key_of(again) == train.key_of(first)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))


def test_a_skeleton_that_does_not_fit_falls_back_to_the_real_parent(tmp_cache):
    """Shapes that depend on trained weights (channel pruning): the real make() is tried before retraining."""
    calls = []
    state = {"width": 5}

    def make():
        if train._SKELETON.get():
            return nn.Linear(4, 3)  # the skeleton's guess of the shape is wrong
        return nn.Linear(4, state["width"])

    def fit(m):
        calls.append(1)
    train.cached_model({"t": "shape"}, make, fit, name="s")
    m = train.cached_model({"t": "shape"}, make, fit, name="s")
    assert calls == [1] and m.out_features == 5
