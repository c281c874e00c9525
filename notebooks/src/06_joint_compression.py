# %% [markdown]
# # 6. Joint-way compression and sensitivity: Deep Compression end to end
#
# Pruning removes weights, quantization shortens the ones that stay, and entropy coding squeezes
# the bits that remain. Each alone gives a modest factor; together they multiply. In this chapter
# you build **Deep Compression** {cite:p}`han2016deep` end to end — prune with retraining, share
# weights by k-means with codebook fine-tuning, Huffman-code the codes and the relative indices —
# and, unlike a size *estimate*, you write the compressed network to a real byte string, read it
# back into a working PyTorch model and measure both its length and its accuracy. Then you measure
# which layers tolerate what (sensitivity), describe a compression as a declarative *recipe*,
# train a small network with a big one as its teacher (*knowledge distillation*), and put every
# method of chapters 2–6 on one accuracy-vs-size plot, each with the same retraining budget.
#
# ```{admonition} In this chapter
# **Goals**: *implement* canonical Huffman coding and a compressed file format with a checksum;
# *run* the full Deep Compression pipeline on LeNet-300-100 and LeNet-5 and *measure* the bytes of
# the written file; *explain* which stage saves what; *derive* per-layer settings from a
# sensitivity analysis; *implement* the knowledge-distillation loss; *compare* every method and
# combination on one Pareto plot at one retraining budget, each accuracy with its 95 % interval.
#
# **Prerequisites**: chapters 1 (metrics), 3 (decomposition), 4 (quantization: k-means weight
# sharing) and 5 (pruning, relative indices). **Survey**: after the survey's sections on joint-way
# compression and sensitivity analysis.
#
# **Run time**: {glue:text}`ch6_runtime_s:.0f` s on this machine's CPU with a warm cache (measured when the
# book was built; the first run retrains the pruned and shared models and trains the teachers and
# students of section 8: {{ cold_each_06_s }} s on {{ cold_each_cores }} cores from an empty cache).
# **GPU**: not needed.
# ```

# %% tags=["nbval-ignore-output"]
import copy

import numpy as np
import pandas as pd
import torch
from IPython.display import display

from companion import distill, joint, metrics, nb, plotting, sparsity, stats, train, widgets
from companion.exercises import check
from companion.joint import codec, figures, huffman

dev = nb.setup()
base300, base5 = train.baseline("lenet300"), train.baseline("lenet5")
N_TEST = len(train.predict(base300))  # 1,000 test digits: one image is 0.1 point


def ci(acc):
    """The 95 % Wilson interval of a test accuracy (%), as text: "[low, high]"."""
    iv = stats.accuracy_interval(acc, N_TEST)
    return f"[{iv.low:.1f}, {iv.high:.1f}]"

# %% tags=["check-within-noise"]
acc300, acc5 = train.evaluate(base300), train.evaluate(base5)
bytes300, bytes5 = joint.float32_bytes(base300), joint.float32_bytes(base5)
print(f"LeNet-300-100: {acc300:.1f} % test accuracy (95 % interval {ci(acc300)}), {bytes300:,} bytes as float32")
print(f"LeNet-5:       {acc5:.1f} % test accuracy (95 % interval {ci(acc5)}), {bytes5:,} bytes as float32")

# %% [markdown]
# ## 1. The principle: three stages, three kinds of redundancy
#
# Take one row of a layer after pruning (chapter 5) and weight sharing (chapter 4). What is left
# to store is two streams of small integers:
#
# * the **codes**: for each kept weight, the index of its shared value in a small codebook;
# * the **relative indices**: for each kept weight, the number of zeros since the previous one
#   (in $b$ bits; a longer run inserts a *filler* zero, itself an entry).
#
# Neither stream is uniform: a few codebook entries near zero hold most weights, and short gaps are
# more common than long ones. A **Huffman code** gives frequent symbols short code words. With
# symbol probabilities $p_i$ and code lengths $\ell_i$, its average length
# $L = \sum_i p_i \ell_i$ is optimal among prefix codes and satisfies
# $H \le L < H + 1$, where $H = -\sum_i p_i \log_2 p_i$ is the entropy. *Canonical* codes need
# only the lengths $\ell_i$ to be rebuilt, so the file stores one byte per symbol, not a tree.
#
# A tiny example you can check by eye: a row of 24 weights with six survivors, two shared values.

# %% tags=["nbval-check-output"]
row = torch.tensor([0, .5, 0, 0, -.25, 0, 0, 0, 0, 0, 0, 0, 0, .5, 0, .5, 0, 0, 0, 0, 0, 0, -.25, .5])
values, gaps = sparsity.relative_index_encode(row, 3)           # chapter 5: 3-bit relative indices
codebook = torch.unique(values)                                  # [-0.25, 0, 0.5]: 0 is the filler
codes = torch.searchsorted(codebook, values)
print("entries :", values.tolist())
print("gaps    :", gaps.tolist(), "   (a filler zero bridges the run of 8 zeros)")
print("codes   :", codes.tolist(), "  codebook", codebook.tolist())
for name, stream, k in (("codes", codes, 3), ("gaps", gaps, 8)):
    payload, lengths = huffman.huffman_encode(stream, k)
    words = {s: format(int(c), f"0{int(l)}b") for s, (c, l) in
             enumerate(zip(huffman.canonical_codes(lengths), lengths)) if l}
    print(f"{name:6s}: Huffman code words {words}; {huffman.encoded_bits(stream, lengths)} bits "
          f"(fixed width: {len(stream) * int(np.ceil(np.log2(k)))}), entropy {huffman.entropy_bits(stream):.2f} b/symbol")

# %% [markdown]
# The decoder reverses every step exactly: Huffman-decode both streams, look the codes up in the
# codebook, place each value `gap + 1` positions after the previous one.

# %% tags=["nbval-check-output"]
enc = codec.encode_tensor(row, codec.Coding("huffman", index_bits=3))
back = codec.decode_tensor(enc)
print("round trip exact:", torch.equal(back, row), "| bytes by part:", enc.parts_bytes())

# %% [markdown]
# ## 2. A real file, with every overhead counted
#
# {func}`companion.joint.write_model` writes a whole network as one byte string: a header (magic
# number, version, total length, the architecture's name), then per tensor its shape, codings,
# codebook, Huffman tables and the two bit streams, and finally a CRC-32 checksum. Biases stay
# float32. {func}`companion.joint.read_model` checks the length and the checksum *before* it parses
# anything, and every count against the bytes that remain, so a truncated or corrupted file is
# rejected with a clear error — never turned into a wrong model. Here is what happens to a damaged
# copy of a small compressed model:

# %% tags=["check-within-noise"]
tiny = copy.deepcopy(base300)
sparsity.prune_(tiny, 0.9)
sparsity.bake_masks_(tiny)
data = joint.write_model(tiny, {n: joint.Coding("float32", 5) for n in ("fc1", "fc2", "fc3")}, arch="lenet300")
print(f"pruned LeNet-300-100 (float32 values, 5-bit relative indices): {len(data):,} bytes")
flipped = bytearray(data)
flipped[len(data) // 2] ^= 0x01
for label, damaged in (("truncated", data[:-100]), ("one bit flipped", bytes(flipped)), ("not ours", b"PK" + data[2:])):
    try:
        joint.read_model(damaged)
    except joint.CorruptFileError as e:
        print(f"{label:16s} -> CorruptFileError: {e}")

# %% [markdown]
# ## 3. Recipes: a compression, declared
#
# A compression is a list of steps: what to apply, to which layers, with which parameters, in which
# order. The chapter's Deep Compression of LeNet-300-100 reads as a recipe (also valid YAML):

# %% tags=["nbval-check-output"]
print(joint.DEEP_COMPRESSION["lenet300"].to_yaml())

# %% [markdown]
# {func}`companion.joint.validate` checks the whole recipe *before anything runs* — method names,
# parameter names, types and ranges, every layer name against the network the earlier steps leave
# behind (after an SVD, `fc1` becomes `fc1.first` and `fc1.last`), and the order — so a typo never
# costs ten minutes of retraining:

# %% tags=["nbval-check-output"]
bad_recipes = [
    {"model": "lenet300", "steps": [{"method": "prune", "sparsity": {"fc4": 0.9}}]},
    {"model": "lenet300", "steps": [{"method": "distill", "teacher": "vgg16"}]},
    {"model": "lenet300", "steps": [{"method": "decompose", "svd_rank": {"fc1": 32}},
                                    {"method": "share", "bits": {"fc1": 4}}]},
    {"model": "lenet300", "steps": [{"method": "share", "bits": 12}]},
]
for r in bad_recipes:
    try:
        joint.validate(r)
    except ValueError as e:
        print("ValueError:", e)

# %% [markdown]
# ## 4. Deep Compression of LeNet-300-100 and LeNet-5
#
# {func}`companion.joint.run` applies a recipe to the cached baseline. Each training step is
# cached on disk, so the second run takes seconds. After every step the model is written with the
# coding that stage allows and the file is measured: after pruning, float32 values with the paper's
# fixed-width relative indices (5 bits for FC, 8 for conv layers); after weight sharing, fixed-width
# codes; after Huffman coding, the final file, which is then **read back** and evaluated.
#
# One choice differs from the paper: the final encoder picks each layer's relative-index width
# (`index_bits: auto`, {func}`companion.joint.codec.best_index_bits`). Once the indices are
# Huffman-coded, a wide index costs little — the code adapts to the gaps that actually occur —
# while a narrow one needs many filler zeros, each a whole entry (a code *and* an index). So the
# best width for the big, very sparse `fc1` is wider than the 5 bits of the paper's fixed-width
# accounting.

# %% tags=["nbval-ignore-output"]
dc300 = joint.deep_compression("lenet300")
dc5 = joint.deep_compression("lenet5")

# %% tags=["check-within-noise"]
ratio300, drop300 = bytes300 / len(dc300.data), round(acc300 - train.evaluate(dc300.model), 2)  # exact: 0.1 pp steps
ratio5, drop5 = bytes5 / len(dc5.data), round(acc5 - train.evaluate(dc5.model), 2)
print(f"LeNet-300-100: {bytes300:,} -> {len(dc300.data):,} bytes = {ratio300:.1f}x, "
      f"accuracy after decoding {acc300 - drop300:.1f} % {ci(acc300 - drop300)} (drop {drop300:.1f} pp)")
print(f"LeNet-5:       {bytes5:,} -> {len(dc5.data):,} bytes = {ratio5:.1f}x, "
      f"accuracy after decoding {acc5 - drop5:.1f} % {ci(acc5 - drop5)} (drop {drop5:.1f} pp)")

# %% tags=["hide-input"]
nb.glue("dc_lenet300_ratio", ratio300)
nb.glue("dc_lenet300_acc_drop", drop300)
nb.glue("dc_lenet5_ratio", ratio5)
nb.glue("dc_lenet5_acc_drop", drop5)
nb.glue("dc_lenet300_kb", len(dc300.data) / 1024)
nb.glue("dc_lenet5_kb", len(dc5.data) / 1024)
nb.glue("dc_lenet300_acc", acc300 - drop300)
nb.glue("dc_lenet300_acc_ci", ci(acc300 - drop300))
nb.glue("dc_lenet5_acc", acc5 - drop5)
nb.glue("dc_lenet5_acc_ci", ci(acc5 - drop5))
nb.glue("ch6_base300_acc_ci", ci(acc300))
nb.glue("ch6_base5_acc_ci", ci(acc5))

# %% [markdown]
# LeNet-300-100 shrinks {glue:text}`dc_lenet300_ratio:.1f` times, to
# {glue:text}`dc_lenet300_kb:.1f` KB, and loses {glue:text}`dc_lenet300_acc_drop:.1f` points after
# decoding ({glue:text}`dc_lenet300_acc:.1f` %, 95 % interval {glue:text}`dc_lenet300_acc_ci`, against
# the baseline's {glue:text}`ch6_base300_acc_ci`); LeNet-5 shrinks {glue:text}`dc_lenet5_ratio:.1f`
# times, to {glue:text}`dc_lenet5_kb:.1f` KB, losing {glue:text}`dc_lenet5_acc_drop:.1f` points
# ({glue:text}`dc_lenet5_acc:.1f` %, {glue:text}`dc_lenet5_acc_ci`; baseline
# {glue:text}`ch6_base5_acc_ci`). On 1,000 test digits an interval is about ±1 point wide, so a
# drop of a few tenths is within the noise of the measurement. These ratios are bytes of the
# written file — header, codebooks, Huffman tables, biases and checksum included — not a count of
# parameters. Stage by stage, beside the paper:

# %% tags=["check-within-noise"]
for name, res in (("LeNet-300-100", dc300), ("LeNet-5", dc5)):
    key = res.recipe.model
    table = joint.stage_table(res, joint.PAPER[key])
    print(name)
    print(table.round(2).to_string(), "\n")

# %% tags=["hide-input"]
st300 = joint.stage_table(dc300, joint.PAPER["lenet300"])
nb.glue("dc_lenet300_prune_ratio", float(st300["ratio"].iloc[0]))
nb.glue("dc_lenet300_share_ratio", float(st300["ratio"].iloc[1]))
huff_gain = float(st300["ratio"].iloc[2] / st300["ratio"].iloc[1])
nb.glue("dc_lenet300_huffman_gain_pct", 100 * (1 - 1 / huff_gain))

# %% [markdown]
# Pruning alone gives {glue:text}`dc_lenet300_prune_ratio:.1f`x on LeNet-300-100 — less than the
# paper's 12x, because our ratio pays for the relative indices (5 bits per kept weight and the
# filler zeros), while the paper's 12x counts weights only. Weight sharing brings it to
# {glue:text}`dc_lenet300_share_ratio:.1f`x, and Huffman coding removes another
# {glue:text}`dc_lenet300_huffman_gain_pct:.0f` % of the bytes. Where do the bytes of the final files go?

# %% mystnb={"figure": {"caption": "Anatomy of the Deep Compression files of LeNet-300-100 and LeNet-5: the bytes of each written file split into weight codes, relative indices, codebooks, Huffman tables, float32 biases and the header.", "name": "fig-ch6-file-anatomy"}, "image": {"alt": "Two horizontal stacked bars, one per network, measuring the file size in kilobytes and coloured by part of the file; the weight codes and the relative indices take the largest segments, the biases a visible slice."}} tags=["nbval-ignore-output"]
fig, ax = plotting.new_figure(1, 1, 8, 3.2)
figures.parts_bar(ax, ["LeNet-300-100", "LeNet-5"], [joint.size_breakdown(dc300.data), joint.size_breakdown(dc5.data)])
ax.set_title("Anatomy of the compressed files")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=8, ncol=3)
display(fig)

# %% tags=["check-within-noise"]
print(joint.describe(dc5.data)[["shape", "values", "index", "entries", "codebook", "total (B)"]].to_string())

# %% [markdown]
# Per layer, the file stores only the surviving entries. Notice the relative indices: after
# Huffman coding they take about as many bytes as the weight codes themselves — the *index
# overhead* that every sparse format pays (chapter 5), which a size estimate from "number of
# non-zeros × bits" forgets. And the biases, stored as plain float32, are a visible slice of a
# file this small.

# %% [markdown]
# ## 5. Sensitivity: which layer tolerates what
#
# Layers differ. Compress *one* layer at a time, keep the rest float32, measure the accuracy
# (validation split, no retraining — a cheap, pessimistic probe). This is how Han et al. chose
# per-layer sparsities {cite:p}`han2015learning`; Deep Compression found on AlexNet that conv layers
# need more bits than FC layers (8 against 5) — does LeNet-5 show the same?

# %% mystnb={"figure": {"caption": "Sensitivity of LeNet-5, one layer at a time with the others left in float32 (validation accuracy, no retraining): pruning that layer to increasing sparsity (left) and sharing its weights with k-means at a given number of bits (right); the dotted line is the uncompressed baseline.", "name": "fig-ch6-sensitivity"}, "image": {"alt": "Two line charts with one line per LeNet-5 layer: on the left, accuracy against the sparsity of that layer, where the small layers collapse first and the large fc1 layer holds out longest; on the right, accuracy against the bits of that layer, where all lines stay close to the dotted baseline except at the fewest bits."}} tags=["nbval-ignore-output"]
sens5 = joint.cached_sensitivity("lenet5")
display(figures.sensitivity_figure(sens5))

# %% tags=["check-within-noise"]
rule = joint.settings_from_sensitivity(sens5, max_drop=0.5)
for layer, s in rule.items():
    print(f"{layer:6s} sparsity {s['sparsity']:.2f}  bits {s['bits']}")
n_val = len(train.predict(base5, "val"))
noise = stats.accuracy_interval(sens5.baseline, n_val).half_width  # one-layer probes on 500 digits
drops = {n: {b: sens5.baseline - a for b, a in zip(sens5.bit_widths, accs)} for n, accs in sens5.bits.items()}
print("drop (pp) at 1 / 2 bits: " + ", ".join(f"{n} {d[1]:.1f} / {d[2]:.1f}" for n, d in drops.items())
      + f"; noise (half the 95 % interval) ±{noise:.1f} pp")

# %% tags=["hide-input"]
conv = [n for n in drops if n.startswith("conv")]
fc = [n for n in drops if n.startswith("fc")]
worst_1bit = max(drops, key=lambda n: drops[n][1])
nb.glue("ch6_bits_noise_pp", noise)
nb.glue("ch6_bits_max_drop_2plus", max(d[b] for d in drops.values() for b in d if b >= 2))
nb.glue("ch6_bits_worst_layer_1bit", worst_1bit)
nb.glue("ch6_bits_worst_drop_1bit", drops[worst_1bit][1])
conv_gap = min(drops[n][1] for n in conv) - max(drops[n][1] for n in fc)
fc_gap = min(drops[n][1] for n in fc) - max(drops[n][1] for n in conv)
tolerance = {n: r["sparsity"] for n, r in rule.items()}
weights5 = {l.name: l.weights for l in metrics.measure_layers(base5)}
most = max(tolerance, key=tolerance.get)
least = sorted(n for n in tolerance if tolerance[n] == min(tolerance.values()))
nb.glue("ch6_prune_most_tolerant", f"`{most}`")
names_least = [f"`{n}`" for n in least]
nb.glue("ch6_prune_least_tolerant", names_least[0] if len(names_least) == 1
        else ", ".join(names_least[:-1]) + " and " + names_least[-1])
nb.claim("ch6_most_tolerant_is_largest", "the layer that holds most of the weights tolerates the most pruning",
         most == max(weights5, key=weights5.get) and tolerance[most] > min(tolerance.values()),
         tolerance=tolerance, weights=weights5)
nb.glue("ch6_bits_conv_verdict", "shows it: every conv layer loses more than every FC layer" if conv_gap > noise
        else "shows the opposite: the FC layers lose more" if fc_gap > noise
        else "cannot tell: the differences between layers are within the noise")

# %% [markdown]
# The rule takes, per layer, the highest sparsity and the fewest bits whose one-layer drop stays
# within half a point. Pruning separates the layers: {glue:text}`ch6_prune_most_tolerant`,
# which holds almost all of the weights, tolerates the most — lucky, because that is where the bytes are — while {glue:text}`ch6_prune_least_tolerant`
# tolerate the least. Bits separate them much less on this small network: k-means
# with a handful of shared values costs a single layer almost nothing — from 2 bits up no layer
# loses more than {glue:text}`ch6_bits_max_drop_2plus:.1f` points, and even at 1 bit the largest drop
# (layer {glue:text}`ch6_bits_worst_layer_1bit`) is {glue:text}`ch6_bits_worst_drop_1bit:.1f` points,
# against a noise of ±{glue:text}`ch6_bits_noise_pp:.1f` points on 500 validation digits. Does
# LeNet-5 need more bits in its conv layers, as AlexNet does? This measurement
# {glue:text}`ch6_bits_conv_verdict`. The paper's finding is about AlexNet's large convolutions; on
# a network this small we cannot confirm it. The rule's output is a starting point, not a recipe: the one-layer drops add up
# when every layer is compressed at once, and retraining recovers part of them. That is why the
# recipe above keeps the paper's chosen settings, 8 bits for conv and 5 bits for FC layers, and
# yet, with retraining, prunes `conv2` further than the one-layer probe alone would dare. (Han et
# al.'s own finding on AlexNet is that conv layers degrade below 4 bits while FC layers hold to
# 2 bits {cite:p}`han2016deep`; 8 and 5 are the margins they chose above those limits.)

# %% [markdown]
# ## 6. The ablation: pruning alone, quantization alone, both
#
# Deep Compression's Fig. 6 asks whether the two stages help each other. We sweep the sparsity
# (one-shot pruning of every layer + two epochs of retraining) and the bit width (k-means, no
# fine-tuning) of LeNet-300-100, write each model to a file and measure it.

# %% mystnb={"figure": {"caption": "Deep Compression's ablation in miniature on LeNet-300-100: accuracy drop against the compression ratio of the written file for pruning alone, quantization (k-means weight sharing) alone, and both together; faint markers are all grid points, lines join each family's best trade-offs, and the dotted line marks a drop of half a point.", "name": "fig-ch6-ablation"}, "image": {"alt": "Scatter plot with the compression ratio on a log horizontal axis and the accuracy drop on the vertical axis, with three coloured families of points and a line along each family's best trade-offs; the line for pruning plus quantization reaches the highest compression ratios at small drops."}} tags=["nbval-ignore-output"]
grid = joint.prune_share_grid("lenet300")
display(figures.ablation_figure(grid, bytes300, acc300))

# %% tags=["hide-input"]
def best_ratio(rows, max_drop=1.0):
    ok = [bytes300 / r["bytes"] for r in rows if acc300 - r["accuracy"] <= max_drop]
    return max(ok) if ok else float("nan")


only_prune = best_ratio([r for r in grid if r["bits"] >= 32])
only_quant = best_ratio([r for r in grid if r["sparsity"] == 0])
both = best_ratio([r for r in grid if r["bits"] < 32 and r["sparsity"] > 0])
nb.glue("abl_prune_ratio", only_prune)
nb.glue("abl_quant_ratio", only_quant)
nb.glue("abl_both_ratio", both)

# %% tags=["check-within-noise"]
print(f"largest ratio within 1 point of the baseline: pruning only {only_prune:.1f}x, "
      f"quantization only {only_quant:.1f}x, both {both:.1f}x")

# %% [markdown]
# Within one point of the baseline, pruning alone reaches {glue:text}`abl_prune_ratio:.1f`x,
# quantization alone {glue:text}`abl_quant_ratio:.1f`x, and the two together
# {glue:text}`abl_both_ratio:.1f`x: the savings multiply, because pruning leaves fewer weights and
# quantization makes each one cheaper. (These grid points skip codebook fine-tuning and the long
# retraining of section 4, so they sit below the full pipeline.)
#
# ## 7. Explore: sparsity and bits together
#
# Move both sliders: the bar shows the file's parts (weight codes, relative indices, codebooks,
# Huffman tables, biases, header), the right panel where the point sits among all grid points.
# Every frame is a lookup in the precomputed grid.

# %% tags=["nbval-ignore-output"]
sparsities = sorted({r["sparsity"] for r in grid})
bit_widths = sorted({r["bits"] for r in grid})


def frame(sparsity, bits):
    return figures.grid_frame(grid, bytes300, acc300, sparsity, bits)


print(f"{len(sparsities) * len(bit_widths)} frames; rendering one (once, when the cell runs): "
      f"{np.median(widgets.frame_timings_ms(frame, {'sparsity': sparsities, 'bits': bit_widths}, 4)):.0f} ms")
_ = widgets.explore(frame, title="Deep Compression of LeNet-300-100: sparsity x bits", dpi=60,
                    sparsity=sparsities, bits=bit_widths)
widgets.show_timing(_)

# %% [markdown]
# Things to notice: at sparsity 0 the relative indices vanish (the layer is stored dense), and the
# codes dominate; at high sparsity the index stream is as large as the codes; at 2 bits the
# accuracy suffers without fine-tuning, whatever the sparsity. And at float32 ("32 b") pruning
# alone pays for its indices: the index stream is a real slice of the bar.

# %% [markdown]
# ## 8. Knowledge distillation: a small network taught by a big one
#
# Everything so far shrinks a *trained* network. Knowledge distillation {cite:p}`hinton2015distilling`
# instead trains a small network — the *student* — to imitate a large one — the *teacher*. Besides
# the labels, the student sees the teacher's full output distribution, softened by a temperature
# $T$: $p_T = \mathrm{softmax}(t/T)$ for the teacher's logits $t$, $q_T = \mathrm{softmax}(s/T)$
# for the student's logits $s$. The loss mixes the two:
#
# $$L = \alpha \, T^2 \, \mathrm{KL}(p_T \,\|\, q_T) + (1-\alpha)\, \mathrm{CE}(s, y).$$
#
# A trained teacher is confident, so at $T = 1$ its probabilities for the wrong classes are tiny;
# at $T = 4$ they become visible — *which* wrong digits a 7 resembles is the "dark knowledge" the
# student learns from. The factor $T^2$ keeps the soft term's gradient (which shrinks as $1/T^2$)
# on the scale of the labels' term. The survey groups methods by how they shrink a network;
# distillation is the training recipe that goes with its compact models: design a small network
# (chapter 2), then teach it. A tiny example you can check by eye:

# %% tags=["nbval-check-output"]
t_logits = torch.tensor([[6.0, 2.0, 0.0]])        # a confident teacher: class 0, then class 1
for T in (1.0, 4.0):
    print(f"T = {T:g}: teacher's soft targets {[round(float(p), 3) for p in torch.softmax(t_logits / T, 1)[0]]}")
s_logits = torch.tensor([[2.0, 0.0, 0.0]])
print("distillation loss (T = 4, alpha = 0.9):",
      round(float(distill.distillation_loss(s_logits, t_logits, torch.tensor([0]), T=4.0, alpha=0.9)), 4))

# %% [markdown]
# {func}`companion.distill.distill` trains a student with chapter 1's training loop
# ({func}`companion.train.fit`), adding the soft term. The experiment: LeNet-5 (431 K parameters)
# teaches a LeNet-5 with 4 and 8 channels and 32 hidden units (5.4 K parameters, 80 times fewer).
# The *same* student is also trained alone, from the same initialisation, on the same data order,
# for the same 15 epochs — the only difference is the teacher. Three seeds (each its own teacher).

# %% tags=["nbval-ignore-output"]
kd = distill.compare_students("lenet5", seeds=(0, 1, 2))   # cached; the first run trains 3 teachers and 6 students

# %% tags=["check-within-noise"]
for i, seed in enumerate(kd["seeds"]):
    print(f"seed {seed}: teacher {kd['teacher'][i]:.1f} %, student distilled {kd['distilled'][i]:.1f} % "
          f"{ci(kd['distilled'][i])}, alone {kd['alone'][i]:.1f} % {ci(kd['alone'][i])}")
kd_gain = stats.seed_summary([d - a for d, a in zip(kd["distilled"], kd["alone"])])
print(f"gain of distillation: {kd_gain.mean:+.2f} pp, 95 % interval over seeds [{kd_gain.low:+.2f}, {kd_gain.high:+.2f}]")

# %% tags=["hide-input"]
kd_dist, kd_alone = stats.seed_summary(kd["distilled"]), stats.seed_summary(kd["alone"])
nb.glue("kd_student_params", kd["student_params"])
nb.glue("kd_teacher_params", kd["teacher_params"])
nb.glue("kd_distilled_acc", kd_dist.mean)
nb.glue("kd_alone_acc", kd_alone.mean)
nb.glue("kd_gain_pp", kd_gain.mean)
nb.glue("kd_gain_ci", f"[{kd_gain.low:+.2f}, {kd_gain.high:+.2f}]")
nb.glue("kd_verdict", "helps: the interval of the gain lies above zero" if kd_gain.low > 0
        else "hurts: the interval of the gain lies below zero" if kd_gain.high < 0
        else "is within the noise: the interval of the gain contains zero")

# %% [markdown]
# Over three seeds the distilled student reaches {glue:text}`kd_distilled_acc:.1f` % and the student
# trained alone {glue:text}`kd_alone_acc:.1f` %: a gain of {glue:text}`kd_gain_pp:+.2f` points whose
# 95 % interval over seeds is {glue:text}`kd_gain_ci` — distillation here
# {glue:text}`kd_verdict`. Three seeds and 1,000 test digits resolve about a point; Hinton et al.
# measured their MNIST gain (146 → 74 test errors of a small net taught at T = 20) on 10,000
# digits with the full 60,000 training digits. Where distillation pays is in the size column: the student is a
# {glue:text}`kd_student_params:,`-parameter network ({glue:text}`kd_teacher_params:,` for the teacher),
# about 21 KB of float32 weights, and it needs no decoder, no sparse kernel and no codebook.
#
# ## 9. Every method on one plot
#
# The same ruler for all: bytes of the written file (every overhead), hook-measured MACs
# (non-zero weights only), test accuracy after decoding with its 95 % interval. Chapter 3's SVD,
# chapter 4's uniform and k-means quantization, chapter 5's pruning, their combinations, and Deep
# Compression — each run as a recipe on LeNet-300-100 — and, beside them, two of chapter 2's compact
# CNNs and the distilled student, stored as float32 and with 8-bit weights. Ratios are against the
# float32 LeNet-300-100.
#
# **One training budget.** A method that retrains longer looks better for that reason alone, so
# every recipe that retrains gets the same {glue:text}`ch6_retrain_epochs` epochs in total, split
# between its steps (e.g. two pruning rounds of one epoch, then two epochs of codebook fine-tuning);
# the uniform quantizers are post-training (0 epochs). Deep Compression appears twice: with the same
# budget, and with the {glue:text}`ch6_dc_epochs` epochs of section 4. The compact CNNs and the
# students are trained from scratch (20 and 15 epochs): they are a different kind of method, and the
# table's last column says so.

# %% mystnb={"figure": {"caption": "Every method of the book on LeNet-300-100 measured with one ruler: test accuracy after decoding against the size of the written file (left) and against the MACs per image (right), with 95 % Wilson intervals as error bars; the black cross is the float32 baseline, stars mark Deep Compression, and the grey step line is the size-accuracy Pareto front.", "name": "fig-ch6-pareto"}, "image": {"alt": "Two scatter plots with log horizontal axes and a shared legend below, one coloured point with a vertical error bar per method: accuracy against file size in kilobytes, with a step line along the best points, and accuracy against MACs per image."}} tags=["nbval-ignore-output"]
pareto = joint.pareto_results("lenet300", include_deep_compression=False)
reports = {name: res.report for name, res in pareto.items()}
budget = {res.report.name: f"{joint.retrain_epochs(res.recipe)} retraining" for res in pareto.values()}
reports.update(joint.compact_results("lenet300"))       # chapter 2's compact CNNs, float32 and 8-bit
reports.update(joint.distillation_results("lenet300"))  # the student of section 8, with and without a teacher
reports["Deep Compression (ch. 6)"] = dc300.report
budget[dc300.report.name] = f"{joint.retrain_epochs(dc300.recipe)} retraining"
display(figures.pareto_figure(reports, n_test=N_TEST))  # bars: 95 % Wilson intervals

# %% tags=["hide-input"]
nb.glue("ch6_retrain_epochs", joint.RETRAIN_EPOCHS)
nb.glue("ch6_dc_epochs", joint.retrain_epochs(dc300.recipe))

# %% tags=["check-within-noise"]
table = metrics.compare(reports.values())[["size (KB)", "ratio", "MAC reduction", "accuracy (%)", "drop (pp)"]]
table["95 % interval"] = [ci(a) for a in table["accuracy (%)"]]
table["epochs"] = [budget.get(n, "from scratch") for n in table.index]
with pd.option_context("display.width", 160):
    print(table.round(2).to_string())

# %% tags=["hide-input"]
dc_equal = reports["Deep Compression, 4 epochs (ch. 6)"]
pq = reports["pruning 90 % + 4-bit k-means"]
nb.glue("ch6_pq_ratio", pq.compression_ratio)
nb.glue("ch6_pq_acc", pq.accuracy)
nb.glue("ch6_pq_acc_ci", ci(pq.accuracy))
nb.glue("ch6_dc4_ratio", dc_equal.compression_ratio)
nb.glue("ch6_dc4_acc", dc_equal.accuracy)
nb.glue("ch6_dc4_acc_ci", ci(dc_equal.accuracy))
same = stats.accuracy_interval(dc300.report.accuracy, N_TEST).contains(dc_equal.accuracy)
nb.glue("ch6_dc4_vs_full", "inside" if same else "outside")
nb.glue("ch6_dc4_lesson", "its accuracy in section 4 does not depend on the longer training" if same
        else "the accuracy of section 4 is bought with retraining epochs, which is why a comparison has to "
             "state its budget")

# %% [markdown]
# Three lessons. Quantization alone is capped at 32/b; pruning alone pays for its indices;
# combining them multiplies the ratios (pruning + 4-bit k-means: {glue:text}`ch6_pq_ratio:.0f`x), and
# the full pipeline, with entropy coding at the end, sits at the left edge of the size axis. At the
# same short budget the combinations pay in accuracy, though: pruning + k-means reaches
# {glue:text}`ch6_pq_acc:.1f` % ({glue:text}`ch6_pq_acc_ci`), and Deep Compression with
# {glue:text}`ch6_retrain_epochs` epochs reaches {glue:text}`ch6_dc4_ratio:.0f`x at
# {glue:text}`ch6_dc4_acc:.1f` % ({glue:text}`ch6_dc4_acc_ci`), {glue:text}`ch6_dc4_vs_full` the
# interval of its {glue:text}`ch6_dc_epochs`-epoch run: {glue:text}`ch6_dc4_lesson`. Read the accuracy column with its interval: on 1,000 test digits, methods
# whose intervals overlap are not ranked by this measurement; only differences of a few points are.
# On the MAC axis the order
# changes: weight sharing and Huffman coding remove no multiplications at all, pruning removes them
# only for an engine that skips zeros, and the low-rank SVD removes them for any dense engine.
# (MACs here count non-zero weights only, so a 4-bit uniform grid that rounds small weights to
# exactly zero also "saves" MACs — on a zero-skipping engine.) Storage and compute are different
# budgets. The compact CNNs and the distilled student make the same point from the other side:
# designed small, they are already small in bytes and combine well with quantization, but their
# convolutions cost *more* MACs than the fully connected LeNet-300-100. Their 8-bit files also
# expose an overhead of our format: the levels of a uniform grid are stored as a float32 codebook
# per layer, heavy for many small layers, where a real integer format would store one scale and
# zero point each.

# %% [markdown]
# ## 10. What it buys in practice
#
# The file is small, but a CPU cannot multiply Huffman-coded weights: the model must be decoded
# first, into dense float32 tensors. Decoding is a one-off cost at load time; the forward pass of
# the decoded model costs the same as the original's. The saving is in storage and transfer (an app
# download, a DRAM-to-SRAM budget, chapter 7's accelerators), not in CPU time.

# %% tags=["nbval-ignore-output"]
def median_ms(fn, repeats=15):
    return metrics.time_call_ms(fn, repeats=repeats, warmup=1, stat="median")  # the book's one timer


x = torch.randn(256, 1, 28, 28)
decoded = joint.read_model(dc5.data)
with torch.no_grad():
    t_decode = median_ms(lambda: joint.read_model(dc5.data), 5)
    t_base = median_ms(lambda: base5(x))
    t_dec = median_ms(lambda: decoded(x))
print(f"decode the LeNet-5 file: {t_decode:.0f} ms (once, at load time)")
print(f"forward pass, batch 256: baseline {t_base:.1f} ms, decoded compressed model {t_dec:.1f} ms")
nb.glue("decode_ms", t_decode, measured=True)

# %% [markdown]
# ## 11. Beside the literature

# %% tags=["hide-input"]
def recipe_text(model_name):
    r = joint.recipe_summary(model_name)
    def row(d):
        return ", ".join(f"{n} {100 * (1 - d['sparsity'][n]):.0f} % kept @ {d['bits'][n]} b" for n in d["sparsity"])
    return row(r["ours"]), row(r["paper"]), r["ours"]["baseline_error"], r["ours"]["epochs"]


for key in ("lenet300", "lenet5"):
    ours, paper, err, epochs = recipe_text(key)
    nb.glue(f"dc_{key}_recipe_ours", ours)
    nb.glue(f"dc_{key}_recipe_paper", paper)
    nb.glue(f"dc_{key}_base_error", err)
    nb.glue(f"dc_{key}_epochs", epochs)

# %% [markdown]
# | network | paper (Han et al. 2016) | this chapter | differences in setup |
# |---|---|---|---|
# | LeNet-300-100 | 1070 KB → 27 KB, **40x**; error 1.64 % → 1.58 %; stages 12x / 32x / 40x; recipe {glue:text}`dc_lenet300_recipe_paper` | {glue:text}`dc_lenet300_ratio:.1f`x, drop {glue:text}`dc_lenet300_acc_drop:.1f` pp (accuracy {glue:text}`dc_lenet300_acc:.1f` %, 95 % interval {glue:text}`dc_lenet300_acc_ci`); baseline error {glue:text}`dc_lenet300_base_error:.2f` %; recipe {glue:text}`dc_lenet300_recipe_ours`, {glue:text}`dc_lenet300_epochs` retraining epochs | 3,500 training images instead of 60,000, a 1,000-image test split (0.1 pp = one image); our stage-1 ratio counts index bytes |
# | LeNet-5 | 1720 KB → 44 KB, **39x**; error 0.80 % → 0.74 %; stages 12x / 33x / 39x; recipe {glue:text}`dc_lenet5_recipe_paper` | {glue:text}`dc_lenet5_ratio:.1f`x, drop {glue:text}`dc_lenet5_acc_drop:.1f` pp (accuracy {glue:text}`dc_lenet5_acc:.1f` %, {glue:text}`dc_lenet5_acc_ci`); baseline error {glue:text}`dc_lenet5_base_error:.2f` %; recipe {glue:text}`dc_lenet5_recipe_ours`, {glue:text}`dc_lenet5_epochs` retraining epochs | the same; ReLU after the convs; our file also stores biases, tables, header, checksum |
# | small MNIST net, distilled | 146 → 74 test errors (of 10,000) with a teacher at T = 20 {cite:p}`hinton2015distilling` | {glue:text}`kd_gain_pp:+.2f` pp over three seeds, 95 % interval {glue:text}`kd_gain_ci` | a 5.4 K-parameter LeNet-5 student, T = 4, α = 0.9, 15 epochs on 3,500 digits |
# | AlexNet / VGG-16 | 35x / 49x on ImageNet | — | not trainable on a CPU; chapter 1's layer tables show where their bytes are |
#
# The paper's numbers come from full MNIST and many more retraining epochs; ours from a
# 3,500-image subset and a few epochs per stage on a CPU. What carries over is the shape of the
# result: each stage multiplies the previous one, and the index stream is a real cost.

# %% [markdown]
# ## Exercises
#
# **1 (easy).** Symbols a–f occur 45, 13, 12, 16, 9 and 5 times. Build a Huffman code by hand:
# what is its average length in bits per symbol?

# %%
answer = None  # your code here
check("ch6.huffman_average", answer)

# %% tags=["hide-cell", "solution"]
counts = np.array([45, 13, 12, 16, 9, 5])
answer = float((huffman.code_lengths(counts) * counts).sum() / counts.sum())
check("ch6.huffman_average", answer)

# %% [markdown]
# **2 (medium).** A row of 128 weights has non-zeros at positions 2, 5, 30, 31 and 100 (0-based).
# Stored with 4-bit codes and 3-bit relative indices (filler zeros for longer runs), how many bits
# does the row take?

# %%
answer = None  # your code here
check("ch6.relative_index_bits", answer)

# %% tags=["hide-cell", "solution"]
r = torch.zeros(128)
r[[2, 5, 30, 31, 100]] = 1.0
v, g = sparsity.relative_index_encode(r, 3)
answer = v.numel() * (4 + 3)      # 16 entries: 5 weights + 11 fillers
check("ch6.relative_index_bits", answer)

# %% [markdown]
# **3 (medium).** In the LeNet-300-100 run of section 4, which stage saves the most bytes:
# `"prune"`, `"share"` or `"encode"`? (Start from the dense float32 size.)

# %%
answer = None  # your code here
check("ch6.biggest_saving", answer)

# %% tags=["hide-cell", "solution"]
sizes = [bytes300] + [s.size_bytes for s in dc300.stages]
saved = dict(zip(["prune", "share", "encode"], np.diff(sizes) * -1))
answer = max(saved, key=saved.get)
check("ch6.biggest_saving", answer)

# %% [markdown]
# **4 (hard).** Write `huffman_bits(counts)`: the number of bits of a stream with these symbol
# counts under an optimal prefix code — with `heapq`, not this chapter's module. (Hint: every
# merge of two subtrees adds their total count to the length.)

# %%
huffman_bits = None  # your code here: def huffman_bits(counts): ... (return an int)
check("ch6.huffman_bits", huffman_bits)

# %% tags=["hide-cell", "solution"]
import heapq


def huffman_bits(counts):
    heap = [int(c) for c in counts if c > 0]
    if len(heap) == 1:
        return heap[0]          # a lone symbol still needs one bit per occurrence
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        total += a + b          # every symbol under the new node gets one bit longer
        heapq.heappush(heap, a + b)
    return total


check("ch6.huffman_bits", huffman_bits)

# %% [markdown]
# **5 (medium).** Write `kd_loss(s, t, y, T, alpha)`: the distillation loss of section 8,
# $\alpha T^2 \mathrm{KL}(\mathrm{softmax}(t/T) \| \mathrm{softmax}(s/T)) + (1-\alpha)\mathrm{CE}(s, y)$,
# both terms averaged over the batch — without `companion.distill`. (`s`, `t`: [N, C] logits; `y`: [N] labels.)

# %%
kd_loss = None  # your code here: def kd_loss(s, t, y, T, alpha): ...
check("ch6.kd_loss", kd_loss)

# %% tags=["hide-cell", "solution"]
def kd_loss(s, t, y, T, alpha):
    log_q, log_p = torch.log_softmax(s / T, dim=1), torch.log_softmax(t / T, dim=1)
    kl = (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()      # KL(p || q), averaged over the batch
    return alpha * T * T * kl + (1 - alpha) * torch.nn.functional.cross_entropy(s, y)


check("ch6.kd_loss", kd_loss)

# %% [markdown]
# ## Summary
#
# * Deep Compression chains three savings that multiply: pruning (fewer weights), weight sharing
#   (fewer bits per weight) and Huffman coding (fewer bits per symbol) — here
#   {glue:text}`dc_lenet300_ratio:.1f`x for LeNet-300-100 and {glue:text}`dc_lenet5_ratio:.1f`x
#   for LeNet-5, measured as bytes of a real file that decodes to a working model.
# * A ratio is only honest with its overheads: relative indices, filler zeros, codebooks, code
#   tables, biases and headers are all in the file, and the index stream is nearly half of it.
# * A compressed format must fail loudly: length and checksum first, then every count checked.
# * Layers differ in sensitivity; a one-layer-at-a-time sweep and a simple rule give per-layer
#   settings, and retraining between stages recovers most of what each stage costs.
# * Knowledge distillation trains a small network against a big one's softened outputs; here the
#   gain of a 5.4 K-parameter student is {glue:text}`kd_gain_pp:+.2f` pp ({glue:text}`kd_gain_ci`
#   over seeds) — on 1,000 test digits, compare methods by their intervals, at one training budget.
# * Storage is not compute: the decoded model runs as fast as the original; fewer MACs need
#   structured methods (chapter 3) or zero-skipping hardware (chapter 7).
#
# ## Further reading
#
# Deep Compression {cite:p}`han2016deep` and its pruning stage {cite:p}`han2015learning`; Huffman's
# construction {cite:p}`huffman1952method`; the survey's joint-way discussion {cite:p}`deng2020model`;
# SqueezeNet + Deep Compression at 510x {cite:p}`iandola2016squeezenet`; knowledge distillation
# {cite:p}`hinton2015distilling`; why compression results
# must share one ruler {cite:p}`blalock2020state`.

# %% tags=["nbval-ignore-output"]
nb.glue("ch6_runtime_s", nb.runtime_s(), measured=True)
print(f"chapter run time: {nb.runtime_s():.0f} s")
