# %% [markdown]
# # 2. Compact models: cheap building blocks, their cost, and a tiny architecture search
#
# The other chapters shrink a network after it has been trained. This one designs a network
# that is small from the start. You will build the blocks that made compact CNNs
# possible: the 1x1 bottleneck, SqueezeNet's Fire module, MobileNet's depthwise-separable
# convolution with its width and resolution multipliers, MobileNet v2's inverted residual, and
# ShuffleNet's group convolution with channel shuffle. You will derive the cost of each block in
# closed form and check it against a real forward pass. You will reproduce MobileNet's published
# cost table, train compact versions of the book's CNN on MNIST, and let a tiny neural
# architecture search (NAS) find a good one under a MAC budget. Finally you will measure why
# **fewer MACs is not the same as less time** on a CPU.
#
# ```{admonition} In this chapter
# **Goals**: *derive* the params and MACs of each compact block; *reproduce* MobileNet-v1's
# cost at any width and resolution; *train* compact CNNs with 5x fewer MACs and parameters at
# nearly the baseline's accuracy; *search* architectures under a MAC budget and plot the Pareto
# front; *measure* the gap between MAC reduction and real speedup.
#
# **Prerequisites**: chapter 1 (params, MACs, roofline). **Survey**: after the survey's section
# on compact models {cite:p}`deng2020model`.
#
# **Run time**: {glue:text}`ch2_runtime_s:.0f` s on the CPU that built this page, with a warm
# cache. The first run trains {glue:text}`ch2_n_trained:d` small networks and a
# {glue:text}`ch2_nas_n:d`-candidate search: {{ cold_each_02_s }} s on {{ cold_each_cores }} cores
# from an empty cache (measured {{ cold_each_measured }}). **GPU**: not needed.
# ```

# %% tags=["nbval-ignore-output"]
import inspect
import numpy as np
import pandas as pd
import torch
from torch import nn
from IPython.display import Markdown, display

from companion import claims, data, nb, compact, metrics, models, plotting, stats, train, widgets
from companion.exercises import check

dev = nb.setup()
base = train.baseline("cnn")

# %% tags=["check-within-noise"]
base_params, base_macs = metrics.count_params(base), metrics.measure_macs(base)
base_acc = train.evaluate(base)
print(f"baseline CNN: {base_params:,} params, {base_macs / 1e6:.2f} M MACs, test accuracy {base_acc:.1f} %")

# %% [markdown]
# ## The principle: make the expensive conv cheap
#
# A standard $k\times k$ convolution from $M$ to $N$ channels on a $D_F\times D_F$ output map
# costs $D_F^2\,M N k^2$ MACs. Every compact block replaces it by cheaper pieces:
#
# * **1x1 bottleneck** (Network in Network {cite:p}`lin2014network`, GoogLeNet
#   {cite:p}`szegedy2015going`, ResNet {cite:p}`he2016deep`): reduce $M$ channels to a few with a
#   1x1 conv, do the $k\times k$ conv there, expand back;
# * **Fire module** (SqueezeNet {cite:p}`iandola2016squeezenet`): a 1x1 *squeeze* layer with few
#   filters feeds 1x1 and 3x3 *expand* filters side by side;
# * **Depthwise-separable conv** (MobileNet {cite:p}`howard2017mobilenets`, Xception
#   {cite:p}`chollet2017xception`): one $k\times k$ filter per channel (depthwise), then a 1x1
#   conv that mixes channels (pointwise):
#
# $$ \frac{D_F^2 M k^2 + D_F^2 M N}{D_F^2 M N k^2} = \frac{1}{N} + \frac{1}{k^2}, $$
#
#   about 8–9x fewer MACs for $k = 3$;
# * **Inverted residual** (MobileNet v2 {cite:p}`sandler2018mobilenetv2`): expand with a 1x1 conv
#   by a factor $t$, filter depthwise, project back linearly, and add the input;
# * **Group conv + channel shuffle** (ShuffleNet {cite:p}`zhang2018shufflenet`): split the 1x1
#   convs into $g$ groups ($g$ times cheaper), and shuffle the channels so information still
#   crosses the groups.
#
# The smallest example: a channel shuffle of six channels in $g = 2$ groups. Viewing the
# channels as a $2\times 3$ grid and transposing it interleaves the groups, and the inverse
# restores the order:

# %% tags=["nbval-check-output"]
x = torch.arange(6.0).reshape(1, 6, 1, 1)           # channels 0..5: group A = 0,1,2, group B = 3,4,5
y = compact.channel_shuffle(x, groups=2)
print("shuffled: ", y.flatten().int().tolist())
print("restored: ", compact.channel_unshuffle(y, groups=2).flatten().int().tolist())

# %% [markdown]
# Every block is an `nn.Module` with a `.cost(h, w)` method. The method computes the cost in
# closed form, and the tests check it against hook measurements of a real forward pass for
# many random shapes. Here are all the blocks at **the same input and output shape**, 64
# channels on a 28×28 map, next to the 3x3 conv they replace (BatchNorm included; the
# `activations` column counts the elements every conv writes, which is what moves through
# memory):

# %% tags=["nbval-check-output"]
C_, S_ = 64, 28
blocks = {
    "standard 3x3 conv": compact.conv_cost(C_, C_, S_, S_, 3) + compact.bn_cost(C_),
    "1x1 bottleneck (mid 16)": compact.Bottleneck(C_, 16, C_).cost(S_, S_),
    "Fire (squeeze 16, 32+32)": compact.Fire(C_, 16, 32, 32, norm=True).cost(S_, S_),
    "depthwise-separable": compact.DepthwiseSeparable(C_, C_).cost(S_, S_),
    "inverted residual (t=6)": compact.InvertedResidual(C_, C_, expansion=6).cost(S_, S_),
    "inverted residual (t=2)": compact.InvertedResidual(C_, C_, expansion=2).cost(S_, S_),
    "ShuffleNet unit (g=4)": compact.ShuffleUnit(C_, C_, groups=4).cost(S_, S_),
}
ref = blocks["standard 3x3 conv"]
block_df = pd.DataFrame({k: {"params": c.params, "MACs (M)": c.macs / 1e6, "MAC ratio": ref.macs / c.macs,
                             "activations (k)": c.activations / 1e3} for k, c in blocks.items()}).T
block_df["params"] = block_df["params"].astype(int)
print(block_df.round(2).to_string())
check_block = compact.DepthwiseSeparable(C_, C_)
nb.glue("ch2_ir_act_ratio", blocks["inverted residual (t=6)"].activations / ref.activations)
print("hook-measured MACs of the depthwise-separable block:",
      f"{metrics.measure_macs(check_block, (1, C_, S_, S_)):,}", "=", f"{check_block.cost(S_, S_).macs:,}")

# %% [markdown]
# Compare the MAC ratio column with the activations column. The inverted residual with the
# paper's $t = 6$ costs *more* MACs than the plain conv at equal width, and it writes
# {glue:text}`ch2_ir_act_ratio:.0f`x more activations. MobileNet v2 pays this price on purpose:
# its bottlenecks are much thinner than the layers around them (here the block keeps 64
# channels in and out). The ShuffleNet unit is the
# cheapest in MACs, but not in activations.

# %% [markdown]
# ## Real networks: MobileNet's multipliers and SqueezeNet's 50x
#
# `compact.mobilenet_v1_table(width, resolution)` builds MobileNet-v1's layer table for any
# width multiplier α (channels × α, rounded as in the reference implementation) and any input
# resolution. At α = 1, 224×224 it is identical to the shared `models.layer_table("mobilenet_v1")`.
# Beside the paper's Table 6 {cite:p}`howard2017mobilenets`:

# %% tags=["nbval-check-output"]
paper = {1.0: (569, 4.2), 0.75: (325, 2.6), 0.5: (149, 1.3), 0.25: (41, 0.5)}
rows = []
for a, (p_macs, p_params) in paper.items():
    t = compact.mobilenet_v1_table(a, 224)
    rows.append({"width": a, "ours M MACs": t.macs / 1e6, "paper": p_macs,
                 "diff %": 100 * (t.macs / 1e6 - p_macs) / p_macs, "ours M params": t.params / 1e6,
                 "paper params": p_params})
mbv1 = pd.DataFrame(rows).set_index("width")
print(mbv1.round({"ours M MACs": 1, "diff %": 2, "ours M params": 2}).to_string())
print("identical to models.layer_table('mobilenet_v1'):",
      compact.mobilenet_v1_table().layers == models.layer_table("mobilenet_v1").layers)

# %% tags=["hide-input"]
nb.glue("mbv1_macs_m", compact.mobilenet_v1_table(1.0, 224).macs / 1e6)
nb.glue("ch2_mbv1_max_diff_pct", float(mbv1["diff %"].abs().max()))
conv_mbv1 = compact.mobilenet_v1_table(1.0, 224, block="standard")
nb.glue("ch2_convmbv1_macs_m", conv_mbv1.macs / 1e6)
nb.glue("ch2_convmbv1_params_m", conv_mbv1.params / 1e6)
sq_ratio = models.layer_table("alexnet").params / models.layer_table("squeezenet1_0").params
nb.glue("ch2_squeeze_alex_ratio", sq_ratio)
nb.glue("ch2_squeezenet_params_m", models.layer_table("squeezenet1_0").params / 1e6)
nb.glue("ch2_alexnet_params_m", models.layer_table("alexnet").params / 1e6)
nb.glue("ch2_res160_macs_m", compact.mobilenet_v1_table(1.0, 160).macs / 1e6)

# %% [markdown]
# MobileNet-v1 at width 1.0 needs {glue:text}`mbv1_macs_m:.1f` M mult-adds by our cost functions.
# Over the four widths we are never more than {glue:text}`ch2_mbv1_max_diff_pct:.2f` % away from
# the paper. Both multipliers act quadratically: MACs scale about as α²ρ² (resolution
# 160 gives {glue:text}`ch2_res160_macs_m:.0f` M; the paper's Table 7 prints 290 M), and
# parameters scale as α², independent of the resolution. The same network with full 3x3
# convolutions (the paper's "Conv MobileNet", Table 4: 4866 M, 29.3 M) needs
# {glue:text}`ch2_convmbv1_macs_m:.0f` M MACs and {glue:text}`ch2_convmbv1_params_m:.1f` M
# parameters. SqueezeNet 1.0 has {glue:text}`ch2_squeeze_alex_ratio:.1f`x fewer parameters than
# AlexNet, the "50x" of its title.
#
# Where does the cost sit? Every layer of the five networks below is sorted by type. The FC
# layers hold most of AlexNet's and VGG-16's parameters. In ResNet-50 and MobileNet the 1x1
# convolutions do much of the work: {glue:text}`ch2_mbv1_1x1_mac_share:.1f` % of MobileNet's MACs
# (the paper's Table 2 says 94.86 %). The depthwise layers there do only
# {glue:text}`ch2_mbv1_dw_mac_share:.1f` %; keep that in mind for the latency section.
# SqueezeNet moves its parameters into 1x1 convs, but its 7x7 stem and 3x3 expand filters still
# do most of its MACs.

# %% tags=["nbval-check-output"]
nets = ["alexnet", "vgg16", "resnet50", "squeezenet1_0", "mobilenet_v1"]
kinds = ["conv kxk", "conv 1x1", "depthwise", "fc", "bn"]
by_kind = {n: compact.cost_by_kind(models.layer_table(n)) for n in nets}
share = pd.DataFrame({n: {k: 100 * by_kind[n].get(k, compact.Cost()).macs / models.layer_table(n).macs for k in kinds}
                      for n in nets}).T
pshare = pd.DataFrame({n: {k: 100 * by_kind[n].get(k, compact.Cost()).params / models.layer_table(n).params
                           for k in kinds} for n in nets}).T
print("share of MACs (%)\n" + share.drop(columns="bn").round(1).to_string())
print("\nshare of parameters (%)\n" + pshare.round(1).to_string())
nb.glue("ch2_mbv1_1x1_mac_share", float(share.loc["mobilenet_v1", "conv 1x1"]))
nb.glue("ch2_mbv1_dw_mac_share", float(share.loc["mobilenet_v1", "depthwise"]))

# %% mystnb={"figure": {"caption": "Where the parameters (left) and the MACs (right) of six well-known networks sit, by layer type; the number above each bar is the network's total.", "name": "fig-ch2-layer-shares"}, "image": {"alt": "Two stacked bar charts, one bar per network, splitting parameters and MACs into convolution, depthwise, pointwise and fully connected layers: fully connected layers hold most parameters of AlexNet and VGG-16 while convolutions hold most MACs."}} tags=["nbval-ignore-output"]
fig, axes = plotting.new_figure(2, 1, width=10, height=3.6)
for ax, frame, total in ((axes[0], pshare, lambda n: models.layer_table(n).params / 1e6),
                         (axes[1], share, lambda n: models.layer_table(n).macs / 1e9)):
    bottom = np.zeros(len(nets))
    for i, k in enumerate(kinds[:4]):
        vals = frame[k].to_numpy()
        ax.bar(nets, vals, bottom=bottom, label=k, color=plotting.PALETTE[i])
        bottom += vals
    for x, n in enumerate(nets):  # the absolute total above each bar
        ax.annotate(f"{total(n):.1f}", (x, 101.5), ha="center", fontsize=8)
    ax.set_ylim(0, 112)
    ax.set_ylabel("share (%)")
    ax.tick_params(axis="x", rotation=20)
axes[0].set_title("Parameters by layer type (total in M above each bar)")
axes[1].set_title("MACs by layer type (total in G above each bar, 224×224)")
axes[1].legend(fontsize=8, loc="center right")
display(fig)

# %% [markdown]
# ## Compact CNNs for MNIST
#
# Now we apply the blocks to the book's baseline, the small VGG-style CNN
# (`train.baseline("cnn")`). Its first fully connected layer holds most of its parameters, and
# its four 3x3 convs do most of its MACs. `compact.ArchConfig(block, width,
# depth)` describes a compact alternative: a 3x3 stride-2 stem, two stages of `depth` blocks
# (14×14, then 7×7), global average pooling instead of the big FC layer, and a 10-way
# classifier. One network per block type, each within a fifth of the baseline's MACs, is
# trained the same way: Adam with a cosine-annealed learning rate for
# {glue:text}`ch2_compact_epochs:d` epochs, with ±1 px shifts (the weights are cached).

# %% tags=["nbval-ignore-output"]
SEEDS = (0, 1, 2)  # seeds 1 and 2 serve the seed test below
NAS = dict(n_candidates=12, mac_budget=base_macs // 5, proxy_epochs=2, strategy="evolution", seed=0)  # the search below
# From an empty cache the networks train side by side, one per core, beside the search; the
# slowest to train (the ShuffleNet variant, last in MNIST_VARIANTS) go first, so the cores finish together
compact.prefetch_compact(compact.MNIST_VARIANTS[::-1], seeds=SEEDS, search=NAS)
variants = {cfg.label: compact.train_compact(cfg) for cfg in compact.MNIST_VARIANTS}
nb.glue("ch2_compact_epochs", inspect.signature(compact.train_compact).parameters["epochs"].default)

# %% tags=["check-within-noise"]
accuracy = {}  # label -> (val %, test %), each network evaluated once

def describe(label, model):
    if label not in accuracy:
        accuracy[label] = (train.evaluate(model, "val"), train.evaluate(model, "test"))
    val, test = accuracy[label]
    c = model.cost()
    return {"network": label, "params": c.params, "MACs": c.macs, "param ratio": base_params / c.params,
            "MAC ratio": base_macs / c.macs, "val acc %": val, "test acc %": test, "drop (pp)": base_acc - test}

table = pd.DataFrame([describe(k, m) for k, m in variants.items()]).set_index("network")
print(table.round({"param ratio": 1, "MAC ratio": 1, "val acc %": 1, "test acc %": 1, "drop (pp)": 1}).to_string())

# %% tags=["hide-input"]
nb.glue("ch2_conv_acc", float(table.loc["conv w0.5 d1", "test acc %"]))
nb.glue("ch2_variants_acc_min", float(table["test acc %"][table.index != "conv w0.5 d1"].min()))
nb.glue("ch2_variants_acc_max", float(table["test acc %"].max()))
nb.claim("ch2_conv_weakest", "the plain-conv control is the weakest",
         claims.compare_accuracies(float(table.loc["conv w0.5 d1", "test acc %"]),
                                   float(table["test acc %"][table.index != "conv w0.5 d1"].min()),
                                   len(data.load_mnist("test")[1])) == "lower",
         conv=float(table.loc["conv w0.5 d1", "test acc %"]), others=table["test acc %"].to_dict())

# %% [markdown]
# The plain-conv control is the weakest (its 95 % interval lies below every other network's:
# a claim the build checks). To stay under the budget with full 3x3 convs it
# must be thin (16 and 32 channels) and shallow (one conv per stage), and it reaches only
# {glue:text}`ch2_conv_acc:.1f` %. For the same MACs the cheap blocks can afford wider and deeper
# networks, and they reach {glue:text}`ch2_variants_acc_min:.1f`–{glue:text}`ch2_variants_acc_max:.1f` %.
# That is the survey's case for compact blocks, in one table.
#
# The shared ruler gives the same numbers. `metrics.make_report` measures a model with
# hooks and reports it against the baseline as every chapter does (size is float32 here;
# chapter 4 quantizes it):

# %% tags=["check-within-noise"]
reports = [metrics.make_report(k, m, base, accuracy=accuracy[k][1], baseline_accuracy=base_acc)
           for k, m in variants.items()]
print(metrics.compare(reports).round(2).to_string())

# %% [markdown]
# ## A tiny neural architecture search
#
# Choosing the block, width and depth by hand is what NAS automates. Zoph & Le
# {cite:p}`zoph2017neural` trained a controller network with reinforcement learning, and Real et
# al. {cite:p}`real2019regularized` showed that plain *regularized evolution* works as well.
# MnasNet {cite:p}`tan2019mnasnet` put the hardware cost into the objective. Our search uses
# the same ingredients at toy scale:
#
# * **space**: 5 block types × 5 widths (0.5–2) × 3 depths = {glue:text}`ch2_nas_space:d` networks;
# * **constraint**: at most a fifth of the baseline's MACs. The closed-form cost rejects an
#   architecture *before* anything is trained;
# * **proxy**: validation accuracy after only 2 epochs (the test split is never looked at);
# * **strategy**: aging evolution. Start from 4 random networks, then repeatedly mutate the
#   better of 2 random members of the population (one of block/width/depth changes), and
#   let the oldest leave. Every candidate is trained once and the results are cached.

# %% tags=["nbval-ignore-output"]
mac_budget = NAS["mac_budget"]
nas = compact.run_search(**NAS)

# %% tags=["check-within-noise"]
front = compact.pareto_front([c.macs for c in nas], [c.score for c in nas])
nas_df = pd.DataFrame([{"#": i, "architecture": c.config.label, "params": c.params, "MACs": c.macs,
                        "proxy val acc %": c.score, "Pareto": "*" if i in front else ""}
                       for i, c in enumerate(nas)]).set_index("#")
print(nas_df.round(1).to_string())
winner = max(nas, key=lambda c: c.score)
print(f"best proxy score: {winner.config.label} ({winner.score:.1f} % after 2 epochs)")
nb.glue("ch2_nas_score_min", min(c.score for c in nas))
nb.glue("ch2_nas_score_max", max(c.score for c in nas))

# %% [markdown]
# Two epochs are a weak proxy. After them the candidates score between
# {glue:text}`ch2_nas_score_min:.1f` % and {glue:text}`ch2_nas_score_max:.1f` %, far below their
# final accuracy, so the proxy rewards networks that *learn fast*, which are not always those
# that *end best*. Much NAS research addresses exactly this (longer proxies, weight sharing,
# learning-curve extrapolation). So the winner of the search, {glue:md}`ch2_nas_winner`, is
# trained in full like the hand-designed variants. The best compact network is then chosen by
# **validation** accuracy among all networks with at least 5x fewer MACs and parameters. The
# test split is used only to report the result.

# %% tags=["nbval-ignore-output"]
compact.prefetch_compact([winner.config], seeds=SEEDS)
nas_model = compact.train_compact(winner.config)
candidates = dict(variants)
_ = candidates.setdefault(winner.config.label, nas_model)

# %% tags=["check-within-noise"]
full = pd.DataFrame([describe(k, m) for k, m in candidates.items()]).set_index("network")
eligible = full[(full["MAC ratio"] >= 5) & (full["param ratio"] >= 5)]
best_label = eligible["val acc %"].idxmax()
best = full.loc[best_label]
print(f"NAS winner trained in full: {winner.config.label}: test {full.loc[winner.config.label, 'test acc %']:.1f} %")
print(f"best compact CNN (by val accuracy): {best_label}")
print(f"  {base_macs / 1e6:.2f} M -> {best['MACs'] / 1e6:.3f} M MACs ({best['MAC ratio']:.1f}x fewer), "
      f"{base_params:,} -> {int(best['params']):,} params ({best['param ratio']:.1f}x fewer)")
print(f"  test accuracy {best['test acc %']:.1f} % vs {base_acc:.1f} % (drop {best['drop (pp)']:.1f} points)")

# %% tags=["hide-input"]
nb.glue("compact_mac_ratio", float(best["MAC ratio"]))
nb.glue("compact_param_ratio", float(best["param ratio"]))
nb.glue("compact_acc_drop", float(best["drop (pp)"]))
nb.glue("ch2_best_label", Markdown(best_label))  # {glue:md}: the text without quotes
nb.glue("ch2_best_acc", float(best["test acc %"]))
nb.glue("ch2_base_acc", float(base_acc))
nb.glue("ch2_nas_n", len(nas))
nb.glue("ch2_nas_space", compact.ArchSpace().size)
nb.glue("ch2_nas_winner", Markdown(winner.config.label))
nb.glue("ch2_n_trained", len(candidates))
nb.glue("ch2_base_fc1_params", sum(p.numel() for p in base.fc1.parameters()))
N_TEST = len(data.load_mnist("test")[1])  # 1,000 images: one image is 0.1 point
best_ci, base_ci = stats.accuracy_interval(float(best["test acc %"]), N_TEST), stats.accuracy_interval(base_acc, N_TEST)
nb.glue("ch2_best_acc_ci_low", best_ci.low)
nb.glue("ch2_best_acc_ci_high", best_ci.high)
nb.glue("ch2_base_acc_ci_low", base_ci.low)
nb.glue("ch2_base_acc_ci_high", base_ci.high)
nb.glue("compact_acc_ci", f"{best_ci.low:.1f}–{best_ci.high:.1f} % (95 % Wilson interval, {N_TEST:,} test images)")
nb.glue("ch2_eligible_spread", float(eligible["test acc %"].max() - eligible["test acc %"].min()))
nb.glue("ch2_test_half_width", best_ci.half_width)
nb.glue("ch2_n_eligible", len(eligible))

# %% [markdown]
# The best compact CNN, **{glue:md}`ch2_best_label`**, needs {glue:text}`compact_mac_ratio:.1f`x
# fewer MACs and {glue:text}`compact_param_ratio:.1f`x fewer parameters than the baseline. Its
# test accuracy is {glue:text}`ch2_best_acc:.1f` % against {glue:text}`ch2_base_acc:.1f` %, a drop
# of {glue:text}`compact_acc_drop:.1f` points (95 % intervals:
# {glue:text}`ch2_best_acc_ci_low:.1f`–{glue:text}`ch2_best_acc_ci_high:.1f` % and
# {glue:text}`ch2_base_acc_ci_low:.1f`–{glue:text}`ch2_base_acc_ci_high:.1f` %; the seed test below
# asks whether the pick is really better than the runner-up). Most of the parameter saving comes from global
# average pooling, which replaces the baseline's {glue:text}`ch2_base_fc1_params:,d`-parameter
# FC layer. Most of the MAC saving comes from the blocks and the early stride. The figure shows every trained network and the
# search: accuracy against MACs, with the Pareto front of the proxy scores (no other candidate
# is both cheaper and better).
#
# **Is the pick better than the others, or lucky?** The {glue:text}`ch2_n_eligible:d` eligible
# networks lie within {glue:text}`ch2_eligible_spread:.1f` points of each other, while one accuracy on
# 1,000 images is known only to ±{glue:text}`ch2_test_half_width:.1f` points. This chapter is where the
# book's three statistical tools first appear, so here they are once, for every later chapter:
#
# ```{admonition} Three tools for "is it really better?"
# :class: tip
# * **An interval for one accuracy** (`stats.accuracy_interval`): the 95 % *Wilson* interval of
#   a proportion {cite:p}`wilson1927probable`. On $n$ test images an accuracy $p$ is known to
#   about $\pm 1.96\sqrt{p(1-p)/n}$: ±1 point at 97 % on 1,000 images.
# * **Two models on the same images** (`stats.mcnemar_exact`): McNemar's exact test counts the
#   images only A gets right and those only B gets right; if the models were equally accurate,
#   each such image would fall either way with probability ½ (a binomial test)
#   {cite:p}`mcnemar1947note`. It uses the pairing, so it resolves smaller gaps than two intervals.
# * **Two recipes over seeds** (`stats.welch_t_test`): Welch's t-test on the per-seed results,
#   without assuming equal variances {cite:p}`welch1947generalization`. With three seeds only
#   large, consistent gaps are significant.
#
# A difference is reported as a finding only when its test says so at the 5 % level; otherwise
# the book says "not distinguishable" (`claims.verdict`).
# ```
#
# We retrain every eligible network and the baseline with seeds 1 and 2 (cached) and compare the
# best pick with each other candidate by Welch's t-test on the three per-seed test accuracies.

# %% tags=["check-within-noise"]
eligible_labels = [k for k in eligible.index if k != best_label]
configs = {c.label: c for c in (*compact.MNIST_VARIANTS, winner.config)}
seed_acc = {k: [train.evaluate(compact.train_compact(configs[k], seed=s)) for s in SEEDS]
            for k in [best_label, *eligible_labels]}
seed_base = [train.evaluate(train.baseline("cnn", seed=s)) for s in SEEDS]
print(f"baseline CNN: {stats.seed_summary(seed_base)}")
pick_tests = {}
for k, accs in seed_acc.items():
    line = f"{k:17s} {stats.seed_summary(accs)}"
    if k != best_label:
        pick_tests[k] = stats.welch_t_test(seed_acc[best_label], accs)
        line += f"  vs {best_label}: Welch p = {pick_tests[k].p_value:.3f}"
    print(line)

# %% tags=["hide-input"]
drop_seeds = stats.seed_summary([b - a for b, a in zip(seed_base, seed_acc[best_label])])
runner_up = max(eligible_labels, key=lambda k: stats.seed_summary(seed_acc[k]).mean)
nb.glue("ch2_best_seed_mean", stats.seed_summary(seed_acc[best_label]).mean)
nb.glue("ch2_drop_seed_mean", drop_seeds.mean)
nb.glue("ch2_drop_seed_ci_low", drop_seeds.low)
nb.glue("ch2_drop_seed_ci_high", drop_seeds.high)
nb.glue("ch2_runner_up", Markdown(runner_up))
nb.glue("ch2_runner_up_seed_mean", stats.seed_summary(seed_acc[runner_up]).mean)
nb.glue("ch2_pick_vs_runner_up_p", pick_tests[runner_up].p_value)
nb.glue("ch2_n_pick_significant", sum(t.significant(0.05) for t in pick_tests.values()))
nb.glue("ch2_n_pick_others", len(pick_tests))

# %% [markdown]
# Over three seeds {glue:md}`ch2_best_label` averages {glue:text}`ch2_best_seed_mean:.2f` % and
# the best other eligible network, {glue:md}`ch2_runner_up`, {glue:text}`ch2_runner_up_seed_mean:.2f` %
# (Welch p = {glue:text}`ch2_pick_vs_runner_up_p:.2f`); the pick is significantly better than
# {glue:text}`ch2_n_pick_significant:d` of the {glue:text}`ch2_n_pick_others:d` other eligible networks
# at the 5 % level. Where the test finds no difference, read the choice of block as *one of
# several that work*, not as a ranking. The drop against the baseline, seed by seed, is
# {glue:text}`ch2_drop_seed_mean:.2f` points (95 % t-interval
# {glue:text}`ch2_drop_seed_ci_low:.2f` to {glue:text}`ch2_drop_seed_ci_high:.2f`).

# %% mystnb={"figure": {"caption": "Left: test accuracy against MACs for the compact networks trained in this chapter, with the MAC budget (dashed) and the baseline minus one point (dotted). Right: the architecture search's candidates and their Pareto front.", "name": "fig-ch2-compact-pareto"}, "image": {"alt": "Two scatter plots with MACs per image on the horizontal axis and accuracy on the vertical axis: the compact designs and the search candidates, with a line joining the Pareto-optimal candidates."}} tags=["nbval-ignore-output"]
fig, (a1, a2) = plotting.new_figure(2, 1, width=11, height=4)
a1.scatter([base_macs / 1e6], [base_acc], marker="*", s=180, color="k", label="baseline CNN")
for i, (k, row) in enumerate(full.iterrows()):
    a1.scatter(row["MACs"] / 1e6, row["test acc %"], s=60, color=plotting.PALETTE[i % 8], label=k)
a1.axvline(mac_budget / 1e6, ls="--", color="grey", lw=1)
a1.axhline(base_acc - 1, ls=":", color="grey", lw=1)
a1.set_xscale("log")
a1.minorticks_off()
a1.set_xticks([0.5, 1, 2, 5], ["0.5", "1", "2", "5"])
a1.set_xlabel("MACs per image (M, log scale)")
a1.set_ylabel("test accuracy (%)")
a1.set_title("Trained networks (dashed: MAC budget, dotted: baseline − 1 pt)")
a1.legend(fontsize=8, loc="lower right")
a2.scatter([c.macs / 1e6 for c in nas], [c.score for c in nas], color=plotting.PALETTE[0], label="candidates")
a2.plot([nas[i].macs / 1e6 for i in front], [nas[i].score for i in front], "o-", color=plotting.PALETTE[3],
        label="Pareto front")
for i, c in enumerate(nas):
    a2.annotate(c.config.label, (c.macs / 1e6, c.score), fontsize=8, xytext=(3, 3), textcoords="offset points")
a2.set_xlabel("MACs per image (M)")
a2.set_ylabel("validation accuracy after 2 epochs (%)")
a2.set_title(f"Architecture search: {len(nas)} of {compact.ArchSpace().size} networks")
a2.legend(fontsize=8)
display(fig)

# %% [markdown]
# ## Explore: MobileNet-v1's width and resolution multipliers
#
# Move the width multiplier α and the input resolution, and switch between depthwise-separable
# blocks and full 3x3 convolutions. The bars show every layer's MACs and parameters, colored by
# layer type. The tables are cheap to compute, so the frame function only looks them up and
# draws.

# %% tags=["nbval-ignore-output"]
from matplotlib.figure import Figure  # not registered with pyplot: nothing leaks between frames

WIDTHS, RESOLUTIONS, BLOCKS = [0.25, 0.5, 0.75, 1.0], [128, 160, 192, 224], ["separable", "standard"]
tables = {(a, r, b): compact.mobilenet_v1_table(a, r, block=b) for a in WIDTHS for r in RESOLUTIONS for b in BLOCKS}
KIND_COLOR = {"conv kxk": plotting.PALETTE[0], "conv 1x1": plotting.PALETTE[1], "depthwise": plotting.PALETTE[2],
              "fc": plotting.PALETTE[3]}

columns = {key: (np.array([compact.layer_kind(l) for l in t]), np.array([l.macs / 1e6 for l in t]),
                  np.array([l.params / 1e3 for l in t])) for key, t in tables.items()}

def mobilenet_frame(width=1.0, resolution=224, block="separable"):
    t = tables[(width, resolution, block)]
    kinds, macs, params = columns[(width, resolution, block)]
    fig = Figure(figsize=(9, 4.4))  # fixed margins: a constrained layout costs more than the drawing
    a1, a2 = fig.subplots(2, 1, sharex=True)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.9, bottom=0.11, hspace=0.3)
    idx = np.arange(len(t))
    for kind, color in KIND_COLOR.items():  # one line collection per layer type: fast to draw
        sel = kinds == kind
        a1.vlines(idx[sel], 0, macs[sel], color=color, lw=6, label=kind)
        a2.vlines(idx[sel], 0, params[sel], color=color, lw=6)
    a1.set_ylim(0, 1.3 * macs.max())  # head room for the legend
    a2.set_ylim(0, None)
    a1.set_ylabel("MACs (M)")
    a1.set_title(f"MobileNet-v1 α={width:g}, {resolution}×{resolution}, {block}: "
                 f"{t.macs / 1e6:,.0f} M MACs, {t.params / 1e6:.2f} M params")
    a2.set_ylabel("params (k)")
    a2.set_xlabel("layer index (stem, then depthwise/pointwise pairs, FC last)")
    a1.legend(fontsize=8, ncol=4, loc="upper left")
    return fig

explorer = widgets.explore(mobilenet_frame, title="MobileNet-v1: width and resolution multipliers",
                           width=WIDTHS, resolution=RESOLUTIONS, block=BLOCKS, dpi=60)

# %% tags=["nbval-ignore-output"]
ms = widgets.frame_timings_ms(mobilenet_frame, {"width": [0.5, 1.0], "resolution": [224], "block": BLOCKS})
if not widgets.static_mode():  # a measurement for the live notebook, not the website
    print(f"rendering one frame (figure + PNG): median {np.median(ms):.0f} ms, done once per frame when the cell runs")
widgets.show_timing(explorer)

# %% [markdown]
# ## What it buys in practice: MACs are not milliseconds
#
# A depthwise conv does only $k^2 = 9$ MACs per output value, so it does little work for each
# byte it moves. Its *arithmetic intensity* stays around 1 MAC/byte, which puts it on the
# bandwidth slope of the roofline in chapter 1. Dense 1x1 and 3x3 convs reuse every input
# value across many filters, so their intensity grows with the channel count:

# %% tags=["nbval-check-output"]
for name, kw in (("3x3 standard", dict(k=3)), ("3x3 depthwise", dict(k=3, groups=128)), ("1x1 pointwise", dict(k=1))):
    print(f"{name:14s} 128->128 ch, 28x28: {compact.conv_intensity(128, 128, 28, 28, **kw):6.1f} MACs/byte (float32)")

# %% [markdown]
# We time a standard 3x3 conv against a depthwise-separable one with **the same input and
# output shape**, on one CPU thread at batch 1, with no BN and no ReLU so that only the
# convolutions are timed. Five interleaved rounds time all four modules one after the other
# (`metrics.time_calls_ms`, the library's one timer); in each round a module's time is its
# fastest of six runs (other processes only ever add time, as `timeit` advises), and the
# speed-up is the median over rounds of the within-round ratio. The numbers change with the machine:

# %% tags=["nbval-ignore-output"]
shapes = [(32, 56), (64, 28), (128, 28), (256, 14)]
lat = pd.DataFrame([{"channels": c, "side": s, **compact.latency_comparison(c, c, s, repeats=30)} for c, s in shapes])
lat["speedup"] = lat["speedup_median"]
lat["depthwise share of time %"] = 100 * lat["ms_depthwise"] / (lat["ms_depthwise"] + lat["ms_pointwise"])
lat["depthwise share of MACs %"] = 100 * lat["channels"] * 9 / (lat["channels"] * 9 + lat["channels"] ** 2)
print(lat[["channels", "side", "mac_ratio", "speedup", "ms_standard", "ms_separable",
           "depthwise share of MACs %", "depthwise share of time %"]].round(2).to_string(index=False))
nb.glue("ch2_lat_mac_ratio_min", float(lat["mac_ratio"].min()))
nb.glue("ch2_lat_mac_ratio_max", float(lat["mac_ratio"].max()))
nb.glue("ch2_lat_speedup_min", float(lat["speedup"].min()), measured=True)
nb.glue("ch2_lat_speedup_max", float(lat["speedup"].max()), measured=True)
nb.glue("ch2_dw_time_share_max", float(lat["depthwise share of time %"].max()), measured=True)
nb.glue("ch2_dw_mac_share_min", float(lat["depthwise share of MACs %"].min()))
nb.glue("ch2_dw_mac_share_max", float(lat["depthwise share of MACs %"].max()))

# %% mystnb={"figure": {"caption": "Depthwise-separable against standard 3x3 convolution on one CPU thread: the MAC reduction (the ideal speed-up) next to the measured speed-up, for several channel counts and image sizes.", "name": "fig-ch2-separable-speed"}, "image": {"alt": "Grouped bar chart, one group per layer shape, comparing the ideal speed-up from the MAC count with the smaller speed-up measured on the CPU."}} tags=["nbval-ignore-output"]
fig, ax = plotting.new_figure(width=7, height=3.6)
xs = np.arange(len(lat))
ax.bar(xs - 0.2, lat["mac_ratio"], 0.4, label="MAC reduction (ideal speedup)", color=plotting.PALETTE[0])
ax.bar(xs + 0.2, lat["speedup"], 0.4, label="measured speedup", color=plotting.PALETTE[1])
ax.set_xticks(xs, [f"{c} ch, {s}×{s}" for c, s in shapes])
ax.set_ylabel("standard / separable (x)")
ax.set_title("Depthwise-separable vs standard 3x3 conv on one CPU thread")
ax.set_ylim(0, 1.35 * lat["mac_ratio"].max())
ax.legend(loc="upper left", ncol=2)
display(fig)

# %% [markdown]
# The separable conv needs {glue:text}`ch2_lat_mac_ratio_min:.1f`–{glue:text}`ch2_lat_mac_ratio_max:.1f`x
# fewer MACs. On this CPU it ran only
# {glue:text}`ch2_lat_speedup_min:.1f`–{glue:text}`ch2_lat_speedup_max:.1f`x faster. The
# depthwise half does only {glue:text}`ch2_dw_mac_share_min:.0f`–{glue:text}`ch2_dw_mac_share_max:.0f` %
# of the MACs but takes up to {glue:text}`ch2_dw_time_share_max:.0f` % of the time: it is
# memory-bound, and its per-channel loops vectorise poorly. ShuffleNet v2
# {cite:p}`ma2018shufflenetv2` drew the same lesson from phone measurements: FLOPs are an
# indirect metric, so measure the latency on the target.
#
# Whole networks show the same gap. The baseline against the best compact CNN (one thread,
# seven interleaved rounds, fastest of five runs per round):

# %% tags=["nbval-ignore-output"]
best_model = candidates[best_label]
for batch in (1, 64):
    t = metrics.compare_latency_ms({"base": base, "best": best_model}, (batch, 1, 28, 28), rounds=7, repeats=5)
    r = t.ratio("base", "best")
    print(f"batch {batch:2d}: baseline {t.best_ms('base'):7.3f} ms, {best_label} {t.best_ms('best'):7.3f} ms -> "
          f"{r.text('.2f', 'x')} faster (range over rounds) for {base_macs / best_model.cost().macs:.1f}x fewer MACs")
    nb.glue(f"ch2_net_speedup_b{batch}", r.mid, measured=True)
    nb.glue(f"ch2_net_speedup_b{batch}_range", r.text(".1f", "x"), measured=True)

# %% [markdown]
# The speed ratio (baseline time / compact time) was {glue:text}`ch2_net_speedup_b1_range` at
# batch 1 and {glue:text}`ch2_net_speedup_b64_range` at batch 64 (ranges over the rounds), for
# {glue:text}`compact_mac_ratio:.1f`x fewer MACs. At batch 1 both networks are so small that the
# fixed cost of each operator call dominates: the compact network has more, smaller layers
# (and BatchNorm), so fewer MACs need not mean less time. Larger batches amortise that
# overhead. Chapter 7's accelerator model shows the hardware side: depthwise layers leave most
# processing elements of a systolic array idle.

# %% [markdown]
# ## Beside the literature
#
# | quantity | paper | this book |
# |---|---|---|
# | MobileNet-v1 1.0, 224: mult-adds {cite:p}`howard2017mobilenets` | 569 M | {glue:text}`mbv1_macs_m:.1f` M (our cost functions) |
# | MobileNet-v1 0.25–1.0: mult-adds, max. deviation | 41–569 M | {glue:text}`ch2_mbv1_max_diff_pct:.2f` % |
# | Conv MobileNet (full 3x3 convs) {cite:p}`howard2017mobilenets` | 4866 M, 29.3 M params | {glue:text}`ch2_convmbv1_macs_m:.0f` M, {glue:text}`ch2_convmbv1_params_m:.1f` M params |
# | SqueezeNet vs AlexNet parameters {cite:p}`iandola2016squeezenet` | 50x | {glue:text}`ch2_squeeze_alex_ratio:.1f`x |
# | MobileNet: accuracy cost of depthwise-separable {cite:p}`howard2017mobilenets` | −1.1 pt top-1 for 8.5x fewer mult-adds (ImageNet) | −{glue:text}`compact_acc_drop:.1f` pt for {glue:text}`compact_mac_ratio:.1f`x fewer MACs (MNIST) |
# | depthwise-separable speedup | FLOPs ≠ speed {cite:p}`ma2018shufflenetv2` | {glue:text}`ch2_lat_speedup_min:.1f`–{glue:text}`ch2_lat_speedup_max:.1f`x measured for {glue:text}`ch2_lat_mac_ratio_min:.1f`–{glue:text}`ch2_lat_mac_ratio_max:.1f`x fewer MACs |
#
# The setups differ. The cost rows use the papers' exact layer tables (224×224, batch 1, mult-adds
# of conv and FC layers only) and agree to the paper's printed precision. The accuracy row
# compares ImageNet (1000 classes, 1.28 M images, a full MobileNet) with our 3,500-image MNIST
# subset and a network hundreds of times smaller. Only the *shape* of the trade-off carries
# over, and on the 1,000-image test split one point is ten images. SqueezeNet 1.0 has
# {glue:text}`ch2_squeezenet_params_m:.2f` M parameters against our single-tower AlexNet's {glue:text}`ch2_alexnet_params_m:.1f` M. The paper divides
# AlexNet's 240 MB by SqueezeNet's 4.8 MB and rounds to 50x.

# %% [markdown]
# ## Exercises
#
# **1 (easy).** How many MACs (batch 1) does a 3x3 depthwise-separable layer with 64 input and
# 128 output channels need on a 56×56 input (stride 1, "same" padding)?

# %%
answer_1 = None  # your code here
check("ch2.dwsep_macs", answer_1)

# %% tags=["hide-cell", "solution"]
answer_1 = 56 * 56 * 64 * 9 + 56 * 56 * 64 * 128   # depthwise + pointwise
check("ch2.dwsep_macs", answer_1)

# %% [markdown]
# **2 (easy).** How many parameters (weights and biases) does SqueezeNet's `fire2` have
# (96 input channels, squeeze 16, expand 64 1x1 + 64 3x3, no BatchNorm)? Compare with the row
# in `models.layer_table("squeezenet1_0")`.

# %%
answer_2 = None  # your code here
check("ch2.fire_params", answer_2)

# %% tags=["hide-cell", "solution"]
answer_2 = (96 * 16 + 16) + (16 * 64 + 64) + (16 * 64 * 9 + 64)
check("ch2.fire_params", answer_2)

# %% [markdown]
# **3 (medium).** Write `unshuffle(x, groups)` that undoes `compact.channel_shuffle(x, groups)`
# for any `x` of shape `[N, C, H, W]` with `C` divisible by `groups`. Do it without calling
# `compact.channel_unshuffle`.

# %%
unshuffle = None  # your code here: def unshuffle(x, groups): ...
check("ch2.unshuffle", unshuffle)

# %% tags=["hide-cell", "solution"]
def unshuffle(x, groups):
    n, c = x.shape[:2]
    return x.reshape(n, c // groups, groups, *x.shape[2:]).transpose(1, 2).reshape(x.shape)

check("ch2.unshuffle", unshuffle)

# %% [markdown]
# **4 (hard).** A phone can afford 150 M MACs per image at 160×160 input. What is the largest
# width multiplier in `compact.WIDTH_GRID` (0.25, 0.30, …, 1.00) for which MobileNet-v1 fits?
# Estimate it first from the α²ρ² rule, then check it with `compact.mobilenet_v1_table`.

# %%
answer_4 = None  # your code here
check("ch2.width_for_budget", answer_4)

# %% tags=["hide-cell", "solution"]
estimate = (150 / (569 * (160 / 224) ** 2)) ** 0.5          # α²ρ² rule: about 0.72
answer_4 = max(a for a in compact.WIDTH_GRID if compact.mobilenet_v1_table(a, 160).macs <= 150e6)
print(f"estimate {estimate:.2f}, exact answer {answer_4}")
check("ch2.width_for_budget", answer_4)

# %% [markdown]
# **5 (open).** Rerun the search with `strategy="random"` and the same budget, and compare the
# best proxy score of both runs. Then double `proxy_epochs`: does the ranking of the candidates
# change? (Li & Talwalkar {cite:p}`li2019random` found random search a strong baseline for NAS.)
# Each run is cached once it is done.

# %% [markdown]
# ## Summary
#
# * Compact blocks replace one expensive $k\times k$ conv by cheap pieces: 1x1 bottlenecks,
#   Fire modules, depthwise + pointwise convs (a $1/N + 1/k^2$ cost ratio), inverted residuals,
#   and group convs whose channels are shuffled between groups.
# * The cost of each block is a closed form. Ours match hook measurements exactly and MobileNet's
#   published table to within {glue:text}`ch2_mbv1_max_diff_pct:.2f` %. The width and resolution
#   multipliers trade accuracy for cost quadratically.
# * On MNIST a compact CNN ({glue:md}`ch2_best_label`) keeps the baseline's accuracy to within
#   {glue:text}`compact_acc_drop:.1f` points with {glue:text}`compact_mac_ratio:.1f`x fewer MACs
#   and {glue:text}`compact_param_ratio:.1f`x fewer parameters.
# * A small NAS (evolution, a MAC budget checked before training, a 2-epoch proxy) explores
#   the design space automatically. Its Pareto front shows the trade-off it leaves you to pick from.
# * Fewer MACs is not less time: depthwise convs are memory-bound, so separable layers with
#   {glue:text}`ch2_lat_mac_ratio_min:.1f`–{glue:text}`ch2_lat_mac_ratio_max:.1f`x fewer MACs
#   ran only {glue:text}`ch2_lat_speedup_min:.1f`–{glue:text}`ch2_lat_speedup_max:.1f`x faster
#   here. Measure on the target.
#
# **Further reading.** The survey's section on compact models {cite:p}`deng2020model`;
# SqueezeNet {cite:p}`iandola2016squeezenet`; MobileNets {cite:p}`howard2017mobilenets` and
# MobileNetV2 {cite:p}`sandler2018mobilenetv2`; ShuffleNet {cite:p}`zhang2018shufflenet` and its
# practical guidelines {cite:p}`ma2018shufflenetv2`; Xception {cite:p}`chollet2017xception`;
# NAS with RL {cite:p}`zoph2017neural`, regularized evolution {cite:p}`real2019regularized`,
# MnasNet {cite:p}`tan2019mnasnet`, and random search as a baseline {cite:p}`li2019random`.

# %% tags=["nbval-ignore-output"]
nb.glue("ch2_runtime_s", nb.runtime_s(), measured=True)
