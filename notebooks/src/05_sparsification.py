# %% [markdown]
# # 5. Network sparsification
#
# Most weights of a trained network are close to zero, and many can be removed outright. In this
# chapter you will prune LeNet-300-100 and LeNet-5 to a small fraction of their weights without
# losing accuracy, see why *how* you prune (one-shot, iteratively, gradually) matters, remove
# whole filters so that the layers really shrink, store sparse weights in CSR and in Deep
# Compression's relative-index format with every index bit counted, and measure on a CPU when
# sparsity turns into speed — and when it does not.
#
# ```{admonition} In this chapter
# **Goals**: *implement* magnitude masks and attach them with `torch.nn.utils.parametrize`;
# *compare* one-shot, iterative and gradual pruning; *shrink* a network by removing filters
# (L1 norm, group lasso) and apply 2:4 sparsity; *compute* the exact size of CSR and
# relative-index storage; *measure* sparse vs dense speed on a CPU.
#
# **Prerequisites**: chapters 1 (metrics) and 4 (the bits of a weight). **Survey**: after the
# survey's section on network sparsification {cite:p}`deng2020model`.
#
# **Run time**: {glue:text}`ch5_runtime_s:.0f` s on the CPU that built this page, with the
# pruned models in the cache; the first run retrains them ({{ cold_each_05_s }} s on
# {{ cold_each_cores }} cores from an empty cache, with progress bars). **GPU**: not needed; it would only speed up that first run.
# ```

# %% tags=["nbval-ignore-output"]
import copy

import numpy as np
import pandas as pd
import torch
from torch import nn
from IPython.display import display

from companion import claims, data, metrics, nb, plotting, stats, train, widgets
from companion import sparsity as sp
from companion.exercises import check

dev = nb.setup()
base300, base5 = train.baseline("lenet300"), train.baseline("lenet5")
acc300, acc5 = train.evaluate(base300), train.evaluate(base5)

# %% tags=["check-within-noise"]
for name, m, acc in (("LeNet-300-100", base300, acc300), ("LeNet-5", base5, acc5)):
    w = sum(l.weight.numel() for l in sp.prunable_layers(m).values())
    print(f"{name:14s} {w:7,d} weights, {metrics.count_params(m):7,d} parameters, test accuracy {acc:.1f} %")

# %% [markdown]
# ## The principle: zero the smallest weights
#
# Magnitude pruning {cite:p}`han2015learning` keeps a weight only if its magnitude exceeds a
# threshold $t$, chosen so that a fraction $s$ (the **sparsity**) of the $n$ weights is removed:
#
# $$ \hat W = W \odot M, \qquad M_{ij} = \big[\,|W_{ij}| > t\,\big], \qquad \#\{M_{ij} = 0\} = \operatorname{round}(s\,n). $$
#
# On a 2×3 tensor at $s = 0.5$ the three smallest magnitudes (0.05, 0.1, 0.4) go. Our
# `magnitude_mask` agrees with PyTorch's own `l1_unstructured` (the tests check it on random
# shapes; on ties ours prunes the lower index first, so it is deterministic):

# %% tags=["nbval-check-output"]
from torch.nn.utils import prune as torch_prune

w = torch.tensor([[0.9, -0.1, 0.4], [-0.05, 1.3, -0.6]])
mask = sp.magnitude_mask(w, 0.5)
oracle = nn.Linear(3, 2)
oracle.weight.data = w.clone()
torch_prune.l1_unstructured(oracle, "weight", amount=0.5)
print("mask\n", mask, "\npruned weight\n", w * mask)
print("same as torch.nn.utils.prune:", torch.equal(mask, oracle.weight_mask.bool()))

# %% [markdown]
# During retraining the pruned weights must *stay* zero. `prune_` attaches the mask as a
# parametrization: the layer's `weight` is recomputed as `original * mask` at every use, so the
# gradient that reaches `original` is multiplied by the mask too. `bake_masks_` removes the
# parametrization and keeps the zeros in a plain weight. One optimiser step shows it:

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
layer = nn.Linear(4, 3)
sp.prune_(layer, 0.5)
print(type(layer).__name__, "— weight = original * mask")
opt = torch.optim.SGD(layer.parameters(), lr=0.5)
layer(torch.randn(8, 4)).pow(2).sum().backward()
opt.step()
print("zeros after a step:", int((layer.weight == 0).sum()), "of", layer.weight.numel())
kept = layer.parametrizations.weight[0].mask
print("largest gradient of a pruned weight:", float(layer.parametrizations.weight.original.grad[~kept].abs().max()))
sp.bake_masks_(layer)
print(type(layer).__name__, "after bake_masks_, zeros kept:", int((layer.weight == 0).sum()))

# %% [markdown]
# ### Storing what is left: CSR and relative indices
#
# A pruned matrix is only smaller if the zeros are not stored, and then every kept value needs
# an **index**. *CSR* (compressed sparse row) keeps the values, their column indices and one
# pointer per row; *CSC* does the same by columns (EIE stores weights this way
# {cite:p}`han2016eie`). Deep Compression {cite:p}`han2016deep` stores, per value, the number of
# zeros since the previous one in a few bits; when a run of zeros is longer than the largest
# gap $2^b-1$, a **padding zero** is stored. The sizes count every bit:

# %% tags=["nbval-check-output"]
pw = torch.tensor([[0.0, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.2],
                   [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                   [2.1, 0.0, 0.0, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
csr = sp.csr_encode(pw)
r2 = lambda t: [round(v, 2) for v in t.tolist()]
print("CSR values ", r2(csr.values), "\n    indices", csr.indices.tolist(), "\n    row ptr", csr.ptr.tolist())
values, gaps = sp.relative_index_encode(pw.reshape(-1), index_bits=3)
print("relative (3-bit gaps): values", r2(values), "\n                      gaps  ", gaps.tolist(),
      f"-> {int((values == 0).sum())} padding zeros")
assert torch.equal(sp.csr_decode(csr), pw) and torch.equal(sp.relative_index_decode(values, gaps, pw.numel()), pw.reshape(-1))
for fmt in sp.FORMATS:
    print(f"{fmt:8s} {sp.sparse_size_bits(pw, fmt, value_bits=32, index_bits=3 if fmt == 'relative' else None):5d} bits")

# %% [markdown]
# ## On real networks: how sensitive is each layer?
#
# Before pruning a whole network, prune **one layer at a time** (no retraining) and watch the
# validation accuracy {cite:p}`han2015learning`. A flat curve means a redundant layer.

# %% mystnb={"figure": {"caption": "Sensitivity analysis: validation accuracy when only one layer is pruned (no retraining), against that layer's sparsity, for LeNet-300-100 (left) and LeNet-5 (right).", "name": "fig-ch5-layer-sensitivity"}, "image": {"alt": "Two line charts, one line per layer, of validation accuracy against the sparsity of that single layer; some layers keep their accuracy far longer than others."}} tags=["nbval-ignore-output"]
sens = {name: sp.baseline_sensitivity(name) for name in ("lenet300", "lenet5")}
SW = list(sp.SWEEP_SPARSITIES)
fig, axes = plotting.new_figure(2, 1, width=10, height=3.4)
for ax, (name, sweep) in zip(axes, sens.items()):
    for i, (layer_name, accs) in enumerate(sweep.items()):
        ax.plot([100 * s for s in SW], accs, "o-", color=plotting.PALETTE[i], label=layer_name)
    ax.set_xlabel("sparsity of that one layer (%)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{name}: one layer pruned, no retraining")
    ax.set_ylim(0, 100)
    ax.legend()
display(fig)

# %% tags=["check-within-noise"]
for name, sweep in sens.items():
    picks = sp.sparsities_from_sensitivity(sweep, SW, sweep[next(iter(sweep))][0], max_drop=1.0)
    print(f"{name:9s} highest sparsity within 1 point, per layer:", {k: f"{v:.0%}" for k, v in picks.items()})

# %% [markdown]
# The big fully connected layers (LeNet-300-100's `fc1`, LeNet-5's `fc1`) are the most redundant
# and hold most of the weights; the first conv (only 500 weights) and the classifiers are the most
# sensitive. Without retraining, these tolerances are modest. **Retraining** lets the remaining
# weights compensate. We pick per-layer targets in this order of sensitivity (by hand, on the
# validation split, never on the test split) and prune *gradually* {cite:p}`zhu2017prune`:
# the sparsity rises along $s_t = s_f\,(1 - (1 - t/T)^3)$ during the first three quarters of
# training, re-pruning every 10 steps, and the last quarter fine-tunes at the final sparsity.

# %% tags=["nbval-ignore-output"]
TARGETS = {"lenet300": {"fc1": 0.97, "fc2": 0.92, "fc3": 0.75},
           "lenet5": {"conv1": 0.5, "conv2": 0.9, "fc1": 0.97, "fc2": 0.85}}
EPOCHS = {"lenet300": 40, "lenet5": 30}
pruned = {n: sp.pruned_model(n, TARGETS[n], method="gradual", epochs=EPOCHS[n]) for n in TARGETS}
bases = {"lenet300": base300, "lenet5": base5}
base_acc = {"lenet300": acc300, "lenet5": acc5}

# %% tags=["check-within-noise"]
HAN_KEPT = {"lenet300": [8, 9, 26], "lenet5": [66, 12, 8, 19]}  # Han et al. 2015, Table 2 and 3 (%)
headline = {}
for name, m in pruned.items():
    acc = train.evaluate(m)
    headline[name] = dict(acc=acc, ratio=sp.weight_ratio(m), ratio_bias=sp.weight_ratio(m, include_bias=True),
                          drop=round(base_acc[name] - acc, 2))  # accuracies move in 0.1-point steps
    print(f"{name}: {headline[name]['ratio']:.1f}x fewer non-zero weights "
          f"({headline[name]['ratio_bias']:.1f}x counting biases), test accuracy {base_acc[name]:.1f} % -> "
          f"{acc:.1f} % (drop {headline[name]['drop']:.1f} points)")
    rows = []
    for (layer_name, mod), han in zip(sp.prunable_layers(m).items(), HAN_KEPT[name]):
        nz = int((mod.weight != 0).sum())
        rows.append({"layer": layer_name, "weights": mod.weight.numel(), "non-zero": nz,
                     "kept (ours, %)": round(100 * nz / mod.weight.numel(), 1), "kept (Han, %)": han})
    print(pd.DataFrame(rows).set_index("layer").to_string(), "\n")

# %% tags=["hide-input"]
nb.glue("prune_lenet300_ratio", headline["lenet300"]["ratio"])
nb.glue("prune_lenet300_acc_drop", headline["lenet300"]["drop"])
nb.glue("prune_lenet5_ratio", headline["lenet5"]["ratio"])
nb.glue("prune_lenet5_acc_drop", headline["lenet5"]["drop"])
nb.glue("ch5_lenet300_ratio_bias", headline["lenet300"]["ratio_bias"])
nb.glue("ch5_lenet5_ratio_bias", headline["lenet5"]["ratio_bias"])
nb.glue("ch5_lenet300_acc", headline["lenet300"]["acc"])
nb.glue("ch5_lenet5_acc", headline["lenet5"]["acc"])
N_TEST = len(data.load_mnist("test")[1])  # 1,000 images
for name, m in pruned.items():
    ci = stats.accuracy_interval(headline[name]["acc"], N_TEST)
    test = stats.mcnemar_exact(stats.per_image_correct(m), stats.per_image_correct(bases[name]))
    nb.glue(f"ch5_{name}_acc_ci_low", ci.low)
    nb.glue(f"ch5_{name}_acc_ci_high", ci.high)
    nb.glue(f"prune_{name}_mcnemar_p", test.p_value)
    nb.glue(f"ch5_{name}_recipe", ", ".join(f"{k} {v:.0%}" for k, v in TARGETS[name].items())
            + f" sparsity, gradual, {EPOCHS[name]} epochs")
    nb.glue(f"ch5_{name}_base_err", 100 - base_acc[name])
    nb.glue(f"ch5_{name}_pruned_err", 100 - headline[name]["acc"])
    headline[name]["verdict"] = claims.verdict(test.only_a - test.only_b, test.p_value)
# "keeps its accuracy", "at no measurable accuracy cost": McNemar finds the pruned network no worse
nb.claim("ch5_keeps_accuracy_claim", "both pruned networks keep their accuracy (McNemar: not distinguishably lower)",
         all(h["verdict"] != "lower" for h in headline.values()),
         **{f"{n} vs baseline": h["verdict"] for n, h in headline.items()})

# %% [markdown]
# LeNet-300-100 keeps its accuracy with {glue:text}`prune_lenet300_ratio:.1f`x fewer non-zero
# weights (drop {glue:text}`prune_lenet300_acc_drop:.1f` points) and LeNet-5 with
# {glue:text}`prune_lenet5_ratio:.1f`x (drop {glue:text}`prune_lenet5_acc_drop:.1f` points);
# Han et al. report 12x for both. The ratio counts **weights only**, as Han et al.'s per-layer
# tables do; biases are never pruned, and counting them gives
# {glue:text}`ch5_lenet300_ratio_bias:.1f`x and {glue:text}`ch5_lenet5_ratio_bias:.1f`x. The test
# split has 1,000 images, so an accuracy moves in steps of 0.1 point (one image) and one run is
# known only to about ±1 point: 95 % Wilson intervals
# {glue:text}`ch5_lenet300_acc_ci_low:.1f`–{glue:text}`ch5_lenet300_acc_ci_high:.1f` % (LeNet-300-100)
# and {glue:text}`ch5_lenet5_acc_ci_low:.1f`–{glue:text}`ch5_lenet5_acc_ci_high:.1f` % (LeNet-5).
# McNemar's exact test of pruned against dense on the same images gives
# p = {glue:text}`prune_lenet300_mcnemar_p:.2f` and p = {glue:text}`prune_lenet5_mcnemar_p:.2f`:
# "keeps its accuracy" means no difference this test set can detect, not a gain or a loss.
#
# Non-zeros are not bytes. On the shared ruler of chapter 1, storing the pruned models needs
# an index per kept weight; the relative-index format with 5-bit gaps (8-bit for conv layers)
# is what Deep Compression uses, CSR with the narrowest indices is the textbook format:

# %% tags=["check-within-noise"]
reports = []
for name, m in pruned.items():
    acc = headline[name]["acc"]
    for fmt in ("dense", "csr", "relative"):
        parts = sp.sparse_storage(m, fmt)
        size = sum(p.bits for p in parts)
        breakdown = {"values": sum(p.weight_bits for p in parts), "index": sum(p.index_bits for p in parts),
                     "biases": sum(p.bias_bits for p in parts)}
        reports.append(metrics.make_report(f"{name} pruned, {fmt}", m, bases[name], accuracy=acc,
                                           baseline_accuracy=base_acc[name], size_bits=size, breakdown=breakdown,
                                           nonzero_macs=True))
table = metrics.compare(reports)
table["index share (%)"] = [100 * dict(r.breakdown)["index"] / r.size_bits for r in reports]
print(table[["size (KB)", "ratio", "MAC reduction", "accuracy (%)", "index share (%)"]].round(2).to_string())

# %% tags=["hide-input"]
rel300 = next(r for r in reports if r.name == "lenet300 pruned, relative")
csr300 = next(r for r in reports if r.name == "lenet300 pruned, csr")
nb.glue("ch5_lenet300_rel_ratio", rel300.compression_ratio)
nb.glue("ch5_lenet300_csr_ratio", csr300.compression_ratio)
nb.glue("ch5_lenet300_rel_index_share", 100 * dict(rel300.breakdown)["index"] / rel300.size_bits)

# %% [markdown]
# In bytes the ratios are lower than in non-zeros: CSR brings LeNet-300-100 down
# {glue:text}`ch5_lenet300_csr_ratio:.1f`x, the relative format {glue:text}`ch5_lenet300_rel_ratio:.1f`x
# (its overhead is {glue:text}`ch5_lenet300_rel_index_share:.0f` % of the bits). Why does Deep
# Compression's format lose here? With only {glue:text}`ch5_fc1_kept:.0f` % of `fc1` kept, runs of
# zeros are often longer than the 31 a 5-bit gap can span, so {glue:text}`ch5_fc1_pads:,`
# padding zeros are stored, each with a full 32-bit value (Han et al.'s `fc1` kept 8 %, so 5 bits
# suited it). The gap width must fit the density, and the values' width decides what a padding
# entry costs:

# %% tags=["check-within-noise"]
fc1 = pruned["lenet300"].fc1.weight.detach()
pads = int((sp.relative_index_encode(fc1.reshape(-1), 5)[0] == 0).sum())
fc1_kb = {}
for vb in (32, 5):
    fc1_kb[vb] = {"CSR": sp.sparse_size_bits(fc1, "csr", value_bits=vb) / 8 / 1024}
    fc1_kb[vb].update({f"relative, {b}-bit gaps": sp.sparse_size_bits(fc1, "relative", value_bits=vb, index_bits=b) / 8 / 1024
                       for b in (4, 5, 6, 7, 8)})
print("size of the pruned fc1 (KB)")
print(pd.DataFrame(fc1_kb).rename(columns=lambda vb: f"{vb}-bit values").round(1).to_string())

# %% tags=["hide-input"]
nb.glue("ch5_fc1_pads", pads)
nb.glue("ch5_fc1_kept", 100 * float((fc1 != 0).float().mean()))
best5 = min((v, b) for b in (4, 5, 6, 7, 8) for v in [fc1_kb[5][f"relative, {b}-bit gaps"]])
nb.glue("ch5_fc1_best5_kb", best5[0])
nb.glue("ch5_fc1_best5_bits", best5[1])
nb.glue("ch5_fc1_csr5_kb", fc1_kb[5]["CSR"])

# %% [markdown]
# With 32-bit values CSR (10-bit column indices) and 8-bit gaps come out about even; with 5-bit values
# (chapter 6) relative indices with {glue:text}`ch5_fc1_best5_bits`-bit gaps take
# {glue:text}`ch5_fc1_best5_kb:.1f` KB against CSR's {glue:text}`ch5_fc1_csr5_kb:.1f` KB. There is no best format in general, only a best
# format for a density and a bitwidth — one more reason to count the index bits every time.
#
# "MAC reduction" in the table counts only MACs with a non-zero weight: work a sparse engine
# *could* skip, not what a CPU does (see below).
#
# ## One-shot, iterative or gradual?
#
# With the same budget of 6 retraining epochs, prune LeNet-300-100 uniformly (every layer at the
# same sparsity) in three ways: **one-shot** (prune once, then retrain), **iterative** (3 rounds
# of prune → retrain 2 epochs, each round keeping the same fraction {cite:p}`han2015learning`)
# and **gradual** (the cubic schedule of Zhu and Gupta). The dashed line is one-shot without any
# retraining.

# %% mystnb={"figure": {"caption": "LeNet-300-100 pruned to the same sparsity in every layer: test accuracy without retraining and after six retraining epochs with each pruning method, against the dense baseline.", "name": "fig-ch5-accuracy-vs-sparsity"}, "image": {"alt": "Line chart of test accuracy against sparsity from 50 to 98 percent: the dashed no-retraining line falls early while the retrained lines stay near the grey baseline."}} tags=["nbval-ignore-output"]
CURVE_S = [0.5, 0.8, 0.9, 0.95, 0.98]

def one_shot_no_retrain(name, s):
    return sp.prune_(copy.deepcopy(bases[name]), s)

curves = {"no retraining": [train.evaluate(one_shot_no_retrain("lenet300", s)) for s in CURVE_S]}
curve_models = {meth: {s: sp.pruned_model("lenet300", s, method=meth, epochs=6) for s in CURVE_S} for meth in sp.PRUNING_METHODS}
curves.update({meth: [train.evaluate(curve_models[meth][s]) for s in CURVE_S] for meth in sp.PRUNING_METHODS})

fig, ax = plotting.new_figure(width=7, height=3.6)
for i, (meth, accs) in enumerate(curves.items()):
    ax.plot([100 * s for s in CURVE_S], accs, "o--" if meth == "no retraining" else "o-",
            color=plotting.PALETTE[i], label=meth)
ax.axhline(acc300, color="grey", lw=0.8, label="dense baseline")
ax.set_xlabel("sparsity of every layer (%)")
ax.set_ylabel("test accuracy (%)")
ax.set_title("LeNet-300-100: accuracy vs sparsity, 6 retraining epochs")
ax.set_ylim(max(0, min(min(a) for a in curves.values()) - 5), 100)
ax.legend()
display(fig)

# %% tags=["check-within-noise"]
print(pd.DataFrame(curves, index=[f"{s:.0%}" for s in CURVE_S]).round(1).to_string())

# %% tags=["hide-input"]
nb.glue("ch5_curve_s", 100 * CURVE_S[-1])
for meth in curves:
    nb.glue(f"ch5_curve_{meth.replace('-', '_').replace(' ', '_')}", curves[meth][-1])
# "every schedule recovers the baseline up to 80 %": checked, on the 1,000 test images' intervals
upto = max(i for i, s_ in enumerate(CURVE_S) if s_ <= 0.8)
recovers = all(claims.compare_accuracies(curves[m][i], acc300, N_TEST) != "lower"
               for m in sp.PRUNING_METHODS for i in range(upto + 1))
nb.claim("ch5_recover_claim", f"up to {100 * CURVE_S[upto]:.0f} % every retrained schedule stays within the noise "
         "of the baseline (or above it)", recovers,
         **{f"{m} {100 * CURVE_S[i]:.0f}%": curves[m][i] for m in sp.PRUNING_METHODS for i in range(upto + 1)},
         baseline=acc300)

# %% [markdown]
# In the figure, {glue:text}`ch5_recover_claim`: at moderate sparsity six epochs of retraining
# repair what pruning broke. The difference shows at the extreme, where a single run is a poor
# witness: the network keeps a few hundred weights and its accuracy depends on which survive. So at {glue:text}`ch5_curve_s:.0f` % we repeat each
# schedule for three seeds (each seed its own baseline, shipped with the book) and add a **dense
# control**: the baseline retrained for the same six epochs with the same recipe and no pruning
# (`pruned_model(..., 0.0, method="one-shot")`), so that any gain from pruning is measured
# against more training, not against less:

# %% tags=["check-within-noise"]
SEEDS = (0, 1, 2)
S_MAX = CURVE_S[-1]
at_max = {meth: [train.evaluate(sp.pruned_model("lenet300", S_MAX, method=meth, epochs=6, seed=s, progress=False))
                 for s in SEEDS] for meth in sp.PRUNING_METHODS}
at_80 = {meth: [train.evaluate(sp.pruned_model("lenet300", 0.8, method=meth, epochs=6, seed=s, progress=False))
                for s in SEEDS] for meth in sp.PRUNING_METHODS}
dense_control = [train.evaluate(sp.pruned_model("lenet300", 0.0, method="one-shot", epochs=6, seed=s, progress=False))
                 for s in SEEDS]
summary = {meth: stats.seed_summary(v) for meth, v in at_max.items()}
for meth, v in summary.items():
    print(f"{meth:9s} at {S_MAX:.0%}: {v}  (seeds: {', '.join(f'{a:.1f}' for a in at_max[meth])})")
print(f"dense control, 6 more epochs: {stats.seed_summary(dense_control)}")
print(f"one-shot at 80 %:             {stats.seed_summary(at_80['one-shot'])}")

# %% tags=["hide-input"]
for meth, v in summary.items():
    key = meth.replace("-", "_")
    nb.glue(f"ch5_s98_{key}_mean", v.mean)
    nb.glue(f"ch5_s98_{key}_ci", f"{v.low:.1f}–{v.high:.1f} %")
nb.glue("ch5_s98_swing", max(max(v) - min(v) for v in at_max.values()))
welch = stats.welch_t_test(at_max["gradual"], at_max["one-shot"])
nb.glue("ch5_s98_gradual_vs_oneshot_p", welch.p_value)
nb.glue("ch5_s98_gradual_vs_oneshot", {"higher": "more accurate than", "lower": "less accurate than",
                                       "not distinguishable": "not distinguishable from"}[
    claims.verdict(np.mean(at_max["gradual"]) - np.mean(at_max["one-shot"]), welch.p_value)])
reg = stats.welch_t_test(at_80["one-shot"], dense_control)
nb.glue("ch5_s80_vs_dense_p", reg.p_value)
nb.glue("ch5_s80_vs_dense_mean", float(np.mean(at_80["one-shot"]) - np.mean(dense_control)))
nb.glue("ch5_s80_vs_dense", {"higher": "more accurate than", "lower": "less accurate than",
                             "not distinguishable": "not distinguishable from"}[
    claims.verdict(np.mean(at_80["one-shot"]) - np.mean(dense_control), reg.p_value)])

# %% [markdown]
# At {glue:text}`ch5_curve_s:.0f` % in every layer (the 1,000-weight classifier keeps 20 weights),
# the three seeds of one schedule differ by up to {glue:text}`ch5_s98_swing:.0f` points. Over the
# three seeds one-shot + retraining reaches {glue:text}`ch5_s98_one_shot_mean:.1f` %
# (95 % interval of the mean {glue:text}`ch5_s98_one_shot_ci`), iterative
# {glue:text}`ch5_s98_iterative_mean:.1f` % ({glue:text}`ch5_s98_iterative_ci`) and gradual
# {glue:text}`ch5_s98_gradual_mean:.1f` % ({glue:text}`ch5_s98_gradual_ci`); Welch's test finds gradual
# {glue:text}`ch5_s98_gradual_vs_oneshot` one-shot (p = {glue:text}`ch5_s98_gradual_vs_oneshot_p:.2f`).
# Gradual pruning removes weights in many small steps while training goes on, so the network can
# re-route before the next weights go; iterative pruning with 3 rounds has a large last step and
# only 2 epochs to recover from it (Han et al. iterate far longer). With three seeds only large,
# consistent gaps are distinguishable.
#
# Does pruning *regularise*, as is often said of small training sets? At 80 % one-shot pruning
# with retraining is {glue:text}`ch5_s80_vs_dense` the dense control trained for the same six
# epochs ({glue:text}`ch5_s80_vs_dense_mean:+.2f` points on average, Welch p =
# {glue:text}`ch5_s80_vs_dense_p:.2f`): whatever pruning adds is measured against the extra training
# itself.
#
# ## Structured sparsity: remove whole filters
#
# Unstructured zeros are scattered: the layer keeps its shape and a dense CPU kernel multiplies
# every zero. **Filter pruning** {cite:p}`li2017pruning` removes whole output channels (a
# conv's filters, a linear layer's neurons) with the smallest L1 norm $\lVert W_c\rVert_1$,
# and with them the matching inputs of the next layer. `prune_channels` builds a physically
# smaller network; it computes *exactly* what the original computes with those channels zeroed
# (the tests check it). We remove the same fraction of channels in `conv1`, `conv2` and `fc1`
# of LeNet-5, fine-tune 2 epochs, and compare with unstructured pruning that removes the same
# fraction of weights:

# %% tags=["nbval-ignore-output"]
CH_LEVELS = [0.25, 0.5, 0.75]
n_weights = lambda mod: sum(l.weight.numel() for l in sp.prunable_layers(mod).values())
struct = []
for c in CH_LEVELS:
    small = sp.channel_pruned_model("lenet5", c, epochs=2)
    s_match = round(1 - n_weights(small) / n_weights(base5), 2)
    unstr = sp.pruned_model("lenet5", s_match, method="one-shot", epochs=2)
    struct.append({"channels removed": f"{c:.0%}", "weights removed": f"{s_match:.0%}",
                   "structured acc (%)": train.evaluate(small), "unstructured acc (%)": train.evaluate(unstr),
                   "structured MACs": metrics.measure_macs(small),
                   "unstructured non-zero MACs": metrics.measure_macs(unstr, nonzero=True),
                   "shape conv1/conv2/fc1": "/".join(str(l.weight.shape[0]) for l in list(sp.prunable_layers(small).values())[:3]),
                   "_model": small})
struct_df = pd.DataFrame(struct).drop(columns="_model").set_index("channels removed")

# %% tags=["check-within-noise"]
print(f"dense LeNet-5: {metrics.measure_macs(base5):,} MACs, accuracy {acc5:.1f} %")
print(struct_df.round(1).to_string())

# %% tags=["hide-input"]
nb.glue("ch5_struct_half_acc", struct[1]["structured acc (%)"])
nb.glue("ch5_unstruct_half_acc", struct[1]["unstructured acc (%)"])
nb.glue("ch5_struct_half_mac_red", metrics.measure_macs(base5) / struct[1]["structured MACs"])
nb.glue("ch5_struct_max_drop", acc5 - struct[-1]["structured acc (%)"])
nb.glue("ch5_unstruct_max_drop", acc5 - struct[-1]["unstructured acc (%)"])
nb.glue("ch5_struct_max_ratio", n_weights(base5) / n_weights(struct[-1]["_model"]))

# %% [markdown]
# Removing half of the channels keeps {glue:text}`ch5_struct_half_acc:.1f` % (unstructured at
# the same weight count: {glue:text}`ch5_unstruct_half_acc:.1f` %) and cuts the MACs
# {glue:text}`ch5_struct_half_mac_red:.1f`x in a *dense* network that every library runs fast.
# At 75 % of the channels the structured network loses {glue:text}`ch5_struct_max_drop:.1f`
# points and uniform unstructured pruning {glue:text}`ch5_unstruct_max_drop:.1f`: a *uniform*
# unstructured cut also strips the small, sensitive `conv1` and classifier, which filter pruning
# leaves whole (only their inputs shrink), and 2 epochs are few. The survey's point shows in the
# best ratios instead: with tuned per-layer targets and the gradual schedule, unstructured
# pruning kept LeNet-5 within {glue:text}`prune_lenet5_acc_drop:.1f` points at
# {glue:text}`prune_lenet5_ratio:.1f`x fewer weights, while removing 75 % of the channels
# ({glue:text}`ch5_struct_max_ratio:.1f`x fewer weights) already costs points. Structured sparsity
# is coarser — a whole filter goes, good weights included — but its savings are real on any
# hardware.
#
# **Group lasso** (structured sparsity learning {cite:p}`wen2016learning`) prepares a network
# for this: adding $\lambda \sum_c \lVert W_c \rVert_2$ to the loss pushes whole filters towards
# zero, so removing them later costs less. We retrain LeNet-5 4 epochs with it, remove every
# filter / neuron whose L2 norm it has pushed below 0.01, and remove the same number of
# lowest-L1 channels from the baseline, both without fine-tuning:

# %% mystnb={"figure": {"caption": "Sorted L2 norms of the filters (channels) of three LeNet-5 layers, baseline against training with a group-lasso penalty: the penalty drives whole channels towards zero, below the dotted threshold.", "name": "fig-ch5-group-lasso-norms"}, "image": {"alt": "Three line charts on a log vertical axis, one per layer, of sorted channel norms: the group-lasso curve drops below the dotted line for many channels while the baseline curve stays above it."}} tags=["nbval-ignore-output"]
GL_STRENGTH = 1e-2
gl5 = sp.group_lasso_model("lenet5", GL_STRENGTH, epochs=4)
fig, axes = plotting.new_figure(3, 1, width=11, height=3)
for ax, layer_name in zip(axes, ["conv1", "conv2", "fc1"]):
    for i, (label, m) in enumerate((("baseline", base5), ("group lasso", gl5))):
        norms = sp.channel_norms(sp.prunable_layers(m)[layer_name].weight, p=2)
        ax.semilogy(np.sort(norms.numpy())[::-1], color=plotting.PALETTE[i], label=label)
    ax.axhline(0.01, color="grey", ls=":", lw=1)
    ax.set_xlabel(f"{layer_name} channel (sorted)")
    ax.set_ylabel("L2 norm of the channel (log)")
    ax.set_title(f"{layer_name}: filter norms")
    ax.legend()
display(fig)

# %% tags=["check-within-noise"]
gl_layers = list(sp.prunable_layers(gl5).items())[:-1]
gl_plan = {n: float((sp.channel_norms(l.weight, p=2) < 0.01).float().mean()) for n, l in gl_layers}
print("channels removed:", {n: f"{round(f * l.weight.shape[0])} of {l.weight.shape[0]}" for (n, l), f in zip(gl_layers, gl_plan.values())})
gl_rows = []
for label, m in (("baseline", base5), ("group lasso", gl5)):
    cut = sp.prune_channels(m, gl_plan)
    gl_rows.append({"start": label, "accuracy (%)": train.evaluate(m), "after removal, no fine-tuning (%)": train.evaluate(cut),
                    "MACs after removal": metrics.measure_macs(cut)})
print(pd.DataFrame(gl_rows).set_index("start").round(1).to_string())

# %% tags=["hide-input"]
nb.glue("ch5_gl_acc", gl_rows[1]["accuracy (%)"])
nb.glue("ch5_gl_groups", sum(round(f * l.weight.shape[0]) for (n, l), f in zip(gl_layers, gl_plan.values())))
nb.glue("ch5_gl_cut_acc", gl_rows[1]["after removal, no fine-tuning (%)"])
nb.glue("ch5_base_cut_acc", gl_rows[0]["after removal, no fine-tuning (%)"])

# %% [markdown]
# An honest, humbling result: group lasso did push whole groups to zero
# ({glue:text}`ch5_gl_groups:.0f` channels below 0.01, almost all in `fc1`, so they can be cut
# at no further cost: {glue:text}`ch5_gl_cut_acc:.1f` %), but it paid for it up front
# ({glue:text}`ch5_gl_acc:.1f` % after 4 epochs at this strength), while cutting the same number
# of lowest-L1 channels from the baseline costs almost nothing ({glue:text}`ch5_base_cut_acc:.1f` %):
# LeNet-5's `fc1` trained on 3,500 digits already has many near-dead neurons (see the baseline's
# tail of tiny norms in the plot). Group lasso earns its keep when the network has no such free
# redundancy and the cut must go deeper; a weaker strength over more epochs costs less accuracy.
# It also *chooses* how many channels each layer loses, instead of a uniform fraction.
#
# ### N:M sparsity: structure a GPU can use
#
# Between the two extremes, **N:M** sparsity keeps at most N non-zeros in every group of M
# consecutive weights. 2:4 is what NVIDIA's Ampere tensor cores run at up to twice the dense
# speed {cite:p}`mishra2021accelerating`: a fixed 50 %, with a 2-bit index per kept value.
# (LeNet-5's `conv1` has 25 inputs per filter, not a multiple of 4, so it stays dense.)

# %% tags=["check-within-noise"]
for name in ("lenet300", "lenet5"):
    one_shot = sp.prune_nm_(copy.deepcopy(bases[name]), 2, 4)
    retrained = sp.nm_pruned_model(name, 2, 4, epochs=2)
    print(f"{name:9s} 2:4 sparsity {1 - 1 / sp.weight_ratio(retrained):.1%} of the weights; accuracy "
          f"{base_acc[name]:.1f} % -> {train.evaluate(one_shot):.1f} % (one-shot) -> "
          f"{train.evaluate(retrained):.1f} % (2 epochs retrained)")

# %% [markdown]
# ## Activation sparsity comes for free
#
# ReLU zeroes every negative pre-activation, so the *inputs* of the next layer are sparse too
# without any pruning. Accelerators such as Cnvlutin {cite:p}`albericio2016cnvlutin` and EIE
# skip these zeros. Measured on the 1,000 test images:

# %% tags=["check-within-noise"]
x_test, _ = data.load_mnist("test")
act_rows = {}
for name in ("lenet300", "lenet5"):
    for label, m in (("dense", bases[name]), ("pruned", pruned[name])):
        act_rows[f"{name} {label}"] = {k: round(100 * v, 1) for k, v in sp.activation_sparsity(m, x_test).items()}
print("zero activations after ReLU (% of each layer's outputs)")
print(pd.DataFrame(act_rows).T.astype(object).fillna("-").to_string())

# %% tags=["hide-input"]
nb.glue("ch5_act_fc1_300", act_rows["lenet300 dense"]["fc1"])
nb.glue("ch5_act_fc1_300_pruned", act_rows["lenet300 pruned"]["fc1"])
nb.glue("ch5_act_fc2_300", act_rows["lenet300 dense"]["fc2"])
nb.glue("ch5_act_fc2_300_pruned", act_rows["lenet300 pruned"]["fc2"])
nb.glue("ch5_act_fc1_5", act_rows["lenet5 dense"]["fc1"])
nb.glue("ch5_act_fc1_5_pruned", act_rows["lenet5 pruned"]["fc1"])

# %% [markdown]
# About {glue:text}`ch5_act_fc1_300:.0f` % of LeNet-300-100's first hidden layer is zero on
# real digits: `fc2` could skip that share of its columns — multiplicative with the weight
# sparsity, which is how EIE combines both. But the two are not independent: **pruning makes
# the activations denser**. After pruning, LeNet-300-100's `fc1` outputs are zero only
# {glue:text}`ch5_act_fc1_300_pruned:.0f` % of the time (dense: {glue:text}`ch5_act_fc1_300:.0f` %),
# `fc2`'s {glue:text}`ch5_act_fc2_300_pruned:.0f` % (dense: {glue:text}`ch5_act_fc2_300:.0f` %), and
# LeNet-5's `fc1` {glue:text}`ch5_act_fc1_5_pruned:.0f` % (dense: {glue:text}`ch5_act_fc1_5:.0f` %):
# with fewer weights per neuron, retraining keeps more neurons active, so an accelerator that
# skips zero activations gains less on a pruned network than the dense one promises.
#
# ## Explore: a sparsity slider
#
# Pick a layer of LeNet-300-100, a sparsity (every layer pruned to it) and whether the network
# was retrained (gradual schedule, 6 epochs) or not. The left panel shows the dense weights'
# histogram (grey) and the weights that survive (colour); the middle panel the mask of the
# layer (black = kept; for `fc1`, the share kept in each 2×4 block); the right one the storage
# of that layer with its index overhead.

# %% tags=["nbval-ignore-output"]
EXPLORE_S = [0.0, 0.5, 0.8, 0.9, 0.95, 0.98]
MODES = ["no retraining", "gradual"]
dense_w = {n: l.weight.detach().numpy().ravel() for n, l in sp.prunable_layers(base300).items()}
edges = {n: np.linspace(w.min(), w.max(), 61) for n, w in dense_w.items()}
dense_hist = {n: np.log10(1 + np.histogram(w, edges[n])[0]) for n, w in dense_w.items()}
state = {}  # everything a frame shows, computed once: the frame only looks up and draws
for mode in MODES:
    for s in EXPLORE_S:
        m = base300 if s == 0 else (one_shot_no_retrain("lenet300", s) if mode == "no retraining"
                                    else curve_models["gradual"][s])
        layers = {}
        for n, l in sp.prunable_layers(m).items():
            wt = l.weight.detach()
            nz = wt[wt != 0].numpy()
            mask = (wt != 0).numpy().astype(float)
            if mask.shape == (300, 784):  # fc1: show the density of 2x4 blocks (a 150x196 picture draws fast)
                mask = mask.reshape(150, 2, 196, 4).mean(axis=(1, 3))
            layers[n] = {"hist": np.log10(1 + np.histogram(nz, edges[n])[0]),
                         "mask": mask, "nnz": nz.size, "n": wt.numel(),
                         "kb": {f: sp.sparse_size_bits(wt, f) / 8 / 1024 for f in ("dense", "csr", "relative")}}
        state[mode, s] = {"acc": train.evaluate(m), "layers": layers}

def sparsity_frame(layer="fc1", sparsity=0.9, training="gradual"):
    st = state[training, sparsity]
    ly = st["layers"][layer]
    fig, (a1, a2, a3) = plotting.new_figure(3, 1, width=12, height=3.3)
    a1.stairs(dense_hist[layer], edges[layer], fill=True, color="lightgrey", label="dense baseline")
    a1.stairs(ly["hist"], edges[layer], fill=True, color=plotting.PALETTE[0], alpha=0.8, label="kept (non-zero)")
    a1.set_xlabel("weight value")
    a1.set_ylabel("log10(1 + count)")
    a1.set_title(f"{layer}: {ly['nnz']:,} of {ly['n']:,} non-zero")
    a1.legend(fontsize=8)
    a2.imshow(ly["mask"], cmap="Greys", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
    a2.set_xlabel("input / 4 (2x4 blocks)" if layer == "fc1" else "input")
    a2.set_ylabel("output neuron / 2" if layer == "fc1" else "output neuron")
    a2.set_title(f"mask, {1 - ly['nnz'] / ly['n']:.0%} zeros")
    a3.bar(list(ly["kb"]), list(ly["kb"].values()), color=plotting.PALETTE[1:4])
    a3.set_ylabel(f"size of {layer} (KB, float32 values)")
    a3.set_title(f"whole net: test accuracy {st['acc']:.1f} %")
    return fig

ms = widgets.frame_timings_ms(sparsity_frame, {"layer": ["fc1"], "sparsity": [0.9], "training": MODES})
if not widgets.static_mode():  # a measurement for the live notebook, not the website
    print(f"rendering one frame: median {np.median(ms):.0f} ms (once, when the cell runs)")
explorer = widgets.explore(sparsity_frame, title="Pruning LeNet-300-100", dpi=64,
                           layer=["fc1", "fc2", "fc3"], sparsity=EXPLORE_S, training=MODES)
widgets.show_timing(explorer)

# %% [markdown]
# ## What it buys in practice: measured CPU time
#
# Zeros only save time if the kernel skips them. We time a LeNet-300-100 `fc1`-sized layer
# (300×784) as a dense matrix product and as `torch.sparse` CSR, at batch 1 and 64, on one core
# of this machine: five interleaved rounds (dense, CSR, dense, CSR, …), fastest of 30 runs per
# round, and the speed-up taken within each round, so a busy machine slows both alike. We
# print the median and the range over rounds; your numbers will differ. "ideal" is
# $1/\text{density}$, what skipping every zero for free would give.

# %% tags=["nbval-ignore-output"]
timing = sp.time_sparse_linear(300, 784, [0.0, 0.5, 0.9, 0.95, 0.99], (1, 64), repeats=30).to_frame()
timing["sparsity"] = (100 * timing["sparsity"]).round(0).astype(int).astype(str) + " %"
print(timing.set_index(["sparsity", "batch"]).round(2).to_string())
at95 = timing[(timing["sparsity"] == "95 %")].set_index("batch")["speedup"]
nb.glue("ch5_csr_speedup_95_b1", float(at95[1]), measured=True)
nb.glue("ch5_csr_speedup_95_b64", float(at95[64]), measured=True)
nb.glue("ch5_csr_speedup_50_b64", float(timing[(timing["sparsity"] == "50 %")].set_index("batch")["speedup"][64]), measured=True)
for pct, b in (("95 %", 1), ("95 %", 64), ("50 %", 64)):
    r = timing[(timing["sparsity"] == pct) & (timing["batch"] == b)].iloc[0]
    nb.glue(f"ch5_csr_speedup_{pct[:2]}_b{b}_range", f"{r['speedup_min']:.2f}–{r['speedup_max']:.2f}x", measured=True)

# %% tags=["nbval-ignore-output"]
nets = {"dense LeNet-5": base5, f"unstructured {headline['lenet5']['ratio']:.0f}x (dense kernel)": pruned["lenet5"],
        "50 % channels removed": struct[1]["_model"], "75 % channels removed": struct[2]["_model"]}
times = {b: metrics.compare_latency_ms(nets, (b, 1, 28, 28), rounds=5, repeats=4) for b in (1, 64)}
speed = pd.DataFrame([{"model": label, "MACs": metrics.measure_macs(m),
                       **{f"batch {b} (ms)": times[b].best_ms(label) for b in (1, 64)},
                       **{f"speedup b{b}": times[b].ratio("dense LeNet-5", label).mid for b in (1, 64)}}
                      for label, m in nets.items()]).set_index("model")
print(speed.round(2).to_string())
struct50 = times[64].ratio("dense LeNet-5", "50 % channels removed")
nb.glue("ch5_struct50_speedup_b64", struct50.mid, measured=True)
nb.glue("ch5_struct50_speedup_b64_range", struct50.text(".1f", "x"), measured=True)
nb.glue("ch5_struct50_mac_ratio", float(speed["MACs"].iloc[0] / speed["MACs"].iloc[2]))

# %% [markdown]
# On one core of this machine, at 95 % sparsity, CSR ran {glue:text}`ch5_csr_speedup_95_b1_range` the speed
# of dense at batch 1 and {glue:text}`ch5_csr_speedup_95_b64_range` at batch 64 (ranges over the
# rounds), against an ideal of 20x; at 50 % sparsity it is {glue:text}`ch5_csr_speedup_50_b64_range` — *slower* than
# dense whenever this is below 1. Sparse kernels pay for the indirection of every index, lose
# the vector units and the cache blocking of a dense GEMM, and only win at high sparsity. The
# unstructured LeNet-5 runs at dense speed: its zeros are multiplied like any other number.
# Structured pruning needs no special kernel: removing half of the channels divides the MACs by
# {glue:text}`ch5_struct50_mac_ratio:.1f` and gave a {glue:text}`ch5_struct50_speedup_b64_range`
# speed-up at batch 64. This gap between ideal and measured is why accelerators (chapter 7)
# build the skipping into hardware.
#
# ## Beside the literature
#
# Han et al. {cite:p}`han2015learning` pruned the same two networks on the full MNIST:

# %% tags=["check-within-noise"]
lit = pd.DataFrame([
    {"network": "LeNet-300-100", "source": "Han et al. 2015", "error before -> after (%)": "1.64 -> 1.59",
     "weights kept per layer (%)": "8 / 9 / 26", "ratio": "12x"},
    {"network": "LeNet-300-100", "source": "this chapter", "error before -> after (%)":
        f"{100 - acc300:.1f} -> {100 - headline['lenet300']['acc']:.1f}",
     "weights kept per layer (%)": " / ".join(f"{100 * (1 - s):.0f}" for s in sp.layer_sparsities(pruned['lenet300']).values()),
     "ratio": f"{headline['lenet300']['ratio']:.1f}x"},
    {"network": "LeNet-5", "source": "Han et al. 2015", "error before -> after (%)": "0.80 -> 0.77",
     "weights kept per layer (%)": "66 / 12 / 8 / 19", "ratio": "12x"},
    {"network": "LeNet-5", "source": "this chapter", "error before -> after (%)":
        f"{100 - acc5:.1f} -> {100 - headline['lenet5']['acc']:.1f}",
     "weights kept per layer (%)": " / ".join(f"{100 * (1 - s):.0f}" for s in sp.layer_sparsities(pruned['lenet5']).values()),
     "ratio": f"{headline['lenet5']['ratio']:.1f}x"},
])
print(lit.set_index(["network", "source"]).to_string())

# %% [markdown]
# Differences in setup: Han et al. train on all 60,000 MNIST digits and test on 10,000; we train
# on 3,500 and test on 1,000 (so our errors are higher and move in 0.1-point steps, and one image
# more or less is within noise). They prune iteratively with SGD; we use Adam and the gradual
# schedule. Their ratio counts parameters (267K → 22K); ours counts weights. Our per-layer
# targets are more aggressive in the big layers; on a small training set pruning also acts as a
# regulariser, which helps keep the accuracy. Deep Compression's 40x adds quantization and
# Huffman coding to the pruning — that is chapter 6.
#
# ## Exercises
#
# **1 (easy).** Write `my_mask(weight, sparsity)` that returns a bool tensor of the same shape,
# `False` for the `round(sparsity * weight.numel())` smallest magnitudes. Do not call
# `sp.magnitude_mask`.

# %%
def my_mask(weight, sparsity):
    ...  # your code here

answer_1 = None  # set it to my_mask once written
check("ch5.magnitude_mask", answer_1)

# %% tags=["hide-cell", "solution"]
def my_mask(weight, sparsity):
    k = round(sparsity * weight.numel())
    keep = torch.ones(weight.numel(), dtype=torch.bool)
    keep[torch.sort(weight.abs().reshape(-1), stable=True).indices[:k]] = False
    return keep.reshape(weight.shape)

check("ch5.magnitude_mask", my_mask)

# %% [markdown]
# **2 (medium).** How many bits does `sp.EXERCISE_MATRIX` (4×6) take in CSR with 32-bit values,
# column indices of $\lceil\log_2 6\rceil$ bits and row pointers of $\lceil\log_2(\text{nnz}+1)\rceil$ bits?
# Count by hand first, then with `sp.csr_encode`.

# %%
print(sp.EXERCISE_MATRIX)
answer_2 = None  # your number here
check("ch5.csr_bits", answer_2)

# %% tags=["hide-cell", "solution"]
nnz = int((sp.EXERCISE_MATRIX != 0).sum())
answer_2 = nnz * 32 + nnz * int(np.ceil(np.log2(6))) + (4 + 1) * int(np.ceil(np.log2(nnz + 1)))
check("ch5.csr_bits", answer_2)

# %% [markdown]
# **3 (medium).** `sp.EXERCISE_ROW` is one flattened row of a pruned layer. How many padding
# zeros does the relative-index format need with 3-bit gaps? And with 4-bit gaps — which width
# gives the smaller total size at 8-bit values?

# %%
answer_3 = None  # your number (3-bit gaps)
check("ch5.padding_zeros", answer_3)

# %% tags=["hide-cell", "solution"]
pos = torch.nonzero(sp.EXERCISE_ROW).reshape(-1)
runs = torch.diff(torch.cat([torch.tensor([-1]), pos])) - 1
answer_3 = int((runs // 8).sum())
check("ch5.padding_zeros", answer_3)
for b in (3, 4):
    v, g = sp.relative_index_encode(sp.EXERCISE_ROW, b)
    print(f"{b}-bit gaps: {len(v)} entries, {sp.relative_index_size_bits(v, g, 8, b)} bits")

# %% [markdown]
# **4 (hard).** From the LeNet-300-100 sensitivity sweep above (`sens["lenet300"]`, validation
# accuracy at `sp.SWEEP_SPARSITIES`), give each layer the highest swept sparsity up to which every
# accuracy stays within 1 point of the unpruned network, as a dict `{"fc1": ..., "fc2": ...,
# "fc3": ...}`. Then prune `base300` with it in one shot: is the whole network within 1 point?
# Why not, and what does that say about choosing per-layer sparsities one layer at a time?

# %%
answer_4 = None  # your dict here
check("ch5.sensitivity_pick", answer_4)

# %% tags=["hide-cell", "solution"]
sweep = sens["lenet300"]
answer_4 = {}
for layer_name, accs in sweep.items():
    best = 0.0
    for s, a in zip(sp.SWEEP_SPARSITIES, accs):
        if a < accs[0] - 1.0:
            break
        best = s
    answer_4[layer_name] = best
check("ch5.sensitivity_pick", answer_4)
together = sp.prune_(copy.deepcopy(base300), answer_4)
print(f"all layers at once: validation {train.evaluate(together, 'val'):.1f} % vs {sweep['fc1'][0]:.1f} % dense "
      "- the layers' losses add up")

# %% [markdown]
# ## Summary
#
# - Magnitude pruning with retraining removes most weights of LeNet-300-100 and LeNet-5
#   ({glue:text}`prune_lenet300_ratio:.0f`x and {glue:text}`prune_lenet5_ratio:.0f`x fewer
#   non-zero weights here) at no measurable accuracy cost; a mask attached by parametrization
#   keeps the pruned weights at zero while retraining.
# - Layers differ: a sensitivity sweep ranks them and large FC layers are the most redundant. At
#   98 % sparsity single runs swing by tens of points between seeds; over three seeds gradual
#   pruning is {glue:text}`ch5_s98_gradual_vs_oneshot` one-shot pruning, so three seeds do not rank
#   the schedules there.
# - Non-zeros are not bytes: CSR and relative indices cost index bits (and padding zeros), which
#   matter more and more as the values shrink to a few bits.
# - Structured pruning (filters, neurons; helped by group lasso) is coarser but shrinks the dense
#   layers, so its MAC savings turn into real speed on any hardware; N:M sits in between.
# - On a CPU, unstructured sparsity pays only at very high sparsity, and ReLU gives activation
#   sparsity for free — though less of it after pruning ({glue:text}`ch5_act_fc1_300:.0f` % →
#   {glue:text}`ch5_act_fc1_300_pruned:.0f` % zeros in LeNet-300-100's `fc1`); both are what sparse
#   accelerators exploit (chapter 7).
#
# **Further reading**: the survey's section on network sparsification {cite:p}`deng2020model`;
# Optimal Brain Damage {cite:p}`lecun1990optimal`; Han et al. {cite:p}`han2015learning` and Deep
# Compression {cite:p}`han2016deep`; Zhu and Gupta {cite:p}`zhu2017prune`; filter pruning
# {cite:p}`li2017pruning` and channel pruning {cite:p}`he2017channel`; structured sparsity
# learning {cite:p}`wen2016learning`; N:M sparsity {cite:p}`mishra2021accelerating,zhou2021learning`;
# the lottery ticket hypothesis {cite:p}`frankle2019lottery`; the survey of Hoefler et al.
# {cite:p}`hoefler2021sparsity`; and a warning about comparing pruning results fairly
# {cite:p}`blalock2020state`.

# %% tags=["nbval-ignore-output"]
nb.glue("ch5_runtime_s", nb.runtime_s(), measured=True)
