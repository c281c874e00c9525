# %% [markdown]
# # 3. Tensor decomposition: SVD, CP, Tucker and tensor-train layers
#
# A trained weight matrix or convolution kernel is rarely "full": most of its energy lives in a
# few directions. In this chapter you will factor trained layers into chains of small ones —
# a Linear into two thin Linears (truncated SVD), a convolution into 1x1 and depthwise
# convolutions (CP) or into a small core convolution between two 1x1s (Tucker-2), and a big FC
# layer into a *tensor train* whose forward pass never forms the matrix. You will choose ranks,
# fine-tune, and measure what each format buys in parameters, MACs, accuracy and real CPU time.
#
# ```{admonition} In this chapter
# **Goals**: *compute* a truncated SVD, a CP, a Tucker-2 and a TT decomposition of a trained
# layer; *implement* the decomposed layers and check them against the dense layer; *choose* a
# rank by energy or by a budget; *compare* accuracy vs compression before and after
# fine-tuning; *measure* when the chain of small operations is actually faster.
#
# **Prerequisites**: chapters 1 (parameters, MACs, `CompressionReport`) and 2 (1x1 and
# depthwise convolutions); the SVD from linear algebra. **Survey**: after the survey's section
# on tensor decomposition {cite:p}`deng2020model`.
#
# **Run time**: {glue:text}`ch3_runtime_s:.0f` s on the CPU that built this page, with the
# fine-tuned models in the cache (the first run fine-tunes them: {{ cold_each_03_s }} s on
# {{ cold_each_cores }} cores from an empty cache, with progress bars). **GPU**: not needed; it would only shorten that first run.
# ```

# %% tags=["nbval-ignore-output"]
import math

import numpy as np
import pandas as pd
import torch
from torch import nn
from IPython.display import display

from companion import data, nb, stats, train, metrics, plotting, widgets
from companion import decomposition as dec
from companion.exercises import check

dev = nb.setup()
base300 = train.baseline("lenet300")
base5 = train.baseline("lenet5")
basecnn = train.baseline("cnn")

# %% tags=["check-within-noise"]
acc300, acc5, acccnn = (train.evaluate(m) for m in (base300, base5, basecnn))
N_TEST = len(data.load_mnist("test")[1])  # 1,000 images: one image is 0.1 point
print(f"baselines (test accuracy): LeNet-300-100 {acc300:.1f} %, LeNet-5 {acc5:.1f} %, small CNN {acccnn:.1f} %")

# %% [markdown]
# ## The principle: a matrix is a sum of rank-one pieces
#
# The singular value decomposition writes any $m \times n$ matrix as
# $W = \sum_{k} s_k\, u_k v_k^\top$ with $s_1 \ge s_2 \ge \dots \ge 0$. Keeping the first $r$
# terms gives the best rank-$r$ approximation (Eckart–Young), with error
# $\lVert W - W_r \rVert_F = \sqrt{\sum_{k>r} s_k^2}$. As a layer, $y = Wx + b$ becomes
# $y = A(Bx) + b$ with $A = U_r\sqrt{S_r}$ ($m \times r$) and $B = \sqrt{S_r}V_r^\top$
# ($r \times n$): $r(m+n)$ weights and MACs instead of $mn$ {cite:p}`denton2014exploiting,xue2013restructuring`.
#
# A $4 \times 4$ matrix built from two rank-one pieces plus a little noise:

# %% tags=["nbval-check-output"]
g = torch.Generator().manual_seed(0)
u, v = torch.tensor([[1.0, 2, 0, 1], [0, 1, 1, -1]]), torch.tensor([[1.0, 0, 1, 2], [2, 1, 0, 0]])
W = u.T @ v + 0.05 * torch.randn(4, 4, generator=g)
print("singular values:", np.round(torch.linalg.svdvals(W).numpy(), 3))
for r in (1, 2, 3, 4):
    A, B = dec.truncated_svd(W, r)
    print(f"rank {r}: A {tuple(A.shape)}, B {tuple(B.shape)}, {dec.svd_params(4, 4, r):2d} weights, "
          f"relative error {dec.relative_error(W, A @ B):.3f}")

# %% [markdown]
# Two singular values carry almost everything, so rank 2 is nearly exact. For convolution
# kernels $K \in \mathbb{R}^{C_\text{out} \times C_\text{in} \times k_h \times k_w}$ the same
# idea has two classic forms, and for very large FC layers a third:
#
# - **CP** {cite:p}`lebedev2015speeding`: $K \approx \sum_{r=1}^{R} O_{:,r} \circ I_{:,r} \circ
#   V_{:,r} \circ H_{:,r}$ — a chain *1x1 ($C_\text{in}\to R$) → $k_h\times 1$ depthwise →
#   $1\times k_w$ depthwise → 1x1 ($R \to C_\text{out}$)*, $R(C_\text{in}+k_h+k_w+C_\text{out})$ weights.
# - **Tucker-2** {cite:p}`kim2016compression`: $K \approx C \times_1 U \times_2 S$ with a core
#   $C \in \mathbb{R}^{R_\text{out}\times R_\text{in}\times k_h\times k_w}$ — a chain *1x1 → small
#   $k_h\times k_w$ conv → 1x1*.
# - **Tensor train** {cite:p}`novikov2015tensorizing,oseledets2011tensor`: reshape
#   $W$ ($\prod m_k \times \prod n_k$) into a $2d$-way tensor and write each entry as a product of
#   small matrices, $W[(o_1..o_d),(i_1..i_d)] = G_1[o_1,i_1]\,G_2[o_2,i_2]\cdots G_d[o_d,i_d]$,
#   with $G_k[o_k,i_k]$ of size $r_{k-1}\times r_k$: $\sum_k r_{k-1} m_k n_k r_k$ weights.
#
# Tensor-network diagrams (the survey's appendix draws the same) show each format at a glance:
# a node is a factor, each leg an index; a leg joining two nodes is summed over (its size is a
# rank).

# %% mystnb={"figure": {"caption": "Tensor-network diagrams of the decompositions in this chapter: each node is a factor, each red edge a contracted rank index, each black leg an index of the original tensor.", "name": "fig-ch3-tensor-networks"}, "image": {"alt": "Diagrams of SVD, CP, Tucker-2 and tensor-train decompositions drawn as nodes joined by edges, with rank edges in red and the original tensor's indices as open black legs."}}
fig = dec.tensor_network_figure()
display(fig)

# %% [markdown]
# Every decomposed layer here is a small `nn.Module` checked against the dense layer it came
# from. At full rank they reproduce it (up to float32 round-off); below full rank the chain
# equals a dense layer with the *reconstructed* weight:

# %% tags=["nbval-check-output"]
torch.manual_seed(0)
conv = nn.Conv2d(8, 12, 3, padding=1)
x = torch.randn(2, 8, 10, 10)
checks = {
    "SVD, full rank": (dec.LowRankLinear.from_linear(base300.fc2, 100), base300.fc2, torch.randn(2, 300)),
    "Tucker-2, full ranks": (dec.Tucker2Conv2d.from_conv(conv, (12, 8)), conv, x),
    "TT, full ranks": (dec.TTLinear.from_linear(nn.Linear(24, 12), (2, 3, 4), (2, 3, 2),
                                                dec.tt_max_ranks((2, 3, 4), (2, 3, 2))), None, torch.randn(2, 24)),
}
for name, (layer, dense, inp) in checks.items():
    if dense is None:  # the TT layer against its own dense matrix
        ref = inp @ layer.dense_weight().T + layer.bias
    else:
        ref = dense(inp)
    print(f"{name:24s} equal to the dense layer (to 1e-5): {torch.allclose(layer(inp), ref, atol=1e-5)}")
cp = dec.CPConv2d.from_conv(conv, 6, n_iter_max=50)
ref = nn.functional.conv2d(x, cp.dense_weight(), conv.bias, padding=1)
print(f"{'CP, rank 6':24s} equal to a conv with its reconstructed kernel: {torch.allclose(cp(x), ref, atol=1e-5)}")

# %% [markdown]
# (The remaining differences are float32 rounding, around $10^{-7}$; the test suite checks the
# same at many shapes and against TensorLy.)
#
# ## On a real network: reconstruction error vs rank
#
# Take the trained layers: LeNet-300-100's `fc1` (784→300, a matrix: SVD and TT) and LeNet-5's
# `conv2` (20→50 channels, 5x5: CP and Tucker-2). For each rank we decompose that one layer,
# keep the rest of the network, and record the relative error, the layer's parameters and MACs
# and the network's test accuracy *without* fine-tuning. (CP is computed by alternating least
# squares, the slowest part; the sweep is cached.)

# %% tags=["nbval-ignore-output"]
TT_MODES = {"in_modes": (4, 7, 4, 7), "out_modes": (3, 4, 5, 5)}
SWEEPS = {  # format: (network, layer, method, ranks, keywords)
    "SVD": ("lenet300", "fc1", "svd", [1, 2, 4, 8, 16, 32, 64, 128], {}),
    "TT": ("lenet300", "fc1", "tt", [1, 2, 4, 8, 12, 16, 24, 32], TT_MODES),
    "CP": ("lenet5", "conv2", "cp", [2, 4, 8, 16, 32, 64, 128, 256], {"n_iter_max": 100}),
    "Tucker-2": ("lenet5", "conv2", "tucker2", [1, 2, 4, 6, 8, 12, 16, 20], {}),
}
sweeps = {fmt: dec.rank_sweep(net, layer, method, ranks, **kw).to_frame()  # cached by the library
          for fmt, (net, layer, method, ranks, kw) in SWEEPS.items()}

# %% tags=["check-within-noise"]
for fmt, df in sweeps.items():
    show = df.assign(error=df.error.round(3), param_ratio=(df.dense_params / df.params).round(1))
    print(f"{fmt} on {SWEEPS[fmt][0]}.{SWEEPS[fmt][1]}")
    print(show[["rank", "error", "params", "param_ratio", "macs", "accuracy"]].to_string(index=False), "\n")

# %% mystnb={"figure": {"caption": "One layer decomposed at increasing ranks: relative reconstruction error (left) and the model's test accuracy without fine-tuning (right) against the layer's compression, for each format.", "name": "fig-ch3-error-vs-compression"}, "image": {"alt": "Two line charts with layer compression on a log horizontal axis: reconstruction error rises and accuracy falls as compression grows, one line per decomposition format."}}
fig, (ax1, ax2) = plotting.new_figure(2, 1, width=11, height=3.8)
for i, (fmt, df) in enumerate(sweeps.items()):
    style = dict(marker="o", color=plotting.PALETTE[i], label=f"{fmt} ({SWEEPS[fmt][0]}.{SWEEPS[fmt][1]})")
    ax1.plot(df.dense_params / df.params, df.error, **style)
    ax2.plot(df.dense_params / df.params, df.accuracy, **style)
for ax in (ax1, ax2):
    ax.set_xscale("log")
    ax.set_xlabel("layer compression (dense params / decomposed params, log)")
ax1.set_ylabel("relative error ‖W − Ŵ‖ / ‖W‖")
ax1.set_title("Reconstruction error vs compression of one layer")
ax2.set_ylabel("test accuracy (%)")
ax2.set_title("Accuracy without fine-tuning")
ax2.legend(fontsize=8)
display(fig)

# %% tags=["hide-input", "nbval-ignore-output"]
svd_df, tt_df = sweeps["SVD"], sweeps["TT"]
tt8 = tt_df[tt_df["rank"] == 8].iloc[0]
nb.glue("ch3_tt8_error", float(tt8.error))
nb.glue("ch3_tt8_acc_raw", float(tt8.accuracy))
nb.glue("ch3_tt8_ratio", float(tt8.dense_params / tt8.params))
svd32 = svd_df[svd_df["rank"] == 32].iloc[0]
nb.glue("ch3_svd32_error", float(svd32.error))
nb.glue("ch3_svd32_acc", float(svd32.accuracy))
nb.glue("ch3_svd32_ratio", float(svd32.dense_params / svd32.params))

# %% [markdown]
# Trained weights are far from random: a rank-32 SVD keeps LeNet-300-100 at
# {glue:text}`ch3_svd32_acc:.1f` % with {glue:text}`ch3_svd32_ratio:.1f`x fewer weights in
# `fc1`, although its relative error is still {glue:text}`ch3_svd32_error:.2f` — the discarded
# directions are mostly ones the data never excites. At the same matrix the TT format reaches much higher
# ratios: rank 8 gives {glue:text}`ch3_tt8_ratio:.0f`x, but its error
# ({glue:text}`ch3_tt8_error:.2f`) and raw accuracy ({glue:text}`ch3_tt8_acc_raw:.1f` %) show
# that the TT-SVD alone is far from enough. That is what fine-tuning is for.
#
# ## Tensor-train `fc1` of LeNet-300-100, fine-tuned
#
# $784 = 4\cdot7\cdot4\cdot7$ (input modes) and $300 = 3\cdot4\cdot5\cdot5$ (output modes), all
# inner TT ranks 8. We start from the TT-SVD of the trained matrix and fine-tune the whole
# network (cached; 15 epochs with the baseline's shift augmentation).

# %% tags=["nbval-ignore-output"]
TT_PLAN = {"fc1": dec.TT((4, 7, 4, 7), (3, 4, 5, 5), 8)}
TT_EPOCHS = 15
tt300 = dec.finetuned("lenet300", TT_PLAN, epochs=TT_EPOCHS, lr=1e-3)
tt300

# %% tags=["check-within-noise"]
dense_fc1 = sum(p.numel() for p in base300.fc1.parameters())
tt_fc1 = sum(p.numel() for p in tt300.fc1.parameters())
tt_fc1_param_ratio = dense_fc1 / tt_fc1
acc_tt = train.evaluate(tt300)
tt_fc1_acc_drop = acc300 - acc_tt
report_tt = metrics.make_report("LeNet-300-100, TT fc1 (rank 8, fine-tuned)", tt300, base300,
                                accuracy=acc_tt, baseline_accuracy=acc300)
print(f"fc1: {dense_fc1:,} parameters dense -> {tt_fc1:,} in TT form ({tt_fc1_param_ratio:.1f}x fewer)")
print(f"accuracy {acc300:.1f} % -> {acc_tt:.1f} % (drop {tt_fc1_acc_drop:.1f} points)")
print(report_tt)

# %% tags=["hide-input", "nbval-ignore-output"]
nb.glue("tt_fc1_param_ratio", tt_fc1_param_ratio)
nb.glue("tt_fc1_acc_drop", tt_fc1_acc_drop)
nb.glue("ch3_tt_acc", acc_tt)
nb.glue("ch3_tt_model_ratio", report_tt.compression_ratio)
nb.glue("ch3_tt_mac_reduction", report_tt.mac_reduction)
nb.glue("ch3_tt_fc1_macs", metrics.measure_layers(tt300)[0].macs)
nb.glue("ch3_tt_epochs", TT_EPOCHS)
tt_ci, base300_ci = stats.accuracy_interval(acc_tt, N_TEST), stats.accuracy_interval(acc300, N_TEST)
tt_vs_base = stats.mcnemar_exact(stats.per_image_correct(tt300), stats.per_image_correct(base300))
nb.glue("ch3_tt_acc_ci_low", tt_ci.low)
nb.glue("ch3_tt_acc_ci_high", tt_ci.high)
nb.glue("ch3_base300_acc_ci_low", base300_ci.low)
nb.glue("ch3_base300_acc_ci_high", base300_ci.high)
nb.glue("ch3_tt_vs_base_p", tt_vs_base.p_value)

# %% [markdown]
# The first layer shrinks {glue:text}`tt_fc1_param_ratio:.1f`x (cores and bias against the
# dense weights and bias) and the network loses {glue:text}`tt_fc1_acc_drop:.1f` points of test
# accuracy after {glue:text}`ch3_tt_epochs` epochs of fine-tuning (accuracy
# {glue:text}`ch3_tt_acc:.1f` %, 95 % interval {glue:text}`ch3_tt_acc_ci_low:.1f`–{glue:text}`ch3_tt_acc_ci_high:.1f` %,
# against {glue:text}`ch3_base300_acc_ci_low:.1f`–{glue:text}`ch3_base300_acc_ci_high:.1f` % for the
# dense baseline; McNemar's paired test on the images the two disagree on gives
# p = {glue:text}`ch3_tt_vs_base_p:.3f`). The whole model is {glue:text}`ch3_tt_model_ratio:.1f`x
# smaller — `fc2` and `fc3` are untouched. MACs are another matter: the TT forward of `fc1`
# costs {glue:text}`ch3_tt_fc1_macs:,` MACs per image against the dense 235,200 (whole model:
# {glue:text}`ch3_tt_mac_reduction:.2f`x "fewer", i.e. *more*). Each core is contracted with an
# intermediate tensor of about $r \cdot \max(M, N)$ entries, so for a layer this small the rank
# factors outweigh the savings; TT saves arithmetic only on much larger layers
# {cite:p}`novikov2015tensorizing`. Here it is a *memory* format.
#
# ## Accuracy vs compression on LeNet-5 and the small CNN
#
# Now every layer but the first convolution (one input channel: nothing to factor) and the
# classifier gets the same budget: for a target ratio $c$, each FC layer gets the largest SVD
# rank with $r(m+n) \le mn/c$ and each convolution the largest Tucker-2 ranks (the same
# fraction of both channel modes) within $1/c$ of its weights (`dec.plan_for_budget`; pass
# `conv="cp"` for CP). We measure the test accuracy right after the decomposition and after 3
# epochs of fine-tuning (the `FINETUNE` dictionary below lists the budgets that are fine-tuned;
# each one costs up to a minute on 2 free cores the first time, then comes from the cache).

# %% tags=["nbval-ignore-output"]
RATIOS = [2, 4, 8, 16]
SKIP = ("conv1", "fc2")
FINETUNE = {"lenet5": [2, 4, 8, 16], "cnn": [2, 4, 8, 16]}
budget = {}
for net in ("lenet5", "cnn"):
    # cached by the recipe itself (seed 0: the baseline of every other chapter)
    budget[net] = dec.budget_sweep(net, RATIOS, conv="tucker2", skip=SKIP, epochs=3, finetune=FINETUNE[net]).to_frame()

# %% tags=["check-within-noise"]
for net, df in budget.items():
    print(f"{net}: SVD (FC) + Tucker-2 (conv)")
    print(df[["ratio", "params", "param_ratio", "mac_ratio", "acc_before", "acc_after"]]
          .round({"param_ratio": 1, "mac_ratio": 2, "acc_before": 1, "acc_after": 1}).to_string(index=False), "\n")

# %% mystnb={"figure": {"caption": "Whole-model decomposition (SVD for fully connected, Tucker-2 for convolutional layers) of LeNet-5 (left) and the small CNN (right): test accuracy before and after three epochs of fine-tuning, against the model's compression.", "name": "fig-ch3-budget-finetune"}, "image": {"alt": "Two line charts of test accuracy against whole-model compression on a log axis: the fine-tuned line stays near the dotted baseline while the line without fine-tuning drops at high compression."}}
fig, axes = plotting.new_figure(2, 1, width=11, height=3.8)
for ax, net, base_acc in zip(axes, ("lenet5", "cnn"), (acc5, acccnn)):
    df = budget[net]
    ax.plot(df.param_ratio, df.acc_before, "o--", color=plotting.PALETTE[0], label="decomposed (no fine-tuning)")
    ax.plot(df.param_ratio, df.acc_after, "s-", ms=8, color=plotting.PALETTE[1], label="fine-tuned, 3 epochs")
    ax.axhline(base_acc, color="k", lw=1, ls=":", label="baseline")
    ax.set_xscale("log")
    ax.set_xticks([2, 4, 8, 16], ["2", "4", "8", "16"])
    ax.minorticks_off()
    ax.set_xlabel("whole-model compression (baseline params / params, log)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title({"lenet5": "LeNet-5: SVD + Tucker-2", "cnn": "small CNN: SVD + Tucker-2"}[net])
axes[0].legend(fontsize=8)
display(fig)

# %% tags=["hide-input", "nbval-ignore-output"]
l5 = budget["lenet5"].set_index("ratio")
cnn_t = budget["cnn"].set_index("ratio")
nb.glue("ch3_lenet5_r8_ratio", float(l5.loc[8, "param_ratio"]))
nb.glue("ch3_lenet5_r8_before", float(l5.loc[8, "acc_before"]))
nb.glue("ch3_lenet5_r8_after", float(l5.loc[8, "acc_after"]))
nb.glue("ch3_lenet5_r16_ratio", float(l5.loc[16, "param_ratio"]))
nb.glue("ch3_lenet5_r16_after", float(l5.loc[16, "acc_after"]))
nb.glue("ch3_lenet5_r2_before", float(l5.loc[2, "acc_before"]))
nb.glue("ch3_lenet5_r2_after", float(l5.loc[2, "acc_after"]))
nb.glue("ch3_lenet5_r16_mac_ratio", float(l5.loc[16, "mac_ratio"]))
nb.glue("ch3_cnn_r16_ratio", float(cnn_t.loc[16, "param_ratio"]))
nb.glue("ch3_cnn_r16_mac_ratio", float(cnn_t.loc[16, "mac_ratio"]))
nb.glue("ch3_cnn_r16_after", float(cnn_t.loc[16, "acc_after"]))
nb.glue("ch3_cnn_r16_before", float(cnn_t.loc[16, "acc_before"]))

# %% [markdown]
# **Is the 2x effect real?** One run on 1,000 test images resolves about ±1 point (95 % Wilson
# interval), so a few tenths of a point can be noise. We repeat the 2x budget of LeNet-5 for
# three seeds; each seed trains its own baseline, decomposes it and fine-tunes it (cached), and
# we take the per-seed change *after − before*. Its 95 % t-interval over the seeds
# (`stats.seed_summary`) tells whether fine-tuning helps, hurts, or does nothing measurable.

# %% tags=["check-within-noise"]
SEEDS = (0, 1, 2)
r2_rows = {s: dec.budget_sweep("lenet5", [2], conv="tucker2", skip=SKIP, epochs=3, finetune=[2], seed=s)[0]
           for s in SEEDS}
r2_change = stats.seed_summary([r.acc_after - r.acc_before for r in r2_rows.values()])
r2_before_ci = stats.accuracy_interval(float(l5.loc[2, "acc_before"]), N_TEST)
for s, r in r2_rows.items():
    print(f"seed {s}: LeNet-5 at the 2x budget {r.acc_before:.1f} % -> {r.acc_after:.1f} % after fine-tuning")
print(f"change after - before: {r2_change.mean:+.2f} points, 95 % t-interval "
      f"[{r2_change.low:+.2f}, {r2_change.high:+.2f}] over {r2_change.n} seeds")

# %% tags=["hide-input"]
nb.glue("ch3_r2_change_mean", r2_change.mean)
nb.glue("ch3_r2_change_ci_low", r2_change.low)
nb.glue("ch3_r2_change_ci_high", r2_change.high)
nb.glue("ch3_r2_change_verdict", "does not show a change" if r2_change.low <= 0 <= r2_change.high
        else ("shows a gain" if r2_change.low > 0 else "shows a loss"))
nb.glue("ch3_lenet5_r2_before_ci_low", r2_before_ci.low)
nb.glue("ch3_lenet5_r2_before_ci_high", r2_before_ci.high)

# %% [markdown]
# Over three seeds the change is {glue:text}`ch3_r2_change_mean:+.2f` points (95 % interval
# {glue:text}`ch3_r2_change_ci_low:+.2f` to {glue:text}`ch3_r2_change_ci_high:+.2f`): the data
# {glue:text}`ch3_r2_change_verdict` at the mildest budget — for comparison, a single accuracy of
# {glue:text}`ch3_lenet5_r2_before:.1f` % is only known to
# {glue:text}`ch3_lenet5_r2_before_ci_low:.1f`–{glue:text}`ch3_lenet5_r2_before_ci_high:.1f` %.
# Fine-tune when the decomposition has lost accuracy; at 2x there is nothing to win back.

# %% [markdown]
# Two lessons in one figure. First, **fine-tuning does most of the work at high compression**:
# at a per-layer budget of 8x, LeNet-5 ({glue:text}`ch3_lenet5_r8_ratio:.1f`x fewer parameters
# overall) goes from {glue:text}`ch3_lenet5_r8_before:.1f` % straight after the decomposition to
# {glue:text}`ch3_lenet5_r8_after:.1f` % after three epochs, and even at
# {glue:text}`ch3_lenet5_r16_ratio:.1f`x it recovers to {glue:text}`ch3_lenet5_r16_after:.1f` %.
# At the mildest budget, though, there is nothing to recover
# ({glue:text}`ch3_lenet5_r2_before:.1f` % → {glue:text}`ch3_lenet5_r2_after:.1f` % for this
# seed): the test below shows whether fine-tuning changes anything there at all.
# Second, **where parameters and MACs sit matters**: LeNet-5's parameters sit in `fc1`
# (400,000 of 431,080), where SVD is cheap and effective, but its MACs sit in the convolutions,
# so at the 16x budget it has {glue:text}`ch3_lenet5_r16_ratio:.1f`x fewer parameters yet only
# {glue:text}`ch3_lenet5_r16_mac_ratio:.1f`x fewer MACs. The small CNN's thin 3x3 convolutions
# hold both, so its MAC ratio follows its parameter ratio; without fine-tuning they break down
# quickly ({glue:text}`ch3_cnn_r16_before:.1f` % at the 16x budget), and fine-tuning brings it
# back to {glue:text}`ch3_cnn_r16_after:.1f` % ({glue:text}`ch3_cnn_r16_ratio:.1f`x fewer
# parameters, {glue:text}`ch3_cnn_r16_mac_ratio:.1f`x fewer MACs).
#
# ## Explore: rank and format
#
# Pick a format and move the rank: the left panel places the current rank on the error curve
# of its layer, the right one shows what it keeps of the layer's parameters and MACs and the
# network's test accuracy without fine-tuning. Everything was computed above; a frame only
# looks it up and draws.

# %%
def rank_frame(fmt="SVD", rank_step=1):
    df = sweeps[fmt]
    row = df.iloc[rank_step - 1]
    net, layer = SWEEPS[fmt][:2]
    fig, (ax1, ax2) = plotting.new_figure(2, 1, width=9.5, height=3.4)
    for i, (name, other) in enumerate(sweeps.items()):
        if SWEEPS[name][:2] == (net, layer):
            ax1.plot(other.params, other.error, "o-", color=plotting.PALETTE[i], alpha=1 if name == fmt else 0.35,
                     label=name)
    ax1.plot([row.params], [row.error], "o", ms=12, mfc="none", mec="k", mew=2)
    ax1.set_xscale("log")
    ax1.set_xlabel(f"parameters of {net}.{layer} (log)")
    ax1.set_ylabel("relative error")
    ax1.set_ylim(0, 1.05)
    ax1.legend(fontsize=8)
    ax1.set_title(f"{fmt}, rank {row['rank']}: error {row.error:.3f}")
    base_acc = {"lenet300": acc300, "lenet5": acc5}[net]
    bars = [100 * row.params / row.dense_params, 100 * row.macs / row.dense_macs, row.accuracy]
    ax2.bar(["params\n(% of dense)", "MACs\n(% of dense)", "accuracy\n(%)"], bars,
            color=[plotting.PALETTE[0], plotting.PALETTE[1], plotting.PALETTE[2]])
    for j, b in enumerate(bars):
        ax2.text(j, b + 2, f"{b:.1f}", ha="center", fontsize=9)
    ax2.axhline(base_acc, color="k", ls=":", lw=1)
    ax2.set_ylim(0, 120)
    ax2.set_ylabel("percent")
    ax2.set_title(f"{int(row.params):,} params, {int(row.macs):,} MACs")
    return fig


# %% tags=["nbval-ignore-output"]
controls = {"fmt": list(SWEEPS), "rank_step": list(range(1, 9))}
if not widgets.static_mode():  # a measurement for the live notebook, not the website
    print(f"rendering one frame: {np.median(widgets.frame_timings_ms(rank_frame, controls, max_frames=4)):.0f} ms (once, when the cell runs)")
explorer = widgets.explore(rank_frame, title="Rank and format: error, size, MACs, accuracy (no fine-tuning)",
                           dpi=70, **controls)
widgets.show_timing(explorer)

# %% [markdown]
# Things to notice while you drag: the SVD curve drops steeply at first (a few directions carry
# most of the energy); TT reaches sizes no SVD rank can; compare CP and Tucker-2 on LeNet-5's
# `conv2` at equal parameters (CP has one shared rank, Tucker-2 a dense core) — and watch the
# MACs bar, which the next section turns into measured time.
#
# ## What it buys in practice: measured CPU time
#
# Fewer MACs are not fewer milliseconds. We time each decomposed layer against its dense
# original on this machine's CPU, at batch 1 (latency: every small op pays its overhead) and
# batch 64 (throughput), next to the ideal speed-up (the MAC ratio).

# %% tags=["nbval-ignore-output"]
torch.manual_seed(0)
c4 = basecnn.conv4  # 32 -> 32 channels, 3x3, on 14x14 maps
cases = {
    "LeNet-300 fc1: SVD r=32": (base300.fc1, dec.LowRankLinear.from_linear(base300.fc1, 32), (784,)),
    "LeNet-300 fc1: TT r=8": (base300.fc1, tt300.fc1, (784,)),
    "LeNet-5 conv2: Tucker-2 (6,3)": (base5.conv2, dec.Tucker2Conv2d.from_conv(base5.conv2, (6, 3)), (20, 12, 12)),
    "LeNet-5 conv2: CP R=16": (base5.conv2, dec.CPConv2d.from_conv(base5.conv2, 16, n_iter_max=50), (20, 12, 12)),
    "CNN conv4: Tucker-2 (8,8)": (c4, dec.Tucker2Conv2d.from_conv(c4, (8, 8)), (32, 14, 14)),
    "CNN conv4: CP R=16": (c4, dec.CPConv2d.from_conv(c4, 16, n_iter_max=50), (32, 14, 14)),
}
rows = []
for name, (dense, small, shape) in cases.items():
    macs = [metrics.measure_macs(nn.Sequential(m), (1, *shape)) for m in (dense, small)]
    row = {"layer": name, "ideal speed-up (MACs)": macs[0] / macs[1]}
    for b in (1, 64):
        r = dec.speedup_range(dense, small, (b, *shape), rounds=7, repeats=6, threads=1)
        row[f"dense ms (b={b})"] = r.dense_ms
        row[f"measured speed-up (b={b})"] = r.median
        row[f"range (b={b})"] = f"{r.low:.2f}–{r.high:.2f}"
    rows.append(row)
speed = pd.DataFrame(rows).set_index("layer")
display(speed.round(3))

# %% mystnb={"figure": {"caption": "Decomposed layers on this CPU: the ideal speed-up from the MAC ratio against the speed-up measured at batch 1 and batch 64 (log scale; below 1 is a slow-down).", "name": "fig-ch3-speedup"}, "image": {"alt": "Grouped bar chart on a log scale, one group per decomposed layer, comparing the ideal speed-up with the measured speed-ups at batch sizes 1 and 64."}}
fig, ax = plotting.new_figure(1, 1, width=8, height=3.6)
pos = np.arange(len(speed))
ax.bar(pos - 0.27, speed["ideal speed-up (MACs)"], 0.27, label="ideal (MAC ratio)", color=plotting.PALETTE[7])
ax.bar(pos, speed["measured speed-up (b=1)"], 0.27, label="measured, batch 1", color=plotting.PALETTE[0])
ax.bar(pos + 0.27, speed["measured speed-up (b=64)"], 0.27, label="measured, batch 64", color=plotting.PALETTE[1])
ax.axhline(1, color="k", lw=1)
ax.set_yscale("log")
ax.set_xticks(pos, [n.replace(": ", "\n") for n in speed.index], fontsize=8)
ax.set_ylabel("speed-up over dense (x, log)")
ax.set_title("Decomposed layers on this CPU: ideal vs measured")
ax.legend(fontsize=8)
display(fig)

# %% tags=["hide-input", "nbval-ignore-output"]
tt_row = speed.loc["LeNet-300 fc1: TT r=8"]
nb.glue("ch3_tt_ideal_speedup", float(tt_row["ideal speed-up (MACs)"]))
nb.glue("ch3_tt_speedup_b1", float(tt_row["measured speed-up (b=1)"]), measured=True)
nb.glue("ch3_tt_speedup_b64", float(tt_row["measured speed-up (b=64)"]), measured=True)
svd_row = speed.loc["LeNet-300 fc1: SVD r=32"]
nb.glue("ch3_svd_ideal_speedup", float(svd_row["ideal speed-up (MACs)"]))
nb.glue("ch3_svd_speedup_b64", float(svd_row["measured speed-up (b=64)"]), measured=True)
cp_row = speed.loc["CNN conv4: CP R=16"]
nb.glue("ch3_cp_ideal_speedup", float(cp_row["ideal speed-up (MACs)"]))
nb.glue("ch3_cp_speedup_b64", float(cp_row["measured speed-up (b=64)"]), measured=True)
nb.glue("ch3_cp_speedup_b1", float(cp_row["measured speed-up (b=1)"]), measured=True)
for key, row in (("tt", tt_row), ("svd", svd_row), ("cp", cp_row)):
    for b in (1, 64):
        nb.glue(f"ch3_{key}_speedup_b{b}_range", row[f"range (b={b})"] + "x", measured=True)

# %% [markdown]
# On the CPU that built this page (one thread; seven interleaved rounds, fastest of six runs
# per round; ranges over the rounds): the SVD-factored `fc1` does
# {glue:text}`ch3_svd_ideal_speedup:.1f`x fewer MACs and measured
# {glue:text}`ch3_svd_speedup_b64_range` at batch 64 — two matrix products are exactly what a
# BLAS library is good at. The TT layer does {glue:text}`ch3_tt_ideal_speedup:.2f`x "fewer" MACs
# (more, see above) *and* runs as four small `einsum`s with reshapes in between: measured
# {glue:text}`ch3_tt_speedup_b1_range` at batch 1 and {glue:text}`ch3_tt_speedup_b64_range` at
# batch 64. The memory saving is real, the time saving is not — dedicated engines such as TIE
# {cite:p}`deng2019tie` exist for this reason. The CP chain of the CNN's `conv4` ideally runs
# {glue:text}`ch3_cp_ideal_speedup:.1f`x faster; it measured {glue:text}`ch3_cp_speedup_b64_range`
# at batch 64 but {glue:text}`ch3_cp_speedup_b1_range` at batch 1, where each of its four layers
# pays its own call overhead and the depthwise steps do very few MACs per byte they touch.
# Timings vary from machine to machine and run to run — rerun the cell — but the
# pattern (BLAS-friendly chains pay, chains of tiny or depthwise ops rarely do) is the lesson.
#
# ## Beside the literature
#
# | method, paper | their setting | their result | ours (MNIST subset, 2-core CPU) |
# |---|---|---|---|
# | TT matrices {cite:p}`novikov2015tensorizing` | VGG FC layers, ImageNet | up to 200,000x on one FC layer; ~7x for the whole network | {glue:text}`tt_fc1_param_ratio:.0f`x on LeNet-300-100's `fc1`, {glue:text}`tt_fc1_acc_drop:.1f` points lost; {glue:text}`ch3_tt_model_ratio:.1f`x for the whole model |
# | SVD of FC layers {cite:p}`denton2014exploiting,xue2013restructuring` | large CNN FC layers / speech DNNs | several-fold fewer FC weights with < 1 % accuracy loss after fine-tuning | {glue:text}`ch3_svd32_ratio:.1f`x on `fc1` at rank 32, {glue:text}`ch3_svd32_acc:.1f` % without fine-tuning |
# | CP {cite:p}`lebedev2015speeding` | AlexNet's 2nd conv layer, CPU | 4x speed-up of that layer at +1 % top-5 error (their 8.5x is for a small character-classification CNN, at a 1 % accuracy drop) | CNN `conv4` at rank 16: {glue:text}`ch3_cp_ideal_speedup:.1f`x fewer MACs; measured {glue:text}`ch3_cp_speedup_b64_range` (batch 64), {glue:text}`ch3_cp_speedup_b1_range` (batch 1) |
# | Tucker-2 {cite:p}`kim2016compression` | AlexNet/VGG on a phone | whole-network compression and speed-up of a few x at < 2 points top-5 | LeNet-5 at {glue:text}`ch3_lenet5_r8_ratio:.1f`x: {glue:text}`ch3_lenet5_r8_after:.1f` % after fine-tuning |
#
# The settings differ in every way that matters — ImageNet-size layers have far more redundancy
# than a 784→300 layer, their fine-tuning used the full training set, and their speed-ups were
# measured with optimised kernels — so the table shows the *shape* of the result (big gains on FC
# parameters, modest gains on conv time), not a race.
#
# ## Exercises
#
# **1 (easy).** How many weights do the cores of a TT matrix with input modes (4, 8, 8, 4),
# output modes (4, 4, 4, 4) and all inner ranks 6 hold? How many times fewer than the dense
# 256 x 1024 matrix is that?

# %%
answer_1 = None  # your number here
check("ch3.tt_params", answer_1)

# %% tags=["hide-cell", "solution"]
ranks = [1, 6, 6, 6, 1]
answer_1 = sum(ranks[k] * m * n * ranks[k + 1] for k, (m, n) in enumerate(zip((4, 4, 4, 4), (4, 8, 8, 4))))
check("ch3.tt_params", answer_1)
print(f"{256 * 1024 / answer_1:.0f}x fewer than the dense matrix")

# %% [markdown]
# **2 (medium).** LeNet-5's `fc1` is a 500 x 800 Linear. What is the largest SVD rank whose
# two factors hold at least 10x fewer weights than the dense matrix? Then: how many singular
# values of the *trained* weight keep 90 % of its energy (sum of squares)? Is the 10x rank above
# or below that?

# %%
answer_2 = None  # the largest rank within the 10x budget
check("ch3.svd_budget", answer_2)
answer_2b = None  # the rank keeping 90 % of the energy
check("ch3.energy_rank", answer_2b)

# %% tags=["hide-cell", "solution"]
answer_2 = math.floor(500 * 800 / (10 * (500 + 800)))
check("ch3.svd_budget", answer_2)
s = torch.linalg.svdvals(base5.fc1.weight.detach().double())
answer_2b = int(((s**2).cumsum(0) / (s**2).sum() < 0.9).sum()) + 1
check("ch3.energy_rank", answer_2b)

# %% [markdown]
# **3 (hard).** Write `tt_forward(x, cores)` that computes $y = xW^\top$ for a batch `x` of shape
# `[B, ∏ n_k]` and a TT matrix with `cores[k]` of shape `[r_{k-1}, m_k, n_k, r_k]` — *without*
# forming $W$. Hint: reshape `x` to `[B, n_1, …, n_d]` and contract one core at a time with
# `torch.einsum`, carrying the output modes you have produced and the current rank.

# %%
answer_3 = None  # your function here
check("ch3.tt_matvec", answer_3)


# %% tags=["hide-cell", "solution"]
def tt_forward(x, cores):
    b = x.shape[0]
    state = x.reshape(b, 1, 1, -1)  # [B, outputs so far, rank, inputs left]
    for g in cores:
        r0, m, n, r1 = g.shape
        done, rest = state.shape[1], state.shape[3] // n
        state = torch.einsum("bparz,amrs->bpmsz", state.reshape(b, done, r0, n, rest), g)
        state = state.reshape(b, done * m, r1, rest)
    return state.reshape(b, -1)


answer_3 = tt_forward
check("ch3.tt_matvec", answer_3)

# %% [markdown]
# **4 (open).** Train `dec.TTLinear((4, 7, 4, 7), (3, 4, 5, 5), 8)` *from scratch* as
# LeNet-300-100's first layer (replace `fc1` of `models.build("lenet300")` and call
# `train.fit`). Does it reach the fine-tuned TT model's accuracy? What does that say about
# initialising from the TT-SVD of a trained layer?
#
# ## Summary
#
# - A trained layer's weights are approximately low-rank; truncating the SVD (FC), CP or
#   Tucker-2 (conv) or a tensor train (large FC) replaces one layer by a chain of small ones.
# - At full rank each decomposed layer equals the dense one; below, it equals a dense layer with
#   the reconstructed weight — tested here against PyTorch and TensorLy.
# - Reconstruction error says little about accuracy: the data decide which directions matter,
#   and fine-tuning recovers most of the loss (LeNet-300-100's `fc1` in TT format:
#   {glue:text}`tt_fc1_param_ratio:.0f`x fewer parameters, {glue:text}`tt_fc1_acc_drop:.1f` points).
# - Ranks can be chosen by a target rank, a kept-energy fraction or a parameter budget.
# - Fewer parameters are not fewer MACs (a small TT layer computes *more*), and fewer MACs are
#   not fewer milliseconds: BLAS-friendly SVD chains pay off, tiny TT contractions and depthwise
#   CP steps often do not on a CPU.
#
# **Further reading**: the survey's section on tensor decomposition {cite:p}`deng2020model`;
# Kolda and Bader's review of tensor decompositions {cite:p}`kolda2009tensor`; the primary papers
# {cite:p}`denton2014exploiting,lebedev2015speeding,kim2016compression,novikov2015tensorizing`;
# TT-SVD {cite:p}`oseledets2011tensor`; TensorLy {cite:p}`kossaifi2019tensorly`.

# %% tags=["nbval-ignore-output"]
nb.glue("ch3_runtime_s", nb.runtime_s(), measured=True)
