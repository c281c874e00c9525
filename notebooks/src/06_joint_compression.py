# %% [markdown]
# # 6. Joint-way compression and sensitivity: Deep Compression end to end
#
# Pruning removes weights, quantization shortens the ones that stay, and entropy coding squeezes
# the bits that remain. Each alone gives a modest factor; together they multiply. In this chapter
# you build **Deep Compression** {cite:p}`han2016deep` end to end — prune with retraining, share
# weights by k-means with codebook fine-tuning, Huffman-code the codes and the relative indices —
# and, unlike a size *estimate*, you write the compressed network to a real byte string, read it
# back into a working PyTorch model and measure both its length and its accuracy. Then you measure
# which layers tolerate what (sensitivity), describe a compression as a declarative *recipe*, and
# put every method of chapters 3–6 on one accuracy-vs-size plot.
#
# ```{admonition} In this chapter
# **Goals**: *implement* canonical Huffman coding and a compressed file format with a checksum;
# *run* the full Deep Compression pipeline on LeNet-300-100 and LeNet-5 and *measure* the bytes of
# the written file; *explain* which stage saves what; *derive* per-layer settings from a
# sensitivity analysis; *compare* every method and combination on one Pareto plot.
#
# **Prerequisites**: chapters 1 (metrics), 3 (decomposition), 4 (quantization: k-means weight
# sharing) and 5 (pruning, relative indices). **Survey**: after the survey's sections on joint-way
# compression and sensitivity analysis.
#
# **Run time**: {glue:text}`ch6_runtime_s:.0f` s on this machine's CPU with a warm cache (measured when the
# book was built; the first run retrains the pruned and shared models, several minutes).
# **GPU**: not needed.
# ```

# %%
# NBVAL_IGNORE_OUTPUT
import copy
import time

import numpy as np
import torch
from IPython.display import display

from companion import joint, metrics, nb, plotting, sparsity, train, widgets
from companion.exercises import check
from companion.joint import codec, figures, huffman

dev = nb.setup()
base300, base5 = train.baseline("lenet300"), train.baseline("lenet5")

# %%
# NBVAL_CHECK_OUTPUT
acc300, acc5 = train.evaluate(base300), train.evaluate(base5)
bytes300, bytes5 = joint.float32_bytes(base300), joint.float32_bytes(base5)
print(f"LeNet-300-100: {acc300:.1f} % test accuracy, {bytes300:,} bytes as float32")
print(f"LeNet-5:       {acc5:.1f} % test accuracy, {bytes5:,} bytes as float32")

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

# %%
# NBVAL_CHECK_OUTPUT
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

# %%
# NBVAL_CHECK_OUTPUT
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

# %%
# NBVAL_CHECK_OUTPUT
tiny = copy.deepcopy(base300)
sparsity.prune_(tiny, 0.9)
sparsity.bake_(tiny)
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

# %%
# NBVAL_CHECK_OUTPUT
print(joint.DEEP_COMPRESSION["lenet300"].to_yaml())

# %% [markdown]
# {func}`companion.joint.validate` checks the whole recipe *before anything runs* — method names,
# parameter names, types and ranges, every layer name against the network the earlier steps leave
# behind (after an SVD, `fc1` becomes `fc1.first` and `fc1.last`), and the order — so a typo never
# costs ten minutes of retraining:

# %%
# NBVAL_CHECK_OUTPUT
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

# %%
# NBVAL_IGNORE_OUTPUT
dc300 = joint.deep_compression("lenet300")
dc5 = joint.deep_compression("lenet5")

# %%
# NBVAL_CHECK_OUTPUT
ratio300, drop300 = bytes300 / len(dc300.data), round(acc300 - train.evaluate(dc300.model), 2)  # exact: 0.1 pp steps
ratio5, drop5 = bytes5 / len(dc5.data), round(acc5 - train.evaluate(dc5.model), 2)
print(f"LeNet-300-100: {bytes300:,} -> {len(dc300.data):,} bytes = {ratio300:.1f}x, "
      f"accuracy after decoding {acc300 - drop300:.1f} % (drop {drop300:.1f} pp)")
print(f"LeNet-5:       {bytes5:,} -> {len(dc5.data):,} bytes = {ratio5:.1f}x, "
      f"accuracy after decoding {acc5 - drop5:.1f} % (drop {drop5:.1f} pp)")

# %% tags=["hide-input"]
nb.glue("dc_lenet300_ratio", ratio300)
nb.glue("dc_lenet300_acc_drop", drop300)
nb.glue("dc_lenet5_ratio", ratio5)
nb.glue("dc_lenet5_acc_drop", drop5)
nb.glue("dc_lenet300_kb", len(dc300.data) / 1024)
nb.glue("dc_lenet5_kb", len(dc5.data) / 1024)

# %% [markdown]
# LeNet-300-100 shrinks {glue:text}`dc_lenet300_ratio:.1f` times, to
# {glue:text}`dc_lenet300_kb:.1f` KB, and loses {glue:text}`dc_lenet300_acc_drop:.1f` points after
# decoding; LeNet-5 shrinks {glue:text}`dc_lenet5_ratio:.1f` times, to {glue:text}`dc_lenet5_kb:.1f`
# KB, losing {glue:text}`dc_lenet5_acc_drop:.1f` points. These ratios are bytes of the written
# file — header, codebooks, Huffman tables, biases and checksum included — not a count of
# parameters. Stage by stage, beside the paper:

# %%
# NBVAL_CHECK_OUTPUT
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

# %%
# NBVAL_IGNORE_OUTPUT
fig, ax = plotting.new_figure(1, 1, 8, 3.2)
figures.parts_bar(ax, ["LeNet-300-100", "LeNet-5"], [joint.size_breakdown(dc300.data), joint.size_breakdown(dc5.data)])
ax.set_title("Anatomy of the compressed files")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=7, ncol=3)
display(fig)

# %%
# NBVAL_CHECK_OUTPUT
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
# per-layer sparsities {cite:p}`han2015learning`, and why Deep Compression gives conv layers 8 bits
# and FC layers 5.

# %%
# NBVAL_IGNORE_OUTPUT
sens5 = joint.cached_sensitivity("lenet5")
display(figures.sensitivity_figure(sens5))

# %%
# NBVAL_CHECK_OUTPUT
rule = joint.settings_from_sensitivity(sens5, max_drop=0.5)
for layer, s in rule.items():
    print(f"{layer:6s} sparsity {s['sparsity']:.2f}  bits {s['bits']}")

# %% [markdown]
# The rule takes, per layer, the highest sparsity and the fewest bits whose one-layer drop stays
# within half a point. Pruning separates the layers clearly: `fc1`, which holds almost all of the
# weights, tolerates the most — lucky, because that is where the bytes are — while the small
# `conv1` and `fc2` collapse first. Bits separate them much less on this small network: k-means
# with a handful of shared values costs a single layer almost nothing, and `conv1` is the first to
# suffer — the direction of the paper's AlexNet finding (conv layers need more bits than FC layers),
# in miniature. The rule's output is a starting point, not a recipe: the one-layer drops add up
# when every layer is compressed at once, and retraining recovers part of them. That is why the
# recipe above keeps the paper's conservative 8 bits (conv) and 5 bits (FC), and yet, with
# retraining, prunes `conv2` further than the one-layer probe alone would dare.

# %% [markdown]
# ## 6. The ablation: pruning alone, quantization alone, both
#
# Deep Compression's Fig. 6 asks whether the two stages help each other. We sweep the sparsity
# (one-shot pruning of every layer + two epochs of retraining) and the bit width (k-means, no
# fine-tuning) of LeNet-300-100, write each model to a file and measure it.

# %%
# NBVAL_IGNORE_OUTPUT
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

# %%
# NBVAL_CHECK_OUTPUT
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

# %%
# NBVAL_IGNORE_OUTPUT
sparsities = sorted({r["sparsity"] for r in grid})
bit_widths = sorted({r["bits"] for r in grid})


def frame(sparsity, bits):
    return figures.grid_frame(grid, bytes300, acc300, sparsity, bits)


print(f"{len(sparsities) * len(bit_widths)} frames; rendering one (once, when the cell runs): "
      f"{np.median(widgets.frame_timings_ms(frame, {'sparsity': sparsities, 'bits': bit_widths}, 4)):.0f} ms")
_ = widgets.explore(frame, title="Deep Compression of LeNet-300-100: sparsity x bits", dpi=60,
                    sparsity=sparsities, bits=bit_widths)
print(widgets.timing_summary(_))

# %% [markdown]
# Things to notice: at sparsity 0 the relative indices vanish (the layer is stored dense), and the
# codes dominate; at high sparsity the index stream is as large as the codes; at 2 bits the
# accuracy suffers without fine-tuning, whatever the sparsity. And at float32 ("32 b") pruning
# alone pays for its indices: the index stream is a real slice of the bar.

# %% [markdown]
# ## 8. Every method on one plot
#
# The same ruler for all: bytes of the written file (every overhead), hook-measured MACs
# (non-zero weights only), test accuracy after decoding. Chapter 3's SVD, chapter 4's uniform and
# k-means quantization, chapter 5's pruning, their combinations, and Deep Compression — each run as
# a recipe on LeNet-300-100 — and, beside them, two of chapter 2's compact CNNs, stored as float32
# and with 8-bit weights. Ratios are against the float32 LeNet-300-100.

# %%
# NBVAL_IGNORE_OUTPUT
pareto = joint.pareto_results("lenet300", include_deep_compression=False)
reports = {name: res.report for name, res in pareto.items()}
reports.update(joint.compact_results("lenet300"))       # chapter 2's compact CNNs, float32 and 8-bit
reports["Deep Compression (ch. 6)"] = dc300.report
display(figures.pareto_figure(reports))

# %%
# NBVAL_CHECK_OUTPUT
print(metrics.compare(reports.values())[["size (KB)", "ratio", "MAC reduction", "accuracy (%)", "drop (pp)"]]
      .round(2).to_string())

# %% [markdown]
# Three lessons. Quantization alone is capped at 32/b; pruning alone pays for its indices; the
# combinations dominate their parts — and the full pipeline, with retraining between stages and
# entropy coding at the end, sits at the left edge of the size axis. On the MAC axis the order
# changes: weight sharing and Huffman coding remove no multiplications at all, pruning removes them
# only for an engine that skips zeros, and the low-rank SVD removes them for any dense engine.
# (MACs here count non-zero weights only, so a 4-bit uniform grid that rounds small weights to
# exactly zero also "saves" MACs — on a zero-skipping engine.) Storage and compute are different
# budgets. The compact CNNs make the same point from the other side: designed small, they are
# already small in bytes and combine well with quantization, but their convolutions cost *more*
# MACs than the fully connected LeNet-300-100. Their 8-bit files also expose an overhead of our
# format: the levels of a uniform grid are stored as a float32 codebook per layer, heavy for many
# small layers, where a real integer format would store one scale and zero point each.

# %% [markdown]
# ## 9. What it buys in practice
#
# The file is small, but a CPU cannot multiply Huffman-coded weights: the model must be decoded
# first, into dense float32 tensors. Decoding is a one-off cost at load time; the forward pass of
# the decoded model costs the same as the original's. The saving is in storage and transfer (an app
# download, a DRAM-to-SRAM budget, chapter 7's accelerators), not in CPU time.

# %%
# NBVAL_IGNORE_OUTPUT
def median_ms(fn, repeats=15):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return float(np.median(times))


x = torch.randn(256, 1, 28, 28)
decoded = joint.read_model(dc5.data)
with torch.no_grad():
    t_decode = median_ms(lambda: joint.read_model(dc5.data), 5)
    t_base = median_ms(lambda: base5(x))
    t_dec = median_ms(lambda: decoded(x))
print(f"decode the LeNet-5 file: {t_decode:.0f} ms (once, at load time)")
print(f"forward pass, batch 256: baseline {t_base:.1f} ms, decoded compressed model {t_dec:.1f} ms")
nb.glue("decode_ms", t_decode)

# %% [markdown]
# ## 10. Beside the literature
#
# | network | paper (Han et al. 2016) | this chapter | differences in setup |
# |---|---|---|---|
# | LeNet-300-100 | 1070 KB → 27 KB, **40x**; error 1.64 % → 1.58 %; stages 12x / 32x / 40x | {glue:text}`dc_lenet300_ratio:.1f`x, drop {glue:text}`dc_lenet300_acc_drop:.1f` pp | 3,500 training images instead of 60,000, a 1,000-image test split (0.1 pp = one image); our stage-1 ratio counts index bytes |
# | LeNet-5 | 1720 KB → 44 KB, **39x**; error 0.80 % → 0.74 %; stages 12x / 33x / 39x | {glue:text}`dc_lenet5_ratio:.1f`x, drop {glue:text}`dc_lenet5_acc_drop:.1f` pp | the same; ReLU after the convs; our file also stores biases, tables, header, checksum |
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
def huffman_bits(counts):
    return None  # your code here


check("ch6.huffman_bits", None)

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
# * Storage is not compute: the decoded model runs as fast as the original; fewer MACs need
#   structured methods (chapter 3) or zero-skipping hardware (chapter 7).
#
# ## Further reading
#
# Deep Compression {cite:p}`han2016deep` and its pruning stage {cite:p}`han2015learning`; Huffman's
# construction {cite:p}`huffman1952method`; the survey's joint-way discussion {cite:p}`deng2020model`;
# SqueezeNet + Deep Compression at 510x {cite:p}`iandola2016squeezenet`; why compression results
# must share one ruler {cite:p}`blalock2020state`.

# %%
# NBVAL_IGNORE_OUTPUT
nb.glue("ch6_runtime_s", nb.runtime_s())
print(f"chapter run time: {nb.runtime_s():.0f} s")
