"""Tests of the companion.sparsity package on the shared mechanisms: masks through
companion.reparam, typed sweep rows, the CSR timing as a wrapper over metrics.time_call_ms,
the cached recipes' seed/parents/code, and the public names the book uses."""
import dataclasses
import pathlib
import re

import pandas as pd
import pytest
import torch

from companion import metrics, models, reparam, train, sparsity as sp

ROOT = pathlib.Path(__file__).resolve().parent.parent


# --- the package's shape and its public names ------------------------------------------------------

def test_modules_stay_small():
    files = sorted((ROOT / "companion" / "sparsity").glob("*.py"))
    assert {f.stem for f in files} >= {"masks", "schedules", "structured", "formats", "recipes", "exercises"}
    for f in files:
        assert len(f.read_text().splitlines()) <= 500, f"{f.name} is over 500 lines"


def _names_used_elsewhere() -> set[str]:
    """Every ``sparsity.X`` / ``sp.X`` (where ``sp`` is this package) used by notebooks, library and tests."""
    files = [*(ROOT / "notebooks" / "src").glob("*.py"), *(ROOT / "tests").glob("*.py"),
             *(p for p in (ROOT / "companion").rglob("*.py") if "sparsity" not in p.parts)]
    names = set()
    for f in files:
        text = f.read_text()
        names |= set(re.findall(r"""(?<![\w."'`])sparsity\.([A-Za-z_]\w*)""", text))
        if re.search(r"sparsity as sp\b", text):
            names |= set(re.findall(r"""(?<![\w."'`])sp\.([A-Za-z_]\w*)""", text))
    return names


def test_every_name_used_by_the_book_still_exists():
    used = _names_used_elsewhere()
    assert {"prune_", "bake_masks_", "prunable_layers", "iterative_prune", "time_sparse_linear", "SWEEP_SPARSITIES"} <= used
    missing = sorted(n for n in used if not hasattr(sp, n))
    assert missing == []
    assert all(hasattr(sp, n) for n in sp.__all__)


def test_old_names_are_the_in_place_functions():
    assert sp.iterative_prune is sp.iterative_prune_ and sp.gradual_prune is sp.gradual_prune_


# --- masks through companion.reparam --------------------------------------------------------------

def test_mask_is_a_reparam_transform_and_bake_only_touches_masked_layers():
    model = models.build("lenet300", seed=0)
    reparam.attach(model.fc3, reparam.Scale(2.0))  # another transform, on another layer
    w1 = model.fc1.weight.detach().clone()
    sp.prune_(model, {"fc1": 0.5})
    assert [type(t) for t in reparam.transforms(model.fc1)] == [sp.Mask]
    sp.prune_(model, {"fc1": 0.7})  # the same Mask is updated, never stacked
    assert len(reparam.transforms(model.fc1)) == 1
    sp.bake_masks_(model)
    assert not reparam.is_transformed(model.fc1) and reparam.is_transformed(model.fc3)
    assert torch.equal(model.fc1.weight, w1 * sp.magnitude_mask(w1, 0.7))


def test_prune_stacks_after_an_existing_transform():
    model = models.build("lenet300", seed=0)
    w = model.fc2.weight.detach().clone()
    reparam.attach(model.fc2, reparam.Scale(-3.0))
    sp.prune_(model, {"fc2": 0.5})
    assert [type(t) for t in reparam.transforms(model.fc2)] == [reparam.Scale, sp.Mask]
    assert set(sp.masks(model)) == {"fc2"}
    sp.bake_masks_(model)  # a layer's transforms bake together, in order
    assert not reparam.is_transformed(model.fc2)
    assert torch.equal(model.fc2.weight, -3.0 * w * sp.magnitude_mask(w, 0.5))


def test_prune_accepts_one_layer_name_as_a_string():
    # regression: ``layers="fc1"`` was compared to the dict keys as the set of its characters
    model = models.build("lenet300", seed=0)
    sp.prune_(model, {"fc1": 0.5}, layers="fc1")
    assert set(sp.masks(model)) == {"fc1"}
    sp.prune_(model, 0.25, layers="fc2")
    assert set(sp.masks(model)) == {"fc1", "fc2"}


def test_prunable_layers_is_the_shared_enumeration():
    model = models.build("lenet5", seed=0)
    assert sp.prunable_layers(model) == reparam.weight_layers(model)
    with pytest.raises(TypeError, match="model"):
        sp.prunable_layers("lenet5")


def test_activation_trace_uses_named_hooks_and_leaves_none():
    model = models.build("lenet300", seed=0).eval()
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        y = model(x)
    reparam.attach_output_hook(model.fc1, "user", lambda t: t)
    sp.activation_sparsity(model, x)
    sp.input_sparsity(model, x)
    assert reparam.hooks(model.fc1) == ["user"] and reparam.hooks(model.fc2) == []
    with torch.no_grad():
        assert torch.equal(model(x), y)


# --- typed rows --------------------------------------------------------------------------------------

def test_rows_are_frozen_read_like_dicts_and_make_frames():
    r = sp.SparseTiming(0.5, 1, 10.0, 5.0, 2.0, 1.5, 2.5, 2.0, 3)
    assert r["speedup"] == 2.0 and dict(r)["batch"] == 1
    with pytest.raises(KeyError, match="fields"):
        r["nope"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.speedup = 3.0
    rows = sp.Rows([r, dataclasses.replace(r, batch=64)])
    cols = ["sparsity", "batch", "dense_us", "sparse_us", "speedup", "speedup_min", "speedup_max", "ideal", "rounds"]
    assert list(rows.to_frame().columns) == cols
    assert list(pd.DataFrame(rows).columns) == cols  # what chapter 5 does with the result
    with pytest.raises(TypeError, match="dataclass rows"):
        sp.Rows([{"a": 1}]).to_frame()


def test_sensitivity_sweep_is_the_same_dict_with_typed_rows():
    model = models.build("lenet300", seed=0)
    sweep = sp.sensitivity_sweep(model, [0.0, 0.9], layers=["fc3"])
    assert isinstance(sweep, dict) and list(sweep) == ["fc3"] and len(sweep["fc3"]) == 2
    assert sweep.sparsities == (0.0, 0.9)
    assert sweep.rows()[1] == sp.SensitivityPoint("fc3", 0.9, sweep["fc3"][1])
    frame = sweep.to_frame()
    assert list(frame.columns) == ["layer", "sparsity", "accuracy"] and len(frame) == 2
    assert sp.sparsities_from_sensitivity(sweep, sweep.sparsities, sweep["fc3"][0], 100.0) == {"fc3": 0.9}
    with pytest.raises(ValueError, match="2 accuracies for 3 sparsities"):
        sp.SensitivitySweep({"fc3": [1.0, 2.0]}, [0.1, 0.2, 0.3])


# --- timing: a thin wrapper over the shared timer ---------------------------------------------------

def test_time_sparse_linear_wraps_the_shared_timer(monkeypatch):
    calls = []

    def fake(fns, **kw):
        calls.append((sorted(fns), kw))
        for f in fns.values():
            f()
        # per-round ms: ratios dense/csr = 2, 0.5, 4 -> median 2, spread 0.5 ... 4
        return metrics.Timings({"dense": (2.0, 2.0, 2.0), "csr": (1.0, 4.0, 0.5)}, 1)

    monkeypatch.setattr(metrics, "time_calls_ms", fake)
    rows = sp.time_sparse_linear(8, 16, [0.75], [1, 2], repeats=4, rounds=3, warmup=2)
    assert len(rows) == 2 and len(calls) == 2
    assert calls[0] == (["csr", "dense"], {"rounds": 3, "repeats": 4, "warmup": 2})
    r = rows[0]
    assert (r.speedup, r.speedup_min, r.speedup_max) == (2.0, 0.5, 4.0)
    assert r.speedup_spread.text(".1f", "x") == "0.5–4.0x"
    assert r.dense_us == pytest.approx(2000.0) and r.sparse_us == pytest.approx(1000.0)
    assert r.ideal == pytest.approx(4.0) and r.rounds == 3 and r.batch == 1


def test_time_sparse_linear_real_run_reports_a_range():
    rows = sp.time_sparse_linear(16, 32, [0.5, 0.9], [1, 4], repeats=3, rounds=3)
    assert all(isinstance(r, sp.SparseTiming) for r in rows)
    assert all(r.speedup_min <= r.speedup <= r.speedup_max for r in rows)


@pytest.mark.parametrize("kw,match", [({"rounds": 0}, "rounds"), ({"batch_sizes": [0]}, "batch size"),
                                      ({"sparsities": [1.0]}, r"\[0, 1\)"), ({"repeats": 0}, "repeats"),
                                      ({"sparsities": []}, "empty")])
def test_time_sparse_linear_bad_arguments(kw, match):
    args = {"sparsities": [0.5], **kw}
    with pytest.raises(ValueError, match=match):
        sp.time_sparse_linear(8, 8, **args)


# --- cached recipes: seed, parents, code --------------------------------------------------------------

@pytest.fixture
def fake_training(tmp_cache, monkeypatch):
    """Baselines built (not trained) per seed, fine-tuning recorded instead of run."""
    log = {"baseline": [], "fit": [], "cached": {}}

    def baseline(name, *, seed=0, progress=True, retrain=False):
        if not train.building_skeleton():  # cached_model's key-and-shape pass is not a use of the baseline
            log["baseline"].append(seed)
        return models.build(name, seed=seed)

    def fit(model, **kw):
        log["fit"].append(kw.get("seed"))

    real_cached = train.cached_model

    def cached_model(spec, make, fit_fn=None, **kw):
        log["cached"][kw["name"]] = {"spec": spec, **kw}
        return real_cached(spec, make, fit_fn, **kw)

    monkeypatch.setattr(train, "baseline", baseline)
    monkeypatch.setattr(train, "fit", fit)
    monkeypatch.setattr(train, "cached_model", cached_model)
    return log


def test_pruned_model_seed_selects_baseline_and_key(fake_training, tmp_cache):
    m0 = sp.pruned_model("lenet300", 0.5, method="one-shot", epochs=0, progress=False)
    m1 = sp.pruned_model("lenet300", 0.5, method="one-shot", epochs=0, seed=1, progress=False)
    assert fake_training["baseline"] == [0, 1]
    assert not torch.equal(m0.fc1.weight, m1.fc1.weight)
    assert len(list(tmp_cache.glob("pruned-lenet300-*.pt"))) == 2 and train.key_of(m0) != train.key_of(m1)
    kw = fake_training["cached"]["pruned-lenet300"]
    assert kw["parents"] == (train.baseline_key("lenet300", seed=1),)
    assert sp.pruned_model in kw["code"] and sp.Mask in kw["code"] and sp.gradual_prune_ in kw["code"]
    assert not {"v", "version"} & set(kw["spec"])
    # seed 0 is exactly the magnitude pruning of baseline seed 0
    ref = sp.bake_masks_(sp.prune_(models.build("lenet300", seed=0), 0.5))
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), m0.state_dict().values()))


def test_every_recipe_passes_seed_to_baseline_and_fine_tuning(fake_training):
    sp.pruned_model("lenet300", {"fc1": 0.5}, method="one-shot", epochs=1, seed=2, progress=False)
    sp.channel_pruned_model("lenet300", {"fc1": 0.5}, epochs=1, seed=2, progress=False)
    sp.group_lasso_model("lenet300", 0.01, epochs=1, seed=2, progress=False)
    sp.nm_pruned_model("lenet300", 2, 4, epochs=1, seed=2, progress=False)
    assert fake_training["baseline"] == [2, 2, 2, 2] and fake_training["fit"] == [2, 2, 2, 2]
    for name, fn in [("chpruned-lenet300", sp.channel_pruned_model), ("grouplasso-lenet300", sp.group_lasso_model),
                     ("nmpruned-lenet300", sp.nm_pruned_model)]:
        kw = fake_training["cached"][name]
        assert fn in kw["code"] and kw["parents"] == (train.baseline_key("lenet300", seed=2),)


def test_channel_pruned_model_from_a_given_base(fake_training):
    base = models.build("lenet5", seed=4)
    small = sp.channel_pruned_model("lenet5", {"conv1": 0.5}, epochs=0, base=base, base_key="my-base")
    assert fake_training["baseline"] == [] and small.conv1.out_channels == 10
    assert fake_training["cached"]["chpruned-lenet5"]["parents"] == ("my-base",)


def test_baseline_sensitivity_is_cached_as_a_plain_dict(fake_training, tmp_cache):
    first = sp.baseline_sensitivity("lenet300", (0.0, 0.9))
    again = sp.baseline_sensitivity("lenet300", (0.0, 0.9))
    assert fake_training["baseline"] == [0]  # the second call is a cache hit
    assert isinstance(again, sp.SensitivitySweep) and again == first and again.sparsities == (0.0, 0.9)
    stored = torch.load(next(tmp_cache.glob("sensitivity-lenet300-*.pt")), weights_only=True)
    assert type(stored) is dict
    sp.baseline_sensitivity("lenet300", (0.0, 0.9), seed=1)
    assert fake_training["baseline"] == [0, 1] and len(list(tmp_cache.glob("sensitivity-lenet300-*.pt"))) == 2


@pytest.mark.parametrize("call,match", [
    (lambda: sp.pruned_model("lenet300", 0.5, seed=-1), "seed"),
    (lambda: sp.pruned_model("lenet300", 1.5), r"\[0, 1\)"),
    (lambda: sp.nm_pruned_model("lenet300", 0, 4), "n must be"),
    (lambda: sp.group_lasso_model("lenet300", -0.1), "strength"),
    (lambda: sp.baseline_sensitivity("lenet300", (0.0, 1.0)), r"\[0, 1\)"),
])
def test_recipes_reject_bad_arguments_before_training(call, match, fake_training):
    with pytest.raises(ValueError, match=match):
        call()
    assert fake_training["baseline"] == []
