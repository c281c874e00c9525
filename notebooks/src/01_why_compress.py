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

# %% tags=["nbval-ignore-output"]
import numpy as np
import torch
from torch import nn
import matplotlib.pyplot as plt
from IPython.display import display

from companion import nb, metrics, models, train, plotting, widgets, why_compress
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

# %% tags=["nbval-check-output"]
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

# %% tags=["nbval-check-output"]
import pandas as pd
summary = pd.DataFrame({n: why_compress.network_summary(n, 32) for n in models.TABLE_NAMES}).T
summary["params (M)"] = summary["params"] / 1e6
summary["GMACs"] = summary["macs"] / 1e9
summary["float32 MB"] = summary["weight_mb"]
print(summary[["params (M)", "GMACs", "float32 MB"]].round(2).to_string())

# %% tags=["nbval-ignore-output"]
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

# %% mystnb={"figure": {"caption": "Each VGG-16 layer's share of the network's parameters and of its MACs: the fully connected layers at the end hold most of the parameters, while the convolutional layers do most of the multiply-accumulates.", "name": "fig-ch1-vgg16-layer-shares"}, "image": {"alt": "Grouped bar chart with a pair of bars for every VGG-16 layer, from the first convolution to the last fully connected layer: the parameter-share bars are tall only for the fully connected layers, the MAC-share bars are spread over the convolutional layers."}} tags=["nbval-ignore-output"]
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
# operations. The book defines this table once, with its sources, in `companion.accelerator.energy`;
# chapter 1's first-order model and chapter 7's accelerator model both read it:

# %% tags=["nbval-check-output"]
for (op, dtype, bits), pj in why_compress.energy_table().items():
    print(f"{op:10s} {dtype:5s} {bits:2d} bit  {pj:7.2f} pJ")
ratios = why_compress.access_energy_ratios()
print("Eyeriss, energy per access relative to a MAC:", ratios)

# %% tags=["nbval-ignore-output"]
t = why_compress.energy_table()
nb.glue("ch1_dram_vs_int8_add", t[("dram_read", "word", 32)] / t[("add", "int", 8)])
nb.glue("ch1_dram_vs_fp32_mult", t[("dram_read", "word", 32)] / t[("mult", "float", 32)])
nb.glue("ch1_int8_vs_fp32_mac", why_compress.mac_pj(32, "float") / why_compress.mac_pj(8))

# %% [markdown]
# Reading one 32-bit word from DRAM costs {glue:text}`ch1_dram_vs_int8_add:,.0f` times as much
# as an 8-bit integer addition and {glue:text}`ch1_dram_vs_fp32_mult:.0f` times as much as a
# 32-bit float multiplication; an int8 MAC (an 8-bit multiply accumulated into a 32-bit sum) is
# {glue:text}`ch1_int8_vs_fp32_mac:.0f` times cheaper than a float32 MAC. Eyeriss {cite:p}`chen2016eyeriss` puts the memory hierarchy in the same
# terms: a DRAM access costs 200 MACs, a global-buffer access 6.
#
# A **first-order energy model** (`companion.why_compress.layer_costs`) follows: every MAC costs a
# multiply at the chosen bitwidth and a 32-bit accumulate and reads its two operands from SRAM, and every
# weight and activation crosses DRAM once. Chapter 7 refines this into an accelerator model
# with buffers and dataflows; already here the breakdown shows where compression pays.

# %% tags=["nbval-check-output"]
for bits in (32, 8):
    print(f"--- {bits}-bit weights and activations")
    for n in ("alexnet", "vgg16", "mobilenet_v1"):
        e = why_compress.energy_breakdown_pj(why_compress.layer_costs(n, bits))
        total = sum(e.values())
        print(f"{n:13s} {total / 1e6:8.1f} µJ/image   " +
              "  ".join(f"{k} {v / total:5.1%}" for k, v in e.items()))

# %% tags=["nbval-ignore-output"]
nb.glue("ch1_alexnet_dram_share_32", 100 * why_compress.network_summary("alexnet", 32)["dram_share"])
nb.glue("ch1_alexnet_energy_ratio_32_8", why_compress.network_summary("alexnet", 32)["energy_uj"]
        / why_compress.network_summary("alexnet", 8)["energy_uj"])

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

# %% tags=["nbval-check-output"]
PEAK, BW = 512e9, 25.6e9
ridge = why_compress.ridge_point(PEAK, BW)
print(f"ridge point: {ridge:.0f} MACs/byte")
for n in ("vgg16", "mobilenet_v1"):
    rows = why_compress.layer_costs(n, 8)
    bound = {"conv": [0, 0], "fc": [0, 0]}
    for r in rows:
        if r.type in bound:
            bound[r.type][r.intensity_macs_per_byte < ridge] += 1
    print(f"{n:13s} (8 bit): conv layers compute-/memory-bound {bound['conv']}, FC {bound['fc']}")

# %% mystnb={"figure": {"caption": "Roofline of the nominal edge accelerator described in the text, with 8-bit data: every layer of VGG-16 and MobileNet-v1 sits at its arithmetic intensity and the throughput the roofline allows it; layers on the sloped part are memory-bound, layers on the flat roof compute-bound.", "name": "fig-ch1-roofline"}, "image": {"alt": "Log-log plot of attainable GMAC/s against arithmetic intensity in MACs per DRAM byte: a black line rises diagonally and then turns flat; most VGG-16 convolution points sit on the flat roof, while the fully connected layers and MobileNet-v1's depthwise layers sit far left on the rising slope."}} tags=["nbval-ignore-output"]
fig, ax = plotting.new_figure(width=7, height=4)
xs = np.logspace(-1, 4, 200)
ax.loglog(xs, [why_compress.roofline_macs_per_s(x, PEAK, BW) / 1e9 for x in xs], "k-", label="roofline")
for n, marker in (("vgg16", "o"), ("mobilenet_v1", "s")):
    rows = [r for r in why_compress.layer_costs(n, 8) if r.type != "bn"]
    ax.scatter([r.intensity_macs_per_byte for r in rows],
               [why_compress.roofline_macs_per_s(r.intensity_macs_per_byte, PEAK, BW) / 1e9 for r in rows],
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

# %% tags=["nbval-ignore-output"]
baselines = {n: train.baseline(n) for n in ("lenet300", "lenet5", "cnn")}

# %% tags=["check-within-noise"]
for n, m in baselines.items():
    print(f"{n:9s} params {metrics.count_params(m):8,d}  MACs {metrics.measure_macs(m):10,d}  "
          f"float32 {metrics.model_size_bits(m) / 8 / 1024:7.1f} KB  test accuracy {train.evaluate(m):.1f} %")

# %% [markdown]
# Every method in this book is reported with one frozen `CompressionReport`: **size with every
# overhead** (indices, codebooks), **MACs**, **accuracy**, and the ratios against the same
# baseline. A first example: storing LeNet-5's weights in float16 halves the size; we measure
# the accuracy after casting back.

# %% tags=["check-within-noise"]
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

# %% tags=["nbval-check-output"]
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

# %% tags=["nbval-ignore-output"]
def cost_frame(network="alexnet", bits=32):
    rows = why_compress.layer_costs(network, bits)
    e = why_compress.energy_breakdown_pj(rows)
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

# %% tags=["nbval-ignore-output"]
ms = widgets.frame_timings_ms(cost_frame, {"network": ["vgg16", "resnet50"], "bits": [32, 8]})
if not widgets.static_mode():  # a measurement for the live notebook, not the website
    print(f"rendering one frame: median {np.median(ms):.0f} ms (done once per frame, when the cell runs)")
widgets.show_timing(explorer)

# %% [markdown]
# ## What it buys in practice: MACs are not milliseconds
#
# On a CPU, time depends on how well a layer maps to the hardware, not only on its MACs. We time
# the three MNIST models on one thread, interleaved in seven rounds (the library's one timer,
# `metrics.compare_latency_ms`: fastest of five runs per round, ratios taken within a round and
# reported as a range over rounds; your numbers will differ):

# %% tags=["nbval-ignore-output"]
macs = {n: metrics.measure_macs(m) for n, m in baselines.items()}
timing = {b: metrics.compare_latency_ms(baselines, (b, 1, 28, 28), rounds=7, repeats=5) for b in (1, 64)}
for n in baselines:
    t1, t64 = timing[1].best_ms(n), timing[64].best_ms(n)
    print(f"{n:9s} {macs[n] / 1e6:6.2f} MMACs  batch 1: {t1:6.3f} ms  batch 64: {t64:7.3f} ms "
          f"({64 * macs[n] / (t64 / 1000) / 1e9:5.1f} GMAC/s)")
nb.glue("ch1_mac_ratio_cnn_lenet300", macs["cnn"] / macs["lenet300"])
for b in (1, 64):
    r = timing[b].ratio("cnn", "lenet300")
    nb.glue(f"ch1_time_ratio_cnn_lenet300_b{b}", r.mid, measured=True)
    nb.glue(f"ch1_time_ratio_cnn_lenet300_b{b}_range", r.text(".1f", "x"), measured=True)

# %% [markdown]
# The small CNN performs {glue:text}`ch1_mac_ratio_cnn_lenet300:.0f`x the MACs of
# LeNet-300-100; on this CPU it took {glue:text}`ch1_time_ratio_cnn_lenet300_b1_range` as long
# at batch 1 and {glue:text}`ch1_time_ratio_cnn_lenet300_b64_range` at batch 64 (ranges over the rounds). The MAC rate
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
# energy goes to DRAM (`answer_3`)? Now quantize only the *weights* to 4 bits, activations staying
# at 8 (`answer_3b`): what is the share now? Before computing, write down how each term of the
# model scales: DRAM traffic with the bits of what is moved (weights · w_bits + activations ·
# a_bits), SRAM traffic with the wider operand, a MAC with `bits²` plus a fixed 32-bit accumulate.
# Which terms fall, which stay? Then explain in one sentence what the share depends on.

# %%
answer_3 = None   # your number here: 8-bit weights and activations
answer_3b = None  # your number here: 4-bit weights, 8-bit activations
check("ch1.alexnet_dram_share", answer_3)
check("ch1.alexnet_dram_share_w4a8", answer_3b)

# %% tags=["hide-cell", "solution"]
e = why_compress.energy_breakdown_pj(why_compress.layer_costs("alexnet", 8))
answer_3 = e["DRAM"] / sum(e.values())
check("ch1.alexnet_dram_share", answer_3)
e48 = why_compress.energy_breakdown_pj(why_compress.layer_costs("alexnet", 4, 8))
answer_3b = e48["DRAM"] / sum(e48.values())
check("ch1.alexnet_dram_share_w4a8", answer_3b)
print(f"DRAM share W8A8 {answer_3:.1%}, W4A8 {answer_3b:.1%}; total {sum(e.values()) / 1e6:.0f} -> "
      f"{sum(e48.values()) / 1e6:.0f} µJ")
# The DRAM term is dominated by AlexNet's FC weights: halving the weight bits halves it, while the
# SRAM and MAC terms follow the wider 8-bit operand and stay. So the share falls. Quantizing
# weights and activations together scales DRAM and SRAM alike and leaves the share nearly where it
# was: what matters is which bytes move, not the bit width as such.

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

# %% tags=["nbval-ignore-output"]
nb.glue("ch1_runtime_s", nb.runtime_s(), measured=True)
