"""Chapter 6's experiments (companion.joint.experiments): the package only re-exports, the cached
recipes carry no version counters, every Pareto recipe gets the same retraining budget, seeds,
the reproduction summary, and the chapter's exercises."""
from __future__ import annotations

import copy
import inspect
from pathlib import Path

import pytest
import torch

from companion import exercises, joint, train
from companion.joint import codec, experiments, recipes

OLD_NAMES = ["DEEP_COMPRESSION", "PAPER", "deep_compression", "stage_table", "prune_share_grid", "float32_bytes",
             "PARETO_RECIPES", "pareto_results", "cached_sensitivity", "compact_results", "Coding",
             "CorruptFileError", "encode_tensor", "decode_tensor", "write_model", "read_model", "size_breakdown",
             "describe", "Step", "Recipe", "RecipeResult", "METHODS", "validate", "run", "Sensitivity",
             "layer_sensitivity", "settings_from_sensitivity", "code_lengths", "canonical_codes", "huffman_encode",
             "huffman_decode", "encoded_bits", "entropy_bits", "codec", "huffman", "recipes", "sensitivity"]


def test_every_old_name_still_works_and_init_only_reexports():
    for name in OLD_NAMES:
        assert hasattr(joint, name), name
    assert joint.deep_compression is experiments.deep_compression
    assert joint.pareto_results is experiments.pareto_results
    src = Path(joint.__file__).read_text()
    assert "\ndef " not in src and "\nclass " not in src  # no code of its own: re-exports only


def test_version_counters_are_retired():
    assert not hasattr(joint, "GRID_VERSION") and not hasattr(recipes, "RECIPE_VERSION")
    for fn in (experiments.prune_share_grid, experiments.cached_sensitivity, experiments.compact_results,
               recipes.run):
        src = inspect.getsource(fn)
        assert "VERSION" not in src and '"v":' not in src and ": 1," not in src, fn.__name__


def test_joint_modules_stay_small():
    folder = Path(joint.__file__).parent
    for f in folder.glob("*.py"):
        assert len(f.read_text().splitlines()) <= 500, f.name


def test_grid_and_sensitivity_are_keyed_by_code_and_parents(monkeypatch):
    seen = []

    def fake_cached_result(spec, compute, *, name="result", refresh=False, parents=(), code=()):
        seen.append((spec, list(parents), list(code)))
        if name.startswith("ch6-sensitivity"):
            return {"baseline": 90.0, "pruning": {"fc1": [89.0]}, "bits": {"fc1": [90.0]}}
        return []

    monkeypatch.setattr(train, "cached_result", fake_cached_result)
    experiments.prune_share_grid("lenet300", sparsities=(0.5,), seed=2, progress=False)
    experiments.cached_sensitivity("lenet300", sparsities=(0.5,), bit_widths=(4,), seed=1, progress=False)
    (grid_spec, grid_parents, grid_code), (sens_spec, sens_parents, sens_code) = seen
    assert experiments.prune_share_grid in grid_code and experiments._grid_point in grid_code
    assert grid_parents == [train.baseline_key("lenet300", seed=2)] and grid_spec["seed"] == 2
    assert sens_parents == [train.baseline_key("lenet300", seed=1)] and sens_spec["seed"] == 1
    assert joint.layer_sensitivity in sens_code


def test_every_pareto_recipe_gets_the_same_retraining_budget():
    budgets = {name: experiments.retrain_epochs(r) for name, r in experiments.PARETO_RECIPES.items()}
    post_training = {n for n, r in experiments.PARETO_RECIPES.items()
                     if not any(s["method"] in ("prune", "share", "decompose") for s in r["steps"])}
    assert post_training == {"8-bit uniform (ch. 4)", "4-bit uniform (ch. 4)"}
    for name, b in budgets.items():
        assert b == (0 if name in post_training else experiments.RETRAIN_EPOCHS), (name, b)
    for r in experiments.PARETO_RECIPES.values():
        recipes.validate({"model": "lenet300", **r})
    # the full Deep Compression run keeps its own, longer budget (stated beside it in the chapter)
    assert experiments.retrain_epochs(experiments.DEEP_COMPRESSION["lenet300"]) == 4 * 5 + 5


def test_retrain_epochs_uses_the_method_defaults():
    r = {"steps": [{"method": "prune", "sparsity": 0.5}, {"method": "share", "bits": 4},
                   {"method": "quantize", "bits": 8}, {"method": "encode"}]}
    assert experiments.retrain_epochs(r) == 3 * 3 + 3


@pytest.mark.slow
def test_recipe_summary_states_ours_beside_the_papers():
    s = experiments.recipe_summary("lenet5")
    assert s["ours"]["sparsity"] == {"conv1": 0.34, "conv2": 0.88, "fc1": 0.95, "fc2": 0.81}
    assert s["ours"]["bits"] == {"conv1": 8, "conv2": 8, "fc1": 5, "fc2": 5}
    assert s["paper"]["baseline_error"] == 0.80 and s["paper"]["sparsity"]["fc1"] == 0.92
    base_acc = train.evaluate(train.baseline("lenet5", progress=False))
    assert s["ours"]["baseline_error"] == pytest.approx(100 - base_acc, abs=0.006)
    assert s["ours"]["epochs"] == 3 * 3 + 3
    s300 = experiments.recipe_summary("lenet300")
    assert s300["ours"]["bits"] == {"fc1": 5, "fc2": 5, "fc3": 5} and s300["paper"]["bits"]["fc1"] == 6
    with pytest.raises(ValueError, match="allowed"):
        experiments.recipe_summary("cnn")


@pytest.mark.slow
def test_run_selects_the_baseline_seed_and_rejects_a_bad_one(monkeypatch):
    base = train.baseline("lenet300", progress=False)
    seeds = []
    monkeypatch.setattr(train, "baseline", lambda name, seed=0, **kw: seeds.append(seed) or copy.deepcopy(base))
    r = {"model": "lenet300", "steps": [{"method": "quantize", "bits": 8}, {"method": "encode", "values": "fixed"}]}
    with pytest.raises(ValueError, match="seed"):
        recipes.run(r, seed=-1, progress=False)
    def fake_cached_model(spec, make, fit=None, **kw):
        seeds.append(("spec", spec["seed"], tuple(kw["parents"])))
        m = make()
        fit(m)
        return m.eval()

    monkeypatch.setattr(train, "cached_model", fake_cached_model)
    recipes.run(r, seed=3, progress=False)
    assert seeds[0] == 3 and seeds[1] == ("spec", 3, (train.key_of(base),))


@pytest.mark.slow
def test_run_end_to_end_without_training(monkeypatch):
    """A recipe with 0 epochs runs every stage: the report's size is the file's length and the
    returned model is the decoded file."""
    from companion import train
    base = train.baseline("lenet300", progress=False)

    def no_cache(spec, make, fit=None, *, name="model", refresh=False, parents=(), code=()):
        m = make()
        if fit is not None:
            fit(m)
        return m.eval()

    monkeypatch.setattr(train, "baseline", lambda name, **kw: copy.deepcopy(base))
    monkeypatch.setattr(train, "cached_model", no_cache)
    r = {"name": "tiny", "model": "lenet300", "steps": [
        {"method": "prune", "sparsity": {"fc1": 0.9, "fc2": 0.8, "fc3": 0.5}, "rounds": 1, "epochs_per_round": 0},
        {"method": "share", "bits": 4, "epochs": 0},
        {"method": "encode", "index_bits": 5}]}
    res = recipes.run(r, progress=False)
    assert res.report.size_bits == 8 * len(res.data)
    assert [s.name for s in res.stages] == ["prune", "share", "encode"]
    sizes = [s.size_bits for s in res.stages]
    assert sizes[0] > sizes[1] > sizes[2]
    back = codec.read_model(res.data)
    for k, v in back.state_dict().items():
        assert torch.equal(v, res.model.state_dict()[k])
    assert res.report.accuracy == train.evaluate(back)
    assert res.report.compression_ratio > 20




def test_kd_exercise_accepts_a_hand_written_loss_and_rejects_plain_cross_entropy(capsys):
    def kd_loss(s, t, y, T, alpha):
        log_q, log_p = torch.log_softmax(s / T, 1), torch.log_softmax(t / T, 1)
        kl = (log_p.exp() * (log_p - log_q)).sum(1).mean()
        return alpha * T * T * kl + (1 - alpha) * torch.nn.functional.cross_entropy(s, y)

    exercises.check("ch6.kd_loss", kd_loss)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch6.kd_loss", lambda s, t, y, T, alpha: torch.nn.functional.cross_entropy(s, y))


def test_pareto_figure_draws_wilson_intervals():
    from companion import metrics
    from companion.joint import figures
    reps = {n: metrics.CompressionReport(n, 8 * s, 8 * 1_000_000, 1000, 2000, acc, 97.0, 100, 50, ())
            for n, s, acc in (("a", 20_000, 96.0), ("b", 50_000, 97.5))}
    fig = figures.pareto_figure(reps, n_test=1000)
    bars = [c for c in fig.axes[0].containers if c.__class__.__name__ == "ErrorbarContainer"]
    assert len(bars) == 2
    low, high = bars[0].lines[2][0].get_segments()[0][:, 1]
    assert (round(low, 2), round(high, 2)) == (94.6, 97.05)   # Wilson 95 % of 960/1000
    assert not [c for c in figures.pareto_figure(reps).axes[0].containers
                if c.__class__.__name__ == "ErrorbarContainer"]
