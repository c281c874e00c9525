# %% [markdown]
# # 7. Hardware accelerators: what compression buys on a chip
#
# Compression only pays when hardware turns fewer weights, fewer non-zeros and fewer bits into
# fewer cycles and fewer joules. In this chapter you build the tool to check that claim: a
# small, fast **accelerator model** — a systolic PE array with a dataflow, on-chip buffers, DRAM
# and an energy table — whose cycle and access counts agree *exactly* with the SCALE-Sim
# simulator. You will run ResNet-50 and MobileNet-v1 through it, see why depthwise layers leave
# an array idle, and then put the pruned and quantized LeNets of the earlier chapters (and a
# Deep-Compression AlexNet) on a dense array, on EIE / Cnvlutin / SCNN-style sparse engines and
# on Stripes / Bit Fusion-style precision-scalable engines, next to the papers' claims.
#
# ```{admonition} In this chapter
# **Goals**: *compute* folds, cycles and SRAM accesses of a layer on an R×C array by hand;
# *explain* output-, weight- and input-stationary dataflows (and row-stationary); *measure* per-layer
# utilisation, energy per memory level and roofline position of real networks; *compare* dense,
# sparse and bit-scalable engines on compressed models.
#
# **Prerequisites**: chapter 1 (MACs, energy per access, roofline), chapters 4 and 5 (quantization,
# pruning). **Survey**: after the survey's section on neural network accelerators {cite:p}`deng2020model`.
#
# **Run time**: {glue:text}`ch7_runtime_s:.0f` s on the CPU that built this page (the first run
# also fine-tunes two pruned LeNets and caches them: {{ cold_each_07_s }} s from an empty cache). **GPU**: not needed — the model is
# closed-form arithmetic; a whole ResNet-50 takes {glue:text}`ch7_resnet50_eval_ms:.1f` ms.
# ```

# %% tags=["nbval-ignore-output"]
import csv
import time

import numpy as np
import pandas as pd
import torch
from IPython.display import display

from companion import data, metrics, models, nb, plotting, quantization, sparsity, train, widgets
from companion.accelerator import (Architecture, Chain, Conv2d, Gemm, evaluate_layer,
                                   evaluate_network, from_layer_spec, from_module, input_densities)
from companion.accelerator.energy import default_energy_table, energy_sources
from companion.exercises import check

dev = nb.setup()

# %% [markdown]
# ## The principle: a layer is a GEMM, a GEMM is folded onto the array
#
# A convolution becomes a matrix product by *im2col*: every output pixel is a row of the input
# matrix, every filter a column of the weight matrix,
#
# $$ O_{[M\times N]} = I_{[M\times K]}\,W_{[K\times N]},\qquad M = H_\text{out}W_\text{out}\cdot\text{batch},\quad
#    K = F_hF_wC_\text{in},\quad N = C_\text{out}. $$
#
# A systolic array of $R\times C$ processing elements (PEs) {cite:p}`kung1982systolic`,
# {cite:p}`jouppi2017tpu` pins two of the three dimensions to its rows and columns and streams
# the third through in time. Which two is the **dataflow** {cite:p}`sze2017efficient`:
#
# | dataflow | stays in the PE | on rows ($S_r$) | on columns ($S_c$) | streamed ($T$) | cycles per fold |
# |---|---|---|---|---|---|
# | output-stationary (OS) | partial sums | $M$ | $N$ | $K$ | $T + R + C - 2$ |
# | weight-stationary (WS) | weights | $K$ | $N$ | $M$ | $T + 2R + C - 2$ |
# | input-stationary (IS) | inputs | $K$ | $M$ | $N$ | $T + 2R + C - 2$ |
#
# A layer larger than the array is cut into $\lceil S_r/R\rceil\cdot\lceil S_c/C\rceil$ **folds**;
# each pays a fill/drain of about $R + C$ cycles (WS/IS also $R$ cycles to preload the stationary
# tile). These are SCALE-Sim's formulas {cite:p}`samajdar2020scalesim`. Eyeriss's
# **row-stationary** dataflow {cite:p}`chen2016eyeriss` keeps a filter row *and* an input row in
# each PE's register file and reuses both across a diagonal of PEs; its mapping is a search, not a
# closed form, so our model explains it but does not simulate it.
#
# By hand: a GEMM with $M=6$, $K=5$, $N=7$ on a 4×4 OS array has $\lceil 6/4\rceil\cdot\lceil 7/4\rceil = 4$
# folds of $5 + 4 + 4 - 2 = 11$ cycles: 44 cycles for 210 MACs on 16 PEs, a utilisation of
# $210 / (16\cdot 44) \approx 30\,\%$. The model says the same, and shows the other dataflows:

# %% tags=["nbval-check-output"]
tiny = Gemm(M=6, K=5, N=7)
for df in ("os", "ws", "is"):
    r = evaluate_layer(Architecture(rows=4, cols=4, dataflow=df), tiny)
    print(f"{df}: folds {r.row_folds}x{r.col_folds}, cycles {r.cycles:3d}, utilisation {100 * r.utilization:4.1f} %, "
          f"SRAM reads ifmap {r.sram_ifmap_reads:3d} / filter {r.sram_filter_reads:3d}, ofmap writes {r.sram_ofmap_writes:3d}")

# %% [markdown]
# The weight-stationary array reads each weight from SRAM exactly once (35 = $K\cdot N$) but writes
# a partial sum per row fold; output-stationary writes each output once but re-reads inputs and
# weights. *Which* operand is reused in the PEs is the whole difference between dataflows.
#
# ### Validated against SCALE-Sim
#
# `data/scalesim/reference.csv` holds what the real SCALE-Sim v3.0.0 computed for conv, depthwise
# and GEMM layers × the three dataflows × five array shapes (the script next to it regenerates
# it). The model must agree on every row: compute cycles (SCALE-Sim prints the index of the last
# cycle, one less than the count), SRAM reads per operand, ofmap writes and mapping efficiency.

# %% tags=["nbval-check-output"]
with open(data.DATA_DIR / "scalesim" / "reference.csv", newline="") as f:
    reference = list(csv.DictReader(f))

def model_row(r):
    arch = Architecture(rows=int(r["rows"]), cols=int(r["cols"]), dataflow=r["dataflow"],
                        ifmap_kb=4096, filter_kb=4096, ofmap_kb=4096)
    if r["kind"] == "gemm":
        return evaluate_layer(arch, Gemm(M=int(r["M"]), K=int(r["K"]), N=int(r["N"])))
    c, dw = int(r["in_channels"]), "DP" in r["name"]
    return evaluate_layer(arch, Conv2d(in_h=int(r["in_h"]), in_w=int(r["in_w"]), kernel_h=int(r["kernel_h"]),
                                 kernel_w=int(r["kernel_w"]), in_channels=c, out_channels=c if dw else int(r["out_channels"]),
                                 stride=int(r["stride"]), groups=c if dw else 1))

agree = 0
for r in reference:
    m = model_row(r)
    agree += (m.scalesim_cycles == int(r["total_cycles"]) and m.sram_ifmap_reads == int(r["ifmap_sram_reads"])
              and m.sram_filter_reads == int(r["filter_sram_reads"])
              and m.scalesim_ofmap_writes == int(r["ofmap_sram_writes"]))
print(f"{agree} of {len(reference)} SCALE-Sim rows agree exactly "
      f"({len({(r['rows'], r['cols']) for r in reference})} array shapes, dataflows {sorted({r['dataflow'] for r in reference})})")
nb.glue("ch7_scalesim_rows", len(reference))
nb.glue("ch7_scalesim_agree", agree)

# %% [markdown]
# All {glue:text}`ch7_scalesim_agree` of {glue:text}`ch7_scalesim_rows` rows agree. The model is
# a few lines of arithmetic per layer, where SCALE-Sim builds every cycle's address trace: the
# model evaluates all of ResNet-50 in {glue:text}`ch7_resnet50_eval_ms:.1f` ms, fast enough to sit
# behind a slider.
#
# ### The energy table
#
# Energy per operation and per access comes from the two tables of chapter 1: Horowitz's 45 nm
# numbers {cite:p}`horowitz2014computing` for the multiplier, adder, SRAM and DRAM, and Eyeriss's
# ratios {cite:p}`chen2016eyeriss` for the register file (1/6 of a buffer access) and a hop to
# the neighbouring PE (2/6). A multiply scales with the product of its operand widths
# ($E_\text{mult}(w,a) = 0.2\,\text{pJ}\cdot wa/64$, which gives 3.2 pJ for 32×32 bits against
# Horowitz's 3.1), so **bits enter the energy twice**: in the MAC and in every bit moved.

# %% tags=["nbval-check-output"]
sources = pd.DataFrame(energy_sources())
sources["source"] = sources["source"].str.split(",").str[0] + " " + sources["source"].str.extract(r"(20\d\d)")[0]
print(sources.to_string(index=False))

# %% tags=["nbval-check-output"]
e = default_energy_table()
print(f"8x8-bit MAC (32-bit accumulate): {e.mac_pj(8, 8, 32):.2f} pJ; 4x4-bit: {e.mac_pj(4, 4, 32):.3f} pJ")
print(f"per bit: register file {e.rf_pj_per_bit:.4f} pJ, PE hop {e.hop_pj_per_bit:.4f} pJ, "
      f"SRAM {e.sram_pj_per_bit:.4f} pJ, DRAM {e.dram_pj_per_bit:.1f} pJ "
      f"(DRAM / SRAM = {e.dram_pj_per_bit / e.sram_pj_per_bit:.0f}x)")

# %% [markdown]
# The two sources disagree on how much worse DRAM is: 128× an SRAM access for Horowitz's small
# 8 KB SRAM, 200/6 ≈ 33× a (much larger) global buffer for Eyeriss. We keep Horowitz's absolute
# numbers, so DRAM shares below are on the high side of what Eyeriss would report.
#
# ## On real networks: ResNet-50 and MobileNet-v1
#
# The default architecture is a 32×32 array of 8-bit MACs at 1 GHz with 256 KB input and weight
# buffers, a 128 KB output buffer and 32 bytes/cycle of DRAM bandwidth (32 GB/s; TPU-like
# proportions, smaller). `evaluate_network` lowers every conv/FC row of a layer table and sums.
# `cycles` are SCALE-Sim's compute cycles whatever the buffer sizes; when a WS/IS fold's 32-bit
# partial sums do not fit the output buffer, the model cuts the streamed dimension into tiles
# that do, and the extra fill/drain of each tile is reported apart as `stall_cycles` (added to
# the latency, not to the compute cycles):

# %% tags=["nbval-check-output"]
nets = {"resnet50": models.layer_table("resnet50"), "mobilenet_v1": models.layer_table("mobilenet_v1")}
runs = {(n, df): evaluate_network(Architecture(dataflow=df), t) for n, t in nets.items() for df in ("os", "ws", "is")}
rows = []
for (n, df), rep in runs.items():
    e = rep.energy_breakdown
    rows.append({"network": n, "dataflow": df.upper(), "GMACs": rep.macs / 1e9, "Mcycles": rep.cycles / 1e6,
                 "stall Mcycles": rep.stall_cycles / 1e6,
                 "latency ms": rep.latency_s * 1e3, "utilisation %": 100 * rep.utilization,
                 "energy mJ": rep.energy_pj / 1e9, **{f"{k} %": 100 * v / rep.energy_pj for k, v in e.items()}})
summary = pd.DataFrame(rows).set_index(["network", "dataflow"])
print(summary.round(2).to_string())

# %% tags=["hide-input", "nbval-ignore-output"]
r50, mb = runs[("resnet50", "ws")], runs[("mobilenet_v1", "ws")]
nb.glue("ch7_r50_ws_util", 100 * r50.utilization)
nb.glue("ch7_mb_ws_util", 100 * mb.utilization)
nb.glue("ch7_r50_ws_ms", r50.latency_s * 1e3)
nb.glue("ch7_mb_ws_ms", mb.latency_s * 1e3)
nb.glue("ch7_mac_ratio", r50.macs / mb.macs)
nb.glue("ch7_latency_ratio", r50.latency_s / mb.latency_s)
nb.glue("ch7_r50_dram_share", 100 * r50.energy_breakdown["dram"] / r50.energy_pj)
nb.glue("ch7_r50_mac_share", 100 * r50.energy_breakdown["mac"] / r50.energy_pj)
mb_df = mb.to_frame()
dw = mb_df[mb_df.index.str.endswith(".dw")]
pw = mb_df[mb_df.index.str.endswith(".pw")]
nb.glue("ch7_dw_mac_share", float(100 * dw["macs"].sum() / mb.macs))
nb.glue("ch7_dw_cycle_share", float(100 * dw["cycles"].sum() / mb.cycles))
nb.glue("ch7_dw_util", float(100 * dw["macs"].sum() / (1024 * dw["cycles"].sum())))
nb.glue("ch7_pw_util", float(100 * pw["macs"].sum() / (1024 * pw["cycles"].sum())))

# %% [markdown]
# ResNet-50 does {glue:text}`ch7_mac_ratio:.1f`× the MACs of MobileNet-v1 but, on the WS array,
# takes only {glue:text}`ch7_latency_ratio:.1f`× as long: {glue:text}`ch7_r50_ws_ms:.2f` ms
# against {glue:text}`ch7_mb_ws_ms:.2f` ms, because ResNet-50 keeps the array
# {glue:text}`ch7_r50_ws_util:.0f` % busy and MobileNet-v1 only {glue:text}`ch7_mb_ws_util:.0f` %.
# The culprit is the **depthwise** layers: they hold {glue:text}`ch7_dw_mac_share:.1f` % of
# MobileNet's MACs but {glue:text}`ch7_dw_cycle_share:.0f` % of its cycles. A depthwise layer is
# one small GEMM per channel with $K = 3\cdot3 = 9$ and $N = 1$: on a WS array it lights up 9 of
# 32 rows and 1 of 32 columns, {glue:text}`ch7_dw_util:.2f` % utilisation, while the pointwise
# (1×1) layers reach {glue:text}`ch7_pw_util:.0f` %. Fewer MACs is not fewer cycles: compact
# models need hardware that maps them well (e.g. a dedicated depthwise unit or a channel-parallel
# dataflow).
#
# On energy, DRAM takes {glue:text}`ch7_r50_dram_share:.0f` % of ResNet-50's energy and the MACs
# themselves only {glue:text}`ch7_r50_mac_share:.1f` %: the array's data movement and the memory
# hierarchy, not arithmetic, are the bill — the reason compression (fewer bytes) saves energy.

# %% mystnb={"figure": {"caption": "Left: utilisation of a 32x32 weight-stationary array on each MobileNet-v1 layer, depthwise layers in red. Right: energy per image of ResNet-50 and MobileNet-v1 under each dataflow, split into DRAM, buffer, array and MAC energy.", "name": "fig-ch7-utilisation-energy"}, "image": {"alt": "Left, a bar chart of utilisation per MobileNet-v1 layer in which the red depthwise bars are barely visible next to the tall bars of the other layers. Right, stacked bars of energy per image for each network and dataflow, in which memory and data movement make up most of each bar and the MAC energy is a thin segment."}} tags=["nbval-ignore-output"]
colors = dict(zip(("dram", "buffer", "array", "mac"), plotting.PALETTE[:4]))
fig, (ax1, ax2) = plotting.new_figure(2, 1, width=10, height=3.4)
x = np.arange(len(mb_df))
bar_colors = [plotting.PALETTE[3] if n.endswith(".dw") else plotting.PALETTE[0] for n in mb_df.index]
ax1.bar(x, 100 * mb_df["utilization"], color=bar_colors)
ax1.set_xlabel("MobileNet-v1 layer index (red: depthwise)")
ax1.set_ylabel("utilisation (%)")
ax1.set_title("MobileNet-v1 on a 32x32 WS array")
labels = [f"{ {'resnet50': 'ResNet-50', 'mobilenet_v1': 'MBv1'}[n]}\n{df.upper()}" for (n, df) in runs]
bottom = np.zeros(len(runs))
for k in ("dram", "buffer", "array", "mac"):
    vals = np.array([rep.energy_breakdown[k] / 1e9 for rep in runs.values()])
    ax2.bar(labels, vals, bottom=bottom, color=colors[k], label=k)
    bottom += vals
ax2.set_ylabel("energy per image (mJ)")
ax2.set_title("energy per level and dataflow")
ax2.legend(fontsize=8)
display(fig)

# %% [markdown]
# Layer by layer, ResNet-50 tells the same story in more detail: the dataflows trade cycles
# differently on every layer (left), and the energy of each layer splits into the four levels
# (right; WS). The five most expensive layers:

# %% tags=["nbval-check-output"]
r50_frames = {df: runs[("resnet50", df)].to_frame() for df in ("os", "ws", "is")}
top = r50_frames["ws"].sort_values("energy_pj", ascending=False).head(5)
cols = ["M", "K", "N", "cycles", "stall_cycles", "utilization", "energy_dram_pj", "energy_buffer_pj", "energy_array_pj", "energy_mac_pj"]
shown = top[cols].copy()
shown["utilization"] = (100 * shown["utilization"]).round(1)
for c in cols[6:]:
    shown[c] = (shown[c] / 1e6).round(1)
shown.columns = ["M", "K", "N", "cycles", "stall cycles", "util %", "DRAM µJ", "buffer µJ", "array µJ", "MAC µJ"]
print(shown.to_string())

# %% mystnb={"figure": {"caption": "ResNet-50 layer by layer on the 32x32 array: compute cycles of each layer under the output-, weight- and input-stationary dataflows (left), and the energy of each layer split into DRAM, buffer, array and MAC energy (right, weight-stationary).", "name": "fig-ch7-resnet50-layers"}, "image": {"alt": "Left, three step lines of compute cycles in thousands against the layer index, one per dataflow, which trade places from layer to layer. Right, stacked bars of energy per layer, in which a few layers stand out with tall DRAM segments."}} tags=["nbval-ignore-output"]
fig, (ax1, ax2) = plotting.new_figure(2, 1, width=10, height=3.2)
for df, frame in r50_frames.items():
    ax1.step(range(len(frame)), frame["cycles"] / 1e3, where="mid", label=df.upper(), lw=1)
ax1.set_xlabel("ResNet-50 layer index")
ax1.set_ylabel("compute cycles (thousands)")
ax1.set_title("cycles per layer and dataflow (32x32)")
ax1.legend()
bottom = np.zeros(len(r50_frames["ws"]))
for k in ("dram", "buffer", "array", "mac"):
    vals = r50_frames["ws"][f"energy_{k}_pj"].to_numpy() / 1e6
    ax2.bar(range(len(vals)), vals, bottom=bottom, color=colors[k], label=k, width=1.0)
    bottom += vals
ax2.set_xlabel("ResNet-50 layer index")
ax2.set_ylabel("energy (µJ)")
ax2.set_title("energy per layer and level (WS)")
ax2.legend(fontsize=8)
display(fig)

# %% [markdown]
# Two downsampling (strided 1×1) layers top the energy list, though they are far from the
# largest in MACs: their inputs do not fit the input buffer, so the weight-stationary array
# re-reads them from DRAM once per column fold. That is a *mapping* cost, not an arithmetic one —
# a larger buffer, another loop order or another dataflow removes it (try the explorer below).

# %% [markdown]
# ### The roofline: which layers wait for memory?
#
# Each layer is a point: operational intensity (operations per DRAM byte) against attained
# throughput. Under the sloped roof a layer is memory-bound, under the flat one compute-bound
# {cite:p}`williams2009roofline`. The model's latency is exactly this: the larger of compute
# cycles (plus stall cycles) and DRAM transfer cycles.

# %% mystnb={"figure": {"caption": "Roofline of the chapter's 32x32 accelerator: every layer of ResNet-50 and MobileNet-v1 (weight-stationary) at its operational intensity and attained throughput; layers under the sloped roof are memory-bound, layers under the flat roof compute-bound, and points far below both are limited by how they map onto the array.", "name": "fig-ch7-roofline"}, "image": {"alt": "Log-log plot of throughput in GOPS against operations per DRAM byte, with a black roofline that rises and then turns flat; the ResNet-50 points mostly lie close to the roofs, while many MobileNet-v1 points, its depthwise layers, lie far below them."}} tags=["nbval-ignore-output"]
def roofline(ax, arch, reports, labels, markers=("o", "s", "^")):
    xs = np.logspace(-1, 4, 60)
    ax.loglog(xs, np.minimum(arch.peak_gops, xs * arch.dram_gbytes_per_s), "k-", lw=1)
    ax.minorticks_off()
    for rep, label, mk in zip(reports, labels, markers):
        ax.scatter([l.intensity_ops_per_byte for l in rep], [l.throughput_gops for l in rep], s=12, marker=mk,
                   label=label, alpha=0.7)
    ax.set_xlabel("operational intensity (ops / DRAM byte)")
    ax.set_ylabel("throughput (GOPS, dense-equivalent)")

fig, ax = plotting.new_figure(1, 1, width=6.5, height=3.6)
arch = Architecture()
roofline(ax, arch, [runs[("resnet50", "ws")], runs[("mobilenet_v1", "ws")]], ["ResNet-50", "MobileNet-v1"])
ax.set_title(f"roofline of a 32x32 array ({arch.peak_gops:.0f} GOPS peak, {arch.dram_gbytes_per_s:.0f} GB/s)")
ax.legend()
display(fig)
bound = sum(l.bound == "memory" for l in runs[("resnet50", "ws")])
nb.glue("ch7_r50_memory_bound", bound)
nb.glue("ch7_r50_layers", len(runs[("resnet50", "ws")]))

# %% [markdown]
# {glue:text}`ch7_r50_memory_bound` of ResNet-50's {glue:text}`ch7_r50_layers` layers sit under
# the sloped roof at this bandwidth; the depthwise layers of MobileNet sit far below *both* roofs:
# they are neither memory- nor compute-bound but *mapping*-bound.
#
# ## Compression in hardware
#
# Compression reaches the model only through each workload's fields — weight density, activation
# density, N:M pattern, weight bits, activation bits. What the hardware *does* with them is a
# property of the architecture's **engine**:
#
# | engine | time | energy | after |
# |---|---|---|---|
# | dense array | unchanged: zeros still take a slot | zero MACs are *gated*; fewer bits = cheaper MACs and traffic | TPU {cite:p}`jouppi2017tpu` |
# | dense + N:M support | $K \to K\,n/m$ | and index metadata ($\log_2 m$ bits per kept weight) | Sparse Tensor Cores {cite:p}`mishra2021accelerating` |
# | sparse, skip weights | $K \to K_\text{eff}(d_w)$ | compressed weights (value + index bits) | EIE {cite:p}`han2016eie` |
# | sparse, skip activations | $K \to K_\text{eff}(d_a)$ | compressed activations | Cnvlutin {cite:p}`albericio2016cnvlutin` |
# | sparse, skip both | $K \to K_\text{eff}(d_w d_a)$ | both compressed | SCNN {cite:p}`parashar2017scnn` |
# | bit-serial | streamed time × $a/8$ | as dense | Stripes {cite:p}`judd2016stripes` |
# | bit-fusion | streamed time × $w a / 64$ (bits rounded to 2, 4, 8) | as dense | Bit Fusion {cite:p}`sharma2018bitfusion` |
#
# Unstructured zeros do not fall evenly: every PE gets its own random share of non-zeros and the
# array waits for the slowest. The model charges the expected maximum over the $R\cdot C$ lanes,
# $K_\text{eff} = \min(K, \lceil Kf + \sqrt{2\ln(RC)\,Kf(1-f)}\rceil)$, a load-imbalance factor
# that EIE fights with queues. On one FC layer (LeNet-300's fc1 at batch 1) with 8 % weights:

# %% tags=["nbval-check-output"]
fc1 = Gemm(M=1, K=784, N=300, weight_density=0.08, name="fc1")
for label, arch in [("dense", Architecture()), ("dense, gated zeros", Architecture()),
                    ("sparse (skip weights)", Architecture(engine="sparse", skip="weights"))]:
    w = fc1 if label != "dense" else fc1.with_compression(weight_density=1.0)
    r = evaluate_layer(arch, w)
    print(f"{label:22s} K_eff {r.k_eff:4d}  cycles {r.cycles:6d}  energy {r.energy_pj / 1e6:6.3f} µJ  "
          f"(MAC {r.energy_mac_pj / 1e3:6.2f} nJ, DRAM {r.energy_dram_pj / 1e6:5.3f} µJ)")

# %% [markdown]
# Gating saves the MAC energy of the zeros but nothing else: the dense array still streams every
# zero weight from DRAM. The sparse engine stores only non-zeros (8-bit value + 4-bit index),
# reads {glue:text}`ch7_fc1_dram_saving:.1f`× fewer DRAM bits, and needs
# {glue:text}`ch7_fc1_speedup:.1f`× fewer cycles ($K_\text{eff}$ includes the imbalance).

# %% tags=["hide-input", "nbval-ignore-output"]
_d = evaluate_layer(Architecture(), fc1.with_compression(weight_density=1.0))
_s = evaluate_layer(Architecture(engine="sparse", skip="weights"), fc1)
nb.glue("ch7_fc1_dram_saving", _d.dram_bits / _s.dram_bits)
nb.glue("ch7_fc1_speedup", _d.cycles / _s.cycles)

# %% [markdown]
# ### The compressed models of the earlier chapters
#
# We prune the trained LeNet-300-100 and LeNet-5 to Deep Compression's per-layer densities
# {cite:p}`han2016deep` (LeNet-300: 8 / 9 / 26 %; LeNet-5: 66 / 12 / 8 / 19 %) with
# `companion.sparsity` (chapter 5) and fine-tune four epochs with the masks fixed (cached after
# the first run). Weights get Deep Compression's bitwidths (LeNet-300: 6 bits; LeNet-5: 8-bit conv,
# 5-bit FC); the activation density of each layer's input is *measured* on the test images.

# %% tags=["nbval-ignore-output"]
TARGET_SPARSITY = {"lenet300": {"fc1": 0.92, "fc2": 0.91, "fc3": 0.74},
                   "lenet5": {"conv1": 0.34, "conv2": 0.88, "fc1": 0.92, "fc2": 0.81}}
WEIGHT_BITS = {"lenet300": {"fc1": 6, "fc2": 6, "fc3": 6},
               "lenet5": {"conv1": 8, "conv2": 8, "fc1": 5, "fc2": 5}}

x_test, _ = data.load_mnist("test")
lenets = {}
for name in ("lenet300", "lenet5"):
    base = train.baseline(name)
    # chapter 5: prune once to the targets, fine-tune 4 epochs with the masks fixed, bake (cached)
    pruned = sparsity.pruned_model(name, TARGET_SPARSITY[name], method="one-shot", epochs=4, lr=5e-4,
                                   weight_decay=0.0)
    # chapter 4: symmetric per-tensor uniform weights (zeros stay zero), a copy
    comp = quantization.quantize_weights(pruned, WEIGHT_BITS[name], scheme="symmetric", granularity="tensor")
    lenets[name] = dict(base=base, comp=comp, base_acc=train.evaluate(base), acc=train.evaluate(comp),
                        act_density=input_densities(comp, x_test))

# %% [markdown]
# Activations: Stripes and Bit Fusion profit from *narrow activations*. We fake-quantize every
# layer's input (unsigned, range calibrated on the validation images; the first layer's signed
# image input keeps 8 bits) and keep the smallest bitwidth that loses at most 0.5 points of
# *validation* accuracy (the test split only reports the result):

# %% tags=["nbval-ignore-output"]
def with_act_bits(model, bits, calib):
    """Forward pre-hooks that round each non-first layer's input to `bits` unsigned levels."""
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    ranges, handles = {}, []
    def record(m, inp):
        ranges[m] = max(ranges.get(m, 0.0), float(inp[0].max()))
    hs = [m.register_forward_pre_hook(record) for m in layers[1:]]
    with torch.no_grad():
        model(calib)
    for h in hs:
        h.remove()
    def quant(m, inp):
        s = ranges[m] / (2 ** bits - 1)
        return (torch.round(inp[0] / s).clamp(0, 2 ** bits - 1) * s,)
    return [m.register_forward_pre_hook(quant) for m in layers[1:]]

x_val, _ = data.load_mnist("val")
for name, d in lenets.items():  # chosen on the validation split; the test split only reports
    d["act_bits"], val_float = 8, train.evaluate(d["comp"], "val")
    for bits in (6, 5, 4, 3, 2):
        handles = with_act_bits(d["comp"], bits, x_val)
        val_acc = train.evaluate(d["comp"], "val")
        for h in handles:
            h.remove()
        if val_acc < val_float - 0.5:
            break
        d["act_bits"] = bits
    handles = with_act_bits(d["comp"], d["act_bits"], x_val) if d["act_bits"] < 8 else []
    d["acc_act"] = train.evaluate(d["comp"])
    for h in handles:
        h.remove()

# %% tags=["check-within-noise"]
for name, d in lenets.items():
    dens = {l.name: l.density for l in metrics.measure_layers(d["comp"])}
    print(f"{name}: accuracy {d['base_acc']:.1f} % -> {d['acc']:.1f} % pruned + quantized, "
          f"{d['acc_act']:.1f} % with {d['act_bits']}-bit activations")
    print("   weight density " + ", ".join(f"{n} {100 * v:.0f}%" for n, v in dens.items()))
    print("   input density  " + ", ".join(f"{n} {100 * v:.0f}%" for n, v in d["act_density"].items()))
after_relu = [v for d in lenets.values() for n, v in d["act_density"].items() if v < 1]
nb.glue("ch7_act_density_min", 100 * min(after_relu))
nb.glue("ch7_act_density_max", 100 * max(after_relu))

# %% [markdown]
# AlexNet cannot be trained here, so we take its compression from the papers: Han et al.'s
# per-layer weight densities {cite:p}`han2015learning` (conv1–conv5: 84, 38, 35, 37, 37 %;
# fc6–fc8: 9, 9, 25 %), Deep Compression's 8-bit conv and 5-bit FC weights {cite:p}`han2016deep`,
# and an *assumed* input density of 50 % after each ReLU (our LeNets measure
# {glue:text}`ch7_act_density_min:.0f`–{glue:text}`ch7_act_density_max:.0f` %) with
# 6-bit activations. Now every engine runs the same compressed workload; the baseline is the
# uncompressed 8-bit network on the dense array (32×32, output-stationary, like every engine below).

# %% tags=["nbval-ignore-output"]
ALEXNET_DENSITY = {"conv1": 0.84, "conv2": 0.38, "conv3": 0.35, "conv4": 0.37, "conv5": 0.37,
                   "fc6": 0.09, "fc7": 0.09, "fc8": 0.25}
alex = models.layer_table("alexnet")
workloads = {
    "LeNet-300": (from_module(lenets["lenet300"]["base"]),
                  from_module(lenets["lenet300"]["comp"], act_density=lenets["lenet300"]["act_density"],
                              bits=6, act_bits=lenets["lenet300"]["act_bits"])),
    "LeNet-5": (from_module(lenets["lenet5"]["base"]),
                [w.with_compression(weight_bits=WEIGHT_BITS["lenet5"][w.name])
                 for w in from_module(lenets["lenet5"]["comp"], act_density=lenets["lenet5"]["act_density"],
                                      act_bits=lenets["lenet5"]["act_bits"])]),
}
alex_dense = [from_layer_spec(l) for l in alex]
workloads["AlexNet"] = (alex_dense, [w.with_compression(weight_density=ALEXNET_DENSITY[w.name],
                                                        act_density=1.0 if w.name == "conv1" else 0.5,
                                                        weight_bits=8 if w.name.startswith("conv") else 5,
                                                        act_bits=6) for w in alex_dense])

OS = dict(dataflow="os")  # these engines stream the reduction (input-channel) dimension in time
ENGINES = {"dense": ("dense, gated", Architecture(**OS)),
           "eie": ("EIE-like (skip w)", Architecture(engine="sparse", skip="weights", **OS)),
           "cnvlutin": ("Cnvlutin-like (skip a)", Architecture(engine="sparse", skip="activations", **OS)),
           "scnn": ("SCNN-like (skip w, a)", Architecture(engine="sparse", skip="both", **OS)),
           "stripes": ("Stripes-like (bit-serial)", Architecture(engine="bit_serial", **OS)),
           "bitfusion": ("Bit Fusion-like", Architecture(engine="bit_fusion", **OS))}
NET_KEYS = {"LeNet-300": "lenet300", "LeNet-5": "lenet5", "AlexNet": "alexnet"}

# %% tags=["check-within-noise"]
table = {}
for net, (dense_w, comp_w) in workloads.items():
    base = evaluate_network(Architecture(**OS), dense_w, name=net)
    for key, (eng, arch) in ENGINES.items():
        rep = evaluate_network(arch, comp_w, name=net)
        glue_key = f"ch7_{NET_KEYS[net]}_{key}"
        nb.glue(f"{glue_key}_speedup", base.latency_cycles / rep.latency_cycles)
        nb.glue(f"{glue_key}_energy", base.energy_pj / rep.energy_pj)
        table[(net, eng)] = {"speedup": base.latency_cycles / rep.latency_cycles,
                             "energy saving": base.energy_pj / rep.energy_pj,
                             "utilisation %": 100 * rep.utilization}
engines_df = pd.DataFrame(table).T
with pd.option_context("display.width", 200):
    for metric in ("speedup", "energy saving"):
        print(f"{metric} vs the dense 8-bit baseline")
        print(engines_df[metric].unstack(0)[list(workloads)].loc[[v[0] for v in ENGINES.values()]].round(2).to_string())

# %% tags=["hide-input", "nbval-ignore-output"]
nb.glue("ch7_lenet300_acc", lenets["lenet300"]["acc_act"])
nb.glue("ch7_lenet300_base_acc", lenets["lenet300"]["base_acc"])
nb.glue("ch7_lenet5_acc", lenets["lenet5"]["acc_act"])
nb.glue("ch7_lenet5_base_acc", lenets["lenet5"]["base_acc"])
nb.glue("ch7_lenet300_act_bits", lenets["lenet300"]["act_bits"])
nb.glue("ch7_lenet5_act_bits", lenets["lenet5"]["act_bits"])

# %% [markdown]
# All engines here are 32×32 *output-stationary* arrays: EIE, Cnvlutin and Stripes all stream
# the reduction (input-channel) dimension through time, which is what OS does. (On a
# weight-stationary array at batch 1, an FC layer streams a single pixel per fold and is
# fill/drain-bound: no engine can help it — try it in the explorer below.) Read the tables
# against the dense 8-bit baseline on the same array:
#
# - The **dense array** gains no time from zeros, only energy from fewer weight bits and gated
#   MACs ({glue:text}`ch7_alexnet_dense_energy:.2f`× on AlexNet).
# - The **EIE-like** engine shines on the FC-heavy LeNet-300: {glue:text}`ch7_lenet300_eie_speedup:.1f`×
#   faster and {glue:text}`ch7_lenet300_eie_energy:.1f`× less energy. At batch 1 an FC layer
#   is pure weight traffic, and pruning removes 92 % of it (the index bits and the load
#   imbalance take back part of the ideal gain).
# - **Skipping activations** alone (Cnvlutin-like) gives {glue:text}`ch7_alexnet_cnvlutin_speedup:.2f`×
#   on AlexNet; skipping **both** (SCNN-like) compounds to {glue:text}`ch7_alexnet_scnn_speedup:.1f`×.
#   Compressing an input that has no zeros (a normalised image) only adds index bits — which is
#   why SCNN-like saves slightly *less* energy than EIE-like on LeNet-300.
# - The **precision engines** turn narrow activations into time: bit-serial
#   {glue:text}`ch7_alexnet_stripes_speedup:.2f`× on AlexNet (6-bit activations) and
#   {glue:text}`ch7_lenet5_stripes_speedup:.2f`× on LeNet-5 ({glue:text}`ch7_lenet5_act_bits`-bit).
#   Bit Fusion gains only when *both* operands fit smaller bricks: AlexNet's 8-bit conv and 5-bit
#   FC weights round up to 8-bit bricks ({glue:text}`ch7_alexnet_bitfusion_speedup:.2f`×), while
#   LeNet-5 gets {glue:text}`ch7_lenet5_bitfusion_speedup:.2f`×.
#
# The compressed LeNets keep {glue:text}`ch7_lenet300_acc:.1f` % (LeNet-300, from
# {glue:text}`ch7_lenet300_base_acc:.1f` %) and {glue:text}`ch7_lenet5_acc:.1f` % (LeNet-5, from
# {glue:text}`ch7_lenet5_base_acc:.1f` %) test accuracy with {glue:text}`ch7_lenet300_act_bits`-
# and {glue:text}`ch7_lenet5_act_bits`-bit activations.

# %% [markdown]
# ## Explore: sparsity, bits, engine, dataflow, array
#
# Two explorers. The first changes the *hardware* (network, dataflow, array size) and shows
# per-layer utilisation and the energy split; the second changes the *compression* (weight
# sparsity of every layer, bits of weights and activations) and the *engine* of a 32×32 OS
# array, and shows the speedup, the energy breakdown against the dense 8-bit baseline and where
# the layers sit on the roofline. (In JupyterLab, call `compression_frame(dataflow="ws", ...)`
# directly to try the other dataflows.) Each frame re-evaluates the whole network from scratch — that is the point of a
# closed-form model.

# %% tags=["nbval-ignore-output"]
def hardware_frame(network="resnet50", dataflow="ws", array="32x32"):
    r, c = map(int, array.split("x"))
    rep = evaluate_network(Architecture(rows=r, cols=c, dataflow=dataflow), nets[network])
    fig, (a1, a2) = plotting.new_figure(2, 1, width=9, height=3.0, gridspec_kw={"width_ratios": [3, 1]})
    util = [100 * l.utilization for l in rep]
    a1.bar(range(len(util)), util, color=[plotting.PALETTE[3] if l.name.endswith(".dw") else plotting.PALETTE[0]
                                          for l in rep])
    a1.set_ylim(0, 100)
    a1.set_xlabel("layer index")
    a1.set_ylabel("utilisation (%)")
    a1.set_title(f"{network} on {array} {dataflow.upper()}: {rep.latency_s * 1e3:.2f} ms, "
                 f"{100 * rep.utilization:.0f} % busy")
    e = rep.energy_breakdown
    a2.bar(list(e), [v / 1e9 for v in e.values()], color=plotting.PALETTE[:4])
    a2.set_ylabel("energy (mJ)")
    a2.set_title(f"{rep.energy_pj / 1e9:.2f} mJ / image")
    return fig

hw = widgets.explore(hardware_frame, title="Hardware: network x dataflow x array size",
                     network=list(nets), dataflow=["os", "ws", "is"], array=["16x16", "32x32"])

# %% tags=["nbval-ignore-output"]
ENGINE_ARCH = {"dense": dict(), "sparse": dict(engine="sparse", skip="weights"),
               "bit_serial": dict(engine="bit_serial"), "bit_fusion": dict(engine="bit_fusion")}

def compression_frame(network="resnet50", engine="sparse", sparsity=0.5, bits=8, dataflow="os"):
    arch = Architecture(dataflow=dataflow, **ENGINE_ARCH[engine])
    base = evaluate_network(Architecture(dataflow=dataflow), nets[network])
    rep = evaluate_network(arch, nets[network], densities=1 - sparsity, bits=bits, act_bits=bits)
    fig, (a1, a2) = plotting.new_figure(2, 1, width=9, height=3.0)
    bottom = np.zeros(2)
    for k in ("dram", "buffer", "array", "mac"):
        vals = np.array([base.energy_breakdown[k], rep.energy_breakdown[k]]) / 1e9
        a1.bar(["dense 8-bit", engine], vals, bottom=bottom, color=colors[k], label=k)
        bottom += vals
    a1.set_ylabel("energy per image (mJ)")
    a1.set_title(f"{base.latency_cycles / rep.latency_cycles:.2f}x faster "
                 f"({rep.latency_s * 1e3:.2f} ms), {base.energy_pj / rep.energy_pj:.2f}x less energy")
    a1.legend(fontsize=8)
    roofline(a2, arch, [base, rep], ["dense 8-bit", engine])
    a2.set_title("roofline (one point per layer)")
    a2.legend(fontsize=8)
    return fig

cx = widgets.explore(compression_frame, title="Compression: sparsity and bits on four engines",
                     network=list(nets), engine=list(ENGINE_ARCH), sparsity=[0.0, 0.5, 0.9], bits=[8, 4])

# %% [markdown]
# Throughput is *dense-equivalent* (2 × the dense MACs per second), as EIE reports "3 TOPS"
# for 102 GOPS of real work: a sparse engine's points may rise above the flat roof.
#
# Try: MobileNet-v1 on the 16×16 versus 32×32 array (the depthwise layers barely care); the
# sparse engine at 0 % sparsity (it equals the dense array — no free lunch) and at 90 % (the
# points on the roofline move *right*: the operations counted are dense-equivalent, the bytes are
# compressed); bit-fusion at 4 bits (up to 4× the MACs per cycle) against bit-serial at 4 bits
# (up to 2×: only activations count) — and see memory-bound layers cap both.
#
# ## What it buys in practice
#
# The model is meant to sit in a loop — behind a slider here, inside an automatic-compression
# search in chapter 8 — so its speed matters. Measured on this CPU:

# %% tags=["nbval-ignore-output"]
arch = Architecture()
eval_ms = metrics.time_call_ms(lambda: evaluate_network(arch, nets["resnet50"]), repeats=20, warmup=1, stat="median")
cpu0 = time.process_time()
frame_ms = widgets.frame_timings_ms(compression_frame, {"network": ["resnet50"], "engine": ["sparse", "dense", "bit_serial"],
                                                        "sparsity": [0.5], "bits": [8]})
cpu_ms = 1e3 * (time.process_time() - cpu0) / len(frame_ms)
print(f"ResNet-50, one configuration: median {eval_ms:.1f} ms (budget 50 ms)")
print(f"one explorer frame incl. drawing: median {np.median(frame_ms):.0f} ms wall, {cpu_ms:.0f} ms CPU "
      f"(rendered once per frame when the explorer cell runs; wall time grows with the machine's load)")
widgets.show_timing(hw, "hardware explorer")
widgets.show_timing(cx, "compression explorer")
nb.glue("ch7_resnet50_eval_ms", eval_ms, measured=True)
nb.glue("ch7_frame_ms", float(np.median(frame_ms)), measured=True)

# %% [markdown]
# And the dense-array row of the table above is what a CPU does with a pruned model. PyTorch's
# dense kernels multiply the zeros like any other number: the pruned LeNet-300 runs as fast as
# the dense one — the hardware must *skip* zeros to gain time.

# %% tags=["nbval-ignore-output"]
xb = x_test[:256]
t_dense, t_pruned = (metrics.time_call_ms(lambda: lenets["lenet300"][k](xb), repeats=50, stat="median")
                     for k in ("base", "comp"))
print(f"LeNet-300, batch 256 on the CPU: dense {t_dense:.2f} ms, pruned to 8-26 % (stored dense) {t_pruned:.2f} ms")
nb.glue("ch7_cpu_dense_ms", t_dense, measured=True)
nb.glue("ch7_cpu_pruned_ms", t_pruned, measured=True)

# %% [markdown]
# ## Beside the literature
#
# | engine (paper) | headline claim | ours (model, same compressed workload) | setup differences |
# |---|---|---|---|
# | EIE {cite:p}`han2016eie` | 102 GOPS on compressed FC ≈ 3 TOPS dense-equivalent; energy: sparsity 10×, ReLU skipping 3× | LeNet-300 {glue:text}`ch7_lenet300_eie_speedup:.1f`× faster, {glue:text}`ch7_lenet300_eie_energy:.1f`× less energy | EIE: 64 PEs, 4-bit shared weights, all weights in SRAM (no DRAM); ours: 32×32 output-stationary array with DRAM, 6-bit weights, activations not skipped |
# | SCNN {cite:p}`parashar2017scnn` | 2.7× performance, 2.3× energy vs dense | AlexNet {glue:text}`ch7_alexnet_scnn_speedup:.1f`×, {glue:text}`ch7_alexnet_scnn_energy:.1f`× | SCNN: Cartesian-product PE, GoogLeNet/VGG/AlexNet with measured activation densities; ours: assumed 50 % activations, 6-bit activations also shrink traffic |
# | Cnvlutin {cite:p}`albericio2016cnvlutin` | 1.37× average speedup | AlexNet {glue:text}`ch7_alexnet_cnvlutin_speedup:.2f`× | Cnvlutin: 16-bit, dense weights; ours includes pruned weights' energy savings and 8/5-bit weights |
# | Stripes {cite:p}`judd2016stripes` | 1.92× average | AlexNet {glue:text}`ch7_alexnet_stripes_speedup:.2f`× | Stripes: 16-bit baseline, per-layer activation precision; ours: 8-bit baseline, 6-bit activations |
# | Bit Fusion {cite:p}`sharma2018bitfusion` | 3.9× speedup, 5.1× energy vs Eyeriss | AlexNet {glue:text}`ch7_alexnet_bitfusion_speedup:.2f`×, {glue:text}`ch7_alexnet_bitfusion_energy:.2f`× | Bit Fusion: vs a 16-bit Eyeriss, 1–8-bit quantized nets; ours: vs 8-bit dense, 8/5-bit weights and 6-bit activations |
#
# The orders of magnitude agree where the setups match (FC layers on a weight-skipping engine;
# activation skipping alone is worth tens of percent). What the simple model **does not capture**:
# the real engines' datapaths (EIE's CSC pointers and queues, SCNN's accumulator-bank conflicts
# and halo exchange), per-layer precision profiles, control and leakage energy, buffer bank
# conflicts, and activation sparsity that varies per image. It also assumes compute and
# transfers overlap perfectly. Treat its ratios as first-order estimates, not benchmarks.
#
# **Tensor decomposition.** A decomposed layer is a chain of small GEMMs (`Chain`); TIE
# {cite:p}`deng2019tie` builds an engine for the tensor-train chain. Exercise 4 below is the
# dataflow question such chains pose.

# %% [markdown]
# ## Exercises
#
# **1 (easy).** A GEMM with $M=6$, $K=5$, $N=7$ runs on a 4×4 *output-stationary* array. How many
# compute cycles does it take? Count the folds first.

# %%
answer_1 = None  # your number here
check("ch7.gemm_cycles_4x4", answer_1)

# %% tags=["hide-cell", "solution"]
folds_ = -(-6 // 4) * -(-7 // 4)
answer_1 = folds_ * (5 + 4 + 4 - 2)
check("ch7.gemm_cycles_4x4", answer_1)

# %% [markdown]
# **2 (medium).** On the default 32×32 weight-stationary array (dense, 8 bits), what fraction of
# ResNet-50's energy goes to DRAM? Then look at the per-layer table: which layers pay most of it?

# %%
answer_2 = None  # a number between 0 and 1
check("ch7.dram_share", answer_2)

# %% tags=["hide-cell", "solution"]
rep = evaluate_network(Architecture(rows=32, cols=32, dataflow="ws"), models.layer_table("resnet50"))
answer_2 = rep.energy_breakdown["dram"] / rep.energy_pj
check("ch7.dram_share", answer_2)

# %% [markdown]
# **3 (medium).** MobileNet-v1's last pointwise layer `conv14.pw` (7×7 pixels, 1024 → 1024
# channels, 1×1 kernel) runs on a 16×16 array. Which dataflow — `"os"`, `"ws"` or `"is"` — needs
# the fewest compute cycles, and why? (Hint: which dimension is small?)

# %%
answer_3 = None  # "os", "ws" or "is"
check("ch7.dataflow_1x1", answer_3)

# %% tags=["hide-cell", "solution"]
layer = from_layer_spec(models.layer_table("mobilenet_v1")["conv14.pw"])
cycles = {df: evaluate_layer(Architecture(rows=16, cols=16, dataflow=df), layer).cycles for df in ("os", "ws", "is")}
answer_3 = min(cycles, key=cycles.get)
print(cycles)
check("ch7.dataflow_1x1", answer_3)

# %% [markdown]
# **4 (hard).** Write `ws_cycles(M, K, N, R, C)`: the compute cycles of a dense GEMM on an R×C
# weight-stationary array, from the fold formula alone (no `companion` calls). Then use it to
# compare a 1024×1024 FC layer (batch 1) with its rank-64 SVD factorisation, a chain
# 1024×64 then 64×1024, on a 32×32 array: which is faster, and does the speedup match the MAC
# ratio? (Try rank 48: the chain then no longer fills whole folds.)

# %%
def ws_cycles(M, K, N, R, C):
    return None  # your code here

check("ch7.ws_cycles", ws_cycles if ws_cycles(1, 1, 1, 1, 1) is not None else None)

# %% tags=["hide-cell", "solution"]
def ws_cycles(M, K, N, R, C):
    folds = -(-K // R) * -(-N // C)
    return folds * (M + 2 * R + C - 2)

check("ch7.ws_cycles", ws_cycles)
full = ws_cycles(1, 1024, 1024, 32, 32)
svd = ws_cycles(1, 1024, 64, 32, 32) + ws_cycles(1, 64, 1024, 32, 32)
print(f"dense FC {full} cycles, rank-64 chain {svd} cycles: {full / svd:.1f}x faster "
      f"(MAC ratio {1024 * 1024 / (2 * 1024 * 64):.1f}x)")
arch = Architecture()
chain = Chain((Gemm(M=1, K=1024, N=64), Gemm(M=1, K=64, N=1024)), name="svd")
print(f"the model agrees: {evaluate_layer(arch, Gemm(M=1, K=1024, N=1024)).cycles} vs {evaluate_layer(arch, chain).cycles} cycles")

# %% [markdown]
# ## Summary
#
# - A layer is a GEMM; a dataflow pins two of its dimensions to the array and streams the
#   third; folds and fill/drain set the cycles — and the closed form matches SCALE-Sim exactly.
# - Utilisation, not MACs, sets latency: depthwise layers use a few percent of an array, so
#   MobileNet-v1 gains far less time than its MAC count promises.
# - Energy is dominated by moving data (DRAM, then the array's own operand hops), so fewer and
#   narrower bytes save energy even on a dense array that cannot skip anything.
# - Skipping zeros needs hardware for it (EIE, Cnvlutin, SCNN, N:M support); unstructured
#   sparsity pays index bits and load imbalance.
# - Precision-scalable engines (Stripes, Bit Fusion) turn fewer bits into time as well as energy.
#
# **Further reading**: the survey's section on accelerators {cite:p}`deng2020model`; Sze et al.'s
# tutorial {cite:p}`sze2017efficient`; SCALE-Sim {cite:p}`samajdar2020scalesim`, Timeloop
# {cite:p}`parashar2019timeloop` and Accelergy {cite:p}`wu2019accelergy` for full models; the
# engines EIE {cite:p}`han2016eie`, SCNN {cite:p}`parashar2017scnn`, Cnvlutin
# {cite:p}`albericio2016cnvlutin`, Stripes {cite:p}`judd2016stripes`, Bit Fusion
# {cite:p}`sharma2018bitfusion`, TIE {cite:p}`deng2019tie`; the TPU {cite:p}`jouppi2017tpu`.

# %% tags=["nbval-ignore-output"]
nb.glue("ch7_runtime_s", nb.runtime_s(), measured=True)
