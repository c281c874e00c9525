# %% [markdown]
# # 1. Why compress: the cost of a neural network
#
# Before we shrink anything we need a ruler. In this chapter you will count, for real networks
# (AlexNet, VGG-16, ResNet, MobileNet, SqueezeNet) and for the small MNIST models used throughout
# the book, how many **parameters** they store, how many **multiply-accumulates (MACs)** they
# compute, how many **bytes** they move and how much **energy** that costs — and you will see
# why moving data, not arithmetic, dominates. The metrics defined here judge every method in
# every later chapter.
#
# ```{admonition} In this chapter
# **Goals**: *count* parameters and MACs of any layer by hand and by hooks; *compute* a
# network's size at any bitwidth; *estimate* energy from Horowitz's 45 nm table; *place* layers
# on a roofline; *report* a compressed model with the shared `CompressionReport`.
#
# **Prerequisites**: chapter 0; a little PyTorch. **Survey**: after the survey's introduction
# and its discussion of evaluation metrics {cite:p}`deng2020model`.
#
# **Run time**: {glue:text}`ch1_runtime_s:.0f` s on the CPU that built this page. **GPU**: not needed.
# ```

# %%
# NBVAL_IGNORE_OUTPUT
import numpy as np
import torch
from torch import nn
import matplotlib.pyplot as plt
from IPython.display import display

from companion import nb, cost, metrics, models, train, plotting, widgets
from companion.exercises import check

dev = nb.setup()

# %% [markdown]
# ## The principle: what one layer costs
#
# A convolution with $C_\text{in}$ input and $C_\text{out}$ output channels, a $k_h \times k_w$
# kernel and $g$ groups, producing an $H_\text{out} \times W_\text{out}$ map, has
#
# $$ \text{params} = C_\text{out}\,\frac{C_\text{in}}{g}\,k_h k_w \;(+\,C_\text{out}\ \text{biases}),\qquad
#    \text{MACs} = H_\text{out} W_\text{out}\cdot C_\text{out}\,\frac{C_\text{in}}{g}\,k_h k_w . $$
#
# A fully connected (FC) layer is the special case $k_h = k_w = H_\text{out} = W_\text{out} = 1$:
# each weight is used **once** per image, while a conv weight is reused at every output pixel.
# Check it by hand on a tiny layer: 3 → 8 channels, 3×3 kernel, on an 8×8 input without padding
# (so the output is 6×6): $8·3·9 = 216$ weights + 8 biases, and $6·6·216 = 7{,}776$ MACs.
# The hooks of `companion.metrics` measure the same thing on a real forward pass:

# %%
# NBVAL_CHECK_OUTPUT
tiny = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
for layer in metrics.measure_layers(tiny, input_shape=(1, 3, 8, 8)):
    print(f"{layer.name:>2} {layer.kind:4s} params {layer.params:5d}  MACs {layer.macs:6d}  "
          f"in {layer.in_shape} -> out {layer.out_shape}")

# %% [markdown]
# ## Real networks, layer by layer
#
# `companion.models.layer_table(name)` holds the layers of six well-known ImageNet networks
# (batch 1, 224×224 input). Their totals reproduce the published parameter counts exactly
# (the tests check them), so the tables are a faithful basis for cost analysis.

# %%
# NBVAL_CHECK_OUTPUT
import pandas as pd
summary = pd.DataFrame({n: cost.network_summary(n, 32) for n in models.TABLE_NAMES}).T
summary["params (M)"] = summary["params"] / 1e6
summary["GMACs"] = summary["macs"] / 1e9
summary["float32 MB"] = summary["weight_mb"]
print(summary[["params (M)", "GMACs", "float32 MB"]].round(2).to_string())

# %%
# NBVAL_IGNORE_OUTPUT
vgg = models.layer_table("vgg16")
fc_share = sum(l.params for l in vgg if l.type == "fc") / vgg.params
conv_mac_share = sum(l.macs for l in vgg if l.type == "conv") / vgg.macs
nb.glue("ch1_vgg_params_m", vgg.params / 1e6)
nb.glue("ch1_vgg_fc_param_share", 100 * fc_share)
nb.glue("ch1_vgg_conv_mac_share", 100 * conv_mac_share)
alex = models.layer_table("alexnet")
nb.glue("ch1_alexnet_fc_param_share", 100 * sum(l.params for l in alex if l.type == "fc") / alex.params)
nb.glue("ch1_mbv1_macs_m", models.layer_table("mobilenet_v1").macs / 1e6)

# %% [markdown]
# VGG-16 stores {glue:text}`ch1_vgg_params_m:.1f` M parameters, and
# {glue:text}`ch1_vgg_fc_param_share:.1f` % of them sit in its three FC layers — yet its
# convolutions perform {glue:text}`ch1_vgg_conv_mac_share:.1f` % of the MACs. (For AlexNet the FC
# share of parameters is {glue:text}`ch1_alexnet_fc_param_share:.1f` %.) This split is the first
# lesson of the survey: **FC layers dominate storage, conv layers dominate compute**, so methods
# that shrink storage (pruning, weight sharing) and methods that shrink compute (compact
# convolutions, decomposition) attack different layers.

# %%
# NBVAL_IGNORE_OUTPUT
fig, ax = plotting.new_figure(width=9, height=3.4)
names = [l.name for l in vgg]
x = np.arange(len(names))
ax.bar(x - 0.2, [l.params / vgg.params * 100 for l in vgg], 0.4, label="share of parameters")
ax.bar(x + 0.2, [l.macs / vgg.macs * 100 for l in vgg], 0.4, label="share of MACs")
ax.set_xticks(x, names, rotation=60, fontsize=8)
ax.set_ylabel("share of the network (%)")
ax.set_title("VGG-16: FC layers hold the parameters, conv layers do the work")
ax.legend()
display(fig)

# %% [markdown]
# ## Energy: arithmetic is cheap, memory is not
#
# Horowitz's 45 nm measurements {cite:p}`horowitz2014computing` give the energy of single
# operations. The table is kept in `data/energy_45nm.csv` with its source:

# %%
# NBVAL_CHECK_OUTPUT
for (op, dtype, bits), pj in cost.energy_table().items():
    print(f"{op:10s} {dtype:5s} {bits:2d} bit  {pj:7.2f} pJ")
ratios = cost.access_energy_ratios()
print("Eyeriss, energy per access relative to a MAC:", ratios)

# %%
# NBVAL_IGNORE_OUTPUT
t = cost.energy_table()
nb.glue("ch1_dram_vs_int8_add", t[("dram_read", "word", 32)] / t[("add", "int", 8)])
nb.glue("ch1_dram_vs_fp32_mult", t[("dram_read", "word", 32)] / t[("mult", "float", 32)])
nb.glue("ch1_int8_vs_fp32_mac", cost.mac_energy_pj(32, "float") / cost.mac_energy_pj(8))

# %% [markdown]
# Reading one 32-bit word from DRAM costs {glue:text}`ch1_dram_vs_int8_add:,.0f` times as much
# as an 8-bit integer addition and {glue:text}`ch1_dram_vs_fp32_mult:.0f` times as much as a
# 32-bit float multiplication; an int8 MAC is {glue:text}`ch1_int8_vs_fp32_mac:.0f` times cheaper
# than a float32 MAC. Eyeriss {cite:p}`chen2016eyeriss` puts the memory hierarchy in the same
# terms: a DRAM access costs 200 MACs, a global-buffer access 6.
#
# A **first-order energy model** (`companion.cost.layer_costs`) follows: every MAC costs a
# multiply and an add at the chosen bitwidth and reads its two operands from SRAM, and every
# weight and activation crosses DRAM once. Chapter 7 refines this into an accelerator model
# with buffers and dataflows; already here the breakdown shows where compression pays.

# %%
# NBVAL_CHECK_OUTPUT
for bits in (32, 8):
    print(f"--- {bits}-bit weights and activations")
    for n in ("alexnet", "vgg16", "mobilenet_v1"):
        e = cost.energy_breakdown_pj(cost.layer_costs(n, bits))
        total = sum(e.values())
        print(f"{n:13s} {total / 1e6:8.1f} µJ/image   " +
              "  ".join(f"{k} {v / total:5.1%}" for k, v in e.items()))

# %%
# NBVAL_IGNORE_OUTPUT
nb.glue("ch1_alexnet_dram_share_32", 100 * cost.network_summary("alexnet", 32)["dram_share"])
nb.glue("ch1_alexnet_energy_ratio_32_8", cost.network_summary("alexnet", 32)["energy_uj"]
        / cost.network_summary("alexnet", 8)["energy_uj"])

# %% [markdown]
# In float32, {glue:text}`ch1_alexnet_dram_share_32:.0f` % of AlexNet's energy goes to DRAM —
# mostly to fetch the 61 M weights of a network whose FC layers use each weight once.
# Going to 8 bits everywhere cuts the first-order energy by
# {glue:text}`ch1_alexnet_energy_ratio_32_8:.1f`x. Shrink the weights (pruning, quantization,
# weight sharing) until they fit on chip, and the 640 pJ accesses disappear: the motivation of
# Deep Compression {cite:p}`han2016deep` and of EIE.

# %% [markdown]
# ## The roofline: which layers are compute-bound?
#
# The *arithmetic intensity* of a layer is its MACs per byte of DRAM traffic. On a machine with
# peak throughput $P$ (MACs/s) and memory bandwidth $B$ (bytes/s) a layer can run at most at
# $\min(P,\ I\cdot B)$ — the roofline {cite:p}`williams2009roofline`. Below the *ridge point*
# $P/B$ a layer is memory-bound. We take a nominal edge accelerator: 512 GMAC/s peak and
# 25.6 GB/s of DRAM bandwidth.

# %%
# NBVAL_CHECK_OUTPUT
PEAK, BW = 512e9, 25.6e9
ridge = cost.ridge_point(PEAK, BW)
print(f"ridge point: {ridge:.0f} MACs/byte")
for n in ("vgg16", "mobilenet_v1"):
    rows = cost.layer_costs(n, 8)
    bound = {"conv": [0, 0], "fc": [0, 0]}
    for r in rows:
        if r.type in bound:
            bound[r.type][r.intensity_macs_per_byte < ridge] += 1
    print(f"{n:13s} (8 bit): conv layers compute-/memory-bound {bound['conv']}, FC {bound['fc']}")

# %%
# NBVAL_IGNORE_OUTPUT
fig, ax = plotting.new_figure(width=7, height=4)
xs = np.logspace(-1, 4, 200)
ax.loglog(xs, [cost.roofline_macs_per_s(x, PEAK, BW) / 1e9 for x in xs], "k-", label="roofline")
for n, marker in (("vgg16", "o"), ("mobilenet_v1", "s")):
    rows = [r for r in cost.layer_costs(n, 8) if r.type != "bn"]
    ax.scatter([r.intensity_macs_per_byte for r in rows],
               [cost.roofline_macs_per_s(r.intensity_macs_per_byte, PEAK, BW) / 1e9 for r in rows],
               marker=marker, alpha=0.7, label=n)
ax.set_xlabel("arithmetic intensity (MACs per DRAM byte)")
ax.set_ylabel("attainable GMAC/s")
ax.set_title("Roofline of a 512 GMAC/s, 25.6 GB/s accelerator (8-bit data)")
ax.legend()
display(fig)

# %% [markdown]
# FC layers (intensity ≈ 1 MAC/byte at 8 bits: each weight is used once) and MobileNet's
# depthwise layers sit far left, on the bandwidth slope: making them *smaller* speeds them up,
# making them compute less does not. The 3×3 convolutions of VGG-16 sit on the flat roof.

# %% [markdown]
# ## Our MNIST models, and the shared report
#
# The chapters compress three small networks trained on the embedded MNIST subset
# (3,500 training digits, 1,000 test digits): LeNet-300-100 and LeNet-5 as in Han et al.
# {cite:p}`han2015learning` and a small VGG-style CNN. `train.baseline(name)` trains them once
# and caches the weights.

# %%
# NBVAL_IGNORE_OUTPUT
baselines = {n: train.baseline(n) for n in ("lenet300", "lenet5", "cnn")}

# %%
# NBVAL_CHECK_OUTPUT
for n, m in baselines.items():
    print(f"{n:9s} params {metrics.count_params(m):8,d}  MACs {metrics.measure_macs(m):10,d}  "
          f"float32 {metrics.model_size_bits(m) / 8 / 1024:7.1f} KB  test accuracy {train.evaluate(m):.1f} %")

# %% [markdown]
# Every method in this book is reported with one frozen `CompressionReport`: **size with every
# overhead** (indices, codebooks), **MACs**, **accuracy**, and the ratios against the same
# baseline. A first example: storing LeNet-5's weights in float16 halves the size; we measure
# the accuracy after casting back.

# %%
# NBVAL_CHECK_OUTPUT
lenet5 = baselines["lenet5"]
half = models.build("lenet5")
half.load_state_dict({k: v.half().float() for k, v in lenet5.state_dict().items()})
rep = metrics.make_report("float16 weights", half, lenet5, accuracy=train.evaluate(half),
                          baseline_accuracy=train.evaluate(lenet5),
                          size_bits=metrics.model_size_bits(half, 16, bias_bits=16))
print(rep)

# %% [markdown]
# Overheads matter. A layer pruned to 10 % non-zeros, stored as 8-bit values with 16-bit
# column indices, is not 40x smaller than float32 — the indices eat most of the gain:

# %%
# NBVAL_CHECK_OUTPUT
n_w = 300 * 784
dense = metrics.storage_bits(n_w, 32)
sparse = metrics.storage_bits(n_w // 10, 8, n_indices=n_w // 10, index_bits=16)
print(f"dense float32 {dense / 8 / 1024:.1f} KB, sparse 8-bit + 16-bit indices {sparse / 8 / 1024:.1f} KB, "
      f"ratio {metrics.compression_ratio(dense, sparse):.1f}x (ideal 40x)")

# %% [markdown]
# ## Explore: size, work and energy at any bitwidth
#
# Pick a network and a bitwidth; the bars show size, MACs and the first-order energy split.
# In JupyterLab this is a live widget; on the website it is a player computed when the page was
# built from the same function.

# %%
# NBVAL_IGNORE_OUTPUT
def cost_frame(network="alexnet", bits=32):
    rows = cost.layer_costs(network, bits)
    e = cost.energy_breakdown_pj(rows)
    fig, (a1, a2) = plotting.new_figure(2, 1, width=9, height=3.2)
    layers = [r for r in rows if r.type != "bn"]
    a1.stairs([r.weight_bytes / 1e6 for r in layers], fill=True, color=plotting.PALETTE[0])
    a1.set_xlabel("layer index")
    a1.set_ylabel("weights (MB)")
    a1.set_title(f"{network}, {bits}-bit: {sum(r.weight_bytes for r in rows) / 1e6:.1f} MB, "
                 f"{sum(r.macs for r in rows) / 1e9:.2f} GMACs")
    a2.bar(list(e), [v / 1e6 for v in e.values()], color=plotting.PALETTE[1:4])
    a2.set_ylabel("energy per image (µJ)")
    a2.set_title(f"first-order energy {sum(e.values()) / 1e6:,.0f} µJ")
    return fig

explorer = widgets.explore(cost_frame, title="Cost of a network vs bitwidth",
                           network=list(models.TABLE_NAMES), bits=[32, 16, 8, 4, 2])

# %%
# NBVAL_IGNORE_OUTPUT
ms = widgets.frame_timings_ms(cost_frame, {"network": ["vgg16", "resnet50"], "bits": [32, 8]})
print(f"rendering one frame: median {np.median(ms):.0f} ms (done once per frame, when the cell runs)")
print(widgets.timing_summary(explorer))

# %% [markdown]
# ## What it buys in practice: MACs are not milliseconds
#
# On a CPU, time depends on how well a layer maps to the hardware, not only on its MACs. We time
# the three MNIST models (median of repeated runs; your numbers will differ):

# %%
# NBVAL_IGNORE_OUTPUT
def median_ms(model, batch):
    """Median wall-clock ms of one forward pass (the shared timer of companion.metrics)."""
    return metrics.latency_ms(model, (batch, 1, 28, 28), repeats=30)

timing = {}
for n, m in baselines.items():
    macs = metrics.measure_macs(m)
    t1, t64 = median_ms(m, 1), median_ms(m, 64)
    timing[n] = (macs, t1, t64)
    print(f"{n:9s} {macs / 1e6:6.2f} MMACs  batch 1: {t1:6.3f} ms  batch 64: {t64:7.3f} ms "
          f"({64 * macs / (t64 / 1000) / 1e9:5.1f} GMAC/s)")
nb.glue("ch1_mac_ratio_cnn_lenet300", timing["cnn"][0] / timing["lenet300"][0])
nb.glue("ch1_time_ratio_cnn_lenet300_b1", timing["cnn"][1] / timing["lenet300"][1])
nb.glue("ch1_time_ratio_cnn_lenet300_b64", timing["cnn"][2] / timing["lenet300"][2])

# %% [markdown]
# The small CNN performs {glue:text}`ch1_mac_ratio_cnn_lenet300:.0f`x the MACs of
# LeNet-300-100; on this CPU it took {glue:text}`ch1_time_ratio_cnn_lenet300_b1:.1f`x as long
# at batch 1 and {glue:text}`ch1_time_ratio_cnn_lenet300_b64:.1f`x at batch 64. The MAC rate
# (GMAC/s column) differs between models and batch sizes because fixed per-call overheads
# dominate tiny layers and a matrix multiply uses the CPU far better than a small convolution.
# Chapters 2–5 measure the same gap between *ideal* and *real* speedups for each technique.

# %% [markdown]
# ## Beside the literature
#
# | quantity | published | ours (computed) |
# |---|---|---|
# | VGG-16 parameters {cite:p}`simonyan2015very` | 138 M | {glue:text}`ch1_vgg_params_m:.1f` M |
# | MobileNet-v1 mult-adds {cite:p}`howard2017mobilenets` | 569 M | {glue:text}`ch1_mbv1_macs_m:.0f` M |
# | DRAM read vs 8-bit add {cite:p}`horowitz2014computing` | 640 pJ / 0.03 pJ | {glue:text}`ch1_dram_vs_int8_add:,.0f`x |
#
# Setup differences: our AlexNet is the single-tower variant of {cite:p}`krizhevsky2014one`
# (61.1 M parameters, as in torchvision) rather than the original two-GPU model; ResNet totals
# include BatchNorm's scale and shift; the energy model is first-order (no on-chip reuse
# beyond one SRAM read per operand), so its DRAM shares are upper bounds.

# %% [markdown]
# ## Exercises
#
# **1 (easy).** How many parameters (weights + biases) has VGG-16's `fc6` (25,088 inputs,
# 4,096 outputs)? Compute it with the formula, not from the table.

# %%
answer_1 = None  # your number here
check("ch1.vgg_fc6_params", answer_1)

# %% tags=["hide-cell", "solution"]
answer_1 = 25088 * 4096 + 4096
check("ch1.vgg_fc6_params", answer_1)

# %% [markdown]
# **2 (medium).** What fraction (between 0 and 1) of VGG-16's parameters sits in its FC layers?
# Use `models.layer_table("vgg16")`.

# %%
answer_2 = None  # your number here
check("ch1.vgg_fc_share", answer_2)

# %% tags=["hide-cell", "solution"]
t = models.layer_table("vgg16")
answer_2 = sum(l.params for l in t if l.type == "fc") / t.params
check("ch1.vgg_fc_share", answer_2)

# %% [markdown]
# **3 (hard).** With 8-bit weights *and* activations, what fraction of AlexNet's first-order
# energy goes to DRAM? Then explain in one sentence why quantizing to 4 bits would reduce it
# further, but weight sharing alone (which keeps 32-bit activations) would not reach it.

# %%
answer_3 = None  # your number here
check("ch1.alexnet_dram_share", answer_3)

# %% tags=["hide-cell", "solution"]
e = cost.energy_breakdown_pj(cost.layer_costs("alexnet", 8))
answer_3 = e["DRAM"] / sum(e.values())
check("ch1.alexnet_dram_share", answer_3)

# %% [markdown]
# ## Summary
#
# - Parameters and MACs follow from layer shapes; FC layers hold most parameters, conv layers
#   do most of the work.
# - Moving a word from DRAM costs hundreds of times more energy than computing with it, so
#   *smaller* models are *cheaper* models, beyond the storage they save.
# - The roofline separates memory-bound layers (FC, depthwise) from compute-bound ones.
# - Sizes must count every overhead (indices, codebooks); a `CompressionReport` always does.
# - MACs are not milliseconds: measure, and compare with the ideal ratio.
#
# **Further reading**: the survey's introduction and its discussion of metrics
# {cite:p}`deng2020model`; Sze et al.'s tutorial {cite:p}`sze2017efficient`; Horowitz
# {cite:p}`horowitz2014computing`; Eyeriss {cite:p}`chen2016eyeriss`.

# %%
# NBVAL_IGNORE_OUTPUT
nb.glue("ch1_runtime_s", nb.runtime_s())
