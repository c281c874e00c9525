# %% [markdown]
# # 4. Data quantization: from 32 bits to 1
#
# A trained network stores every weight as a 32-bit float and computes every activation in
# float too. Most of those bits are noise. In this chapter you will *build* the quantizers the
# survey catalogues — uniform (affine and symmetric, per tensor, per channel, per group),
# stochastic rounding, power-of-two and k-means (weight sharing) — and *run* the three ways of
# using them: **post-training quantization** with calibration, **quantization-aware training**
# with a straight-through estimator you can read, and **binary/ternary networks** trained from
# a sign. You will see where accuracy breaks as the bitwidth drops (weights, activations *and*
# gradients), give each layer its own bitwidth, and measure what PyTorch's int8 path really
# buys on a CPU.
#
# ```{admonition} In this chapter
# **Goals**: *compute* scale and zero point of a uniform quantizer by hand; *implement* the
# straight-through estimator; *quantize* LeNet-5 and LeNet-300-100 to 8, 4, 2 and 1 bit after
# and during training; *compare* uniform, logarithmic and k-means grids and per-tensor vs
# per-channel scales at equal model size; *measure* int8 speed on a CPU.
#
# **Prerequisites**: chapter 1 (the shared ruler: size with overheads, accuracy drop).
# **Survey**: after the survey's section on data quantization {cite:p}`deng2020model`.
#
# **Run time**: {glue:text}`ch4_runtime_s:.0f` s on the CPU that built this page, with the
# trained models in the cache (the first run trains about 40 small models: {{ cold_each_04_s }} s
# on {{ cold_each_cores }} cores from an empty cache, with progress bars). **GPU**: not needed.
# ```

# %% tags=["nbval-ignore-output"]
import inspect
import warnings

import numpy as np
import pandas as pd
import torch
from IPython.display import display
from matplotlib.ticker import NullFormatter, ScalarFormatter

from companion import claims, data, metrics, nb, plotting, stats, train, widgets
from companion import quantization as Q
from companion.exercises import check

warnings.filterwarnings("ignore", category=UserWarning)  # torch.ao deprecation notices
dev = nb.setup()
base = {name: train.baseline(name) for name in ("lenet5", "lenet300")}
base_acc = {name: train.evaluate(m) for name, m in base.items()}
N_TEST = len(data.load_mnist("test")[1])  # 1,000 images: one image is 0.1 point


def glue_ci(name, accuracy):
    """Glue ``<name>_ci_low`` / ``<name>_ci_high``: the 95 % Wilson interval of a test accuracy (%)."""
    ci = stats.accuracy_interval(accuracy, N_TEST)
    nb.glue(f"{name}_ci_low", ci.low)
    nb.glue(f"{name}_ci_high", ci.high)
    return ci

# %% tags=["check-within-noise"]
for name, acc in base_acc.items():
    print(f"{name:9s} float32 baseline: {acc:.1f} % test accuracy, "
          f"{metrics.model_size_bits(base[name]) / 8 / 1024:.0f} KB")

# %% tags=["nbval-ignore-output"]
# What this chapter trains (cached). From an empty cache the missing networks train side by side,
# one per CPU core (`Q.prefetch_quantized`); the cells below then load them.
SEEDS = (0, 1, 2)                 # the seed test of QAT against PTQ
BITS_AXIS = list(range(1, 9))     # the weight-bit sweep
GRAD_BITS = [32, 8, 4, 3, 2]      # the error-bit sweep (WAGE)
# (longest first, so that the cores finish together: LeNet-5 from scratch, then the 6-epoch binary ones)
Q.prefetch_quantized([dict(model_name="lenet5", **Q.grad_sweep_recipe(g)) for g in GRAD_BITS]
                     + [dict(model_name=n, **r) for n in base for r in Q.RECIPES.values()]
                     + [dict(model_name="lenet5", **Q.qat_sweep_recipe(b)) for b in BITS_AXIS]
                     + [dict(model_name=n, seed=s, **Q.RECIPES["qat4"]) for n in base for s in SEEDS])

# %% [markdown]
# ## The principle: a grid, a scale and a zero point
#
# A **uniform** $b$-bit quantizer maps a real value $x$ to an integer code $q$ on a grid of
# step $s$ (the *scale*) whose code $z$ (the *zero point*) stands for the real 0:
#
# $$ q = \operatorname{clamp}\!\Big(\big\lfloor x/s \big\rceil + z,\; q_\min,\; q_\max\Big), \qquad
#    \hat x = (q - z)\, s . $$
#
# Calibrating on a range $[\ell, h]$ (widened to contain 0, so that zero padding, ReLU zeros
# and pruned weights stay exact): the **affine** scheme uses unsigned codes
# $[0, 2^b-1]$, $s = (h-\ell)/(2^b-1)$, $z = -\lfloor \ell/s \rceil$; the **symmetric** scheme
# uses signed codes $[-(2^{b-1}-1),\, 2^{b-1}-1]$, $s = \max(|\ell|, |h|)/(2^{b-1}-1)$, $z = 0$ —
# one code is wasted, but a multiplication needs no zero-point correction
# {cite:p}`jacob2018quantization,krishnamoorthi2018quantizing`. Inside the range the error is at
# most $s/2$; outside it the value is *clipped*. Check by hand on five numbers at 3 bits:

# %% tags=["nbval-check-output"]
x = torch.tensor([-1.0, -0.3, 0.0, 0.4, 2.0])
for scheme in Q.SCHEMES:
    qp = Q.choose_qparams(x, 3, scheme=scheme)
    codes = Q.quantize(x, qp)
    x_hat = Q.dequantize(codes, qp)
    print(f"{scheme:9s} codes in [{qp.qmin}, {qp.qmax}], scale {float(qp.scale):.4f}, zero point {int(qp.zero_point)}")
    print(f"          codes {codes.tolist()}  ->  {[round(v, 3) for v in x_hat.tolist()]}"
          f"  max error {float((x_hat - x).abs().max()):.3f} <= scale/2 = {float(qp.scale) / 2:.3f}")

# %% [markdown]
# **Granularity.** One scale for a whole tensor is coarse when rows (output channels) have very
# different ranges. Following torchao, one argument covers every case: `block_size` says how
# many consecutive elements along each dimension share a scale — the whole shape (per tensor),
# `(1, n)` (per output channel), `(1, g)` (per group of $g$ inputs).

# %% tags=["nbval-check-output"]
w = torch.tensor([[0.10, -0.05, 0.02, 0.08],
                  [2.00, -1.50, 0.70, 1.10]])
for label, block in [("per tensor", None), ("per channel", Q.per_channel(w.shape)), ("per group of 2", Q.per_group(w.shape, 2))]:
    w_hat = Q.fake_quantize(w, 4, scheme="symmetric", block_size=block)
    scales = Q.choose_qparams(w, 4, scheme="symmetric", block_size=block).scale.flatten()
    print(f"{label:15s} scales {[round(v, 4) for v in scales.tolist()]}  error on row 0: "
          f"{float((w_hat - w)[0].abs().max()):.4f}, row 1: {float((w_hat - w)[1].abs().max()):.4f}")

# %% [markdown]
# The small first row is flattened to zero by the per-tensor scale; a scale per row keeps it.
# The cost is one 32-bit scale per block — the tables below count it.
#
# **Stochastic rounding** {cite:p}`gupta2015deep` rounds $v$ up with probability
# $v - \lfloor v \rfloor$. Each result is off by up to one step, but the *expected* value is
# exact — which is what lets tiny gradient updates survive a coarse grid (section on gradients
# below):

# %% tags=["nbval-check-output"]
grid = Q.qparams_from_range(-4.0, 4.0, 4, scheme="symmetric")        # step 4/7 ≈ 0.571
v = torch.full((100_000,), 0.3)
nearest = Q.fake_quantize(v, qparams=grid)
stochastic = Q.fake_quantize(v, qparams=grid, rounding="stochastic", generator=torch.Generator().manual_seed(0))
print(f"0.3 on a grid of step {float(grid.scale):.3f}: nearest -> mean {float(nearest.mean()):.3f}; "
      f"stochastic -> mean {float(stochastic.mean()):.3f} (values {sorted(set(round(t, 3) for t in stochastic.unique().tolist()))})")

# %% [markdown]
# Our quantizer equals PyTorch's own `torch.fake_quantize_per_tensor_affine` and
# `..._per_channel_affine` bit for bit (the tests check it on random tensors); it just lives
# in three readable functions instead of a native kernel.

# %% tags=["nbval-check-output"]
w_fc1 = base["lenet5"].fc1.weight.detach()
qp = Q.choose_qparams(w_fc1, 4, scheme="affine", block_size=Q.per_channel(w_fc1.shape))
ours = Q.fake_quantize(w_fc1, qparams=qp)
theirs = torch.fake_quantize_per_channel_affine(w_fc1, qp.scale.flatten(), qp.zero_point.flatten().int(), 0, qp.qmin, qp.qmax)
print("identical to torch.fake_quantize_per_channel_affine:", torch.equal(ours, theirs))

# %% [markdown]
# ## Post-training quantization of a real network
#
# **Post-training quantization (PTQ)** needs no training: quantize the weights (their range is
# known), and *calibrate* the activation ranges on a few images — here the 500 validation images,
# never the test set. Each layer's input goes through an 8-bit quantizer inserted by a forward
# pre-hook (`Q.attach_activation_quant_`); weights are 8-bit, symmetric, per output channel.

# %% tags=["check-within-noise"]
base_layers = {name: metrics.measure_layers(m) for name, m in base.items()}


def q_report(label, name, accuracy, bits, **size_kw):
    """The shared CompressionReport of a quantized model (same MACs as its baseline, fewer bits)."""
    macs = sum(l.macs for l in base_layers[name])
    return metrics.CompressionReport(
        name=f"{name} {label}", size_bits=Q.quantized_size_bits(base[name], bits, layers=base_layers[name], **size_kw),
        baseline_size_bits=metrics.model_size_bits(base[name]), macs=macs, baseline_macs=macs,
        accuracy=accuracy, baseline_accuracy=base_acc[name])


def ptq_report(name, w_bits, a_bits, **kw):
    q = Q.ptq(base[name], w_bits, a_bits, **kw)
    return q_report(f"PTQ W{w_bits}A{a_bits}", name, train.evaluate(q), w_bits)

ptq8 = {name: ptq_report(name, 8, 8) for name in base}
for r in ptq8.values():
    print(r)

# %% tags=["hide-input"]
nb.glue("ptq8_lenet5_acc_drop", round(ptq8["lenet5"].acc_drop, 2))
nb.glue("ptq8_lenet300_acc_drop", round(ptq8["lenet300"].acc_drop, 2))
nb.glue("ptq8_lenet5_ratio", ptq8["lenet5"].compression_ratio)
nb.glue("ptq8_lenet5_acc", ptq8["lenet5"].accuracy)
glue_ci("ptq8_lenet5_acc", ptq8["lenet5"].accuracy)

# %% [markdown]
# Eight bits cost LeNet-5 {glue:text}`ptq8_lenet5_acc_drop:.1f` points and LeNet-300-100
# {glue:text}`ptq8_lenet300_acc_drop:.1f` (positive = loss; LeNet-5 at 8 bits:
# {glue:text}`ptq8_lenet5_acc:.1f` %, 95 % interval
# {glue:text}`ptq8_lenet5_acc_ci_low:.1f`–{glue:text}`ptq8_lenet5_acc_ci_high:.1f` %) for a model
# {glue:text}`ptq8_lenet5_ratio:.2f`× smaller (not quite 4×: every output channel stores its
# 32-bit scale, and the biases stay 32-bit, as integer kernels keep them).
#
# **Calibration matters when bits are few.** Min/max keeps every activation in range but
# stretches the grid over rare outliers; a percentile or an MSE-optimal clip
# {cite:p}`banner2019post` sacrifices the outliers for finer steps. At 3-bit activations:

# %% tags=["check-within-noise"]
def calibration_table():
    rows = []
    for name in base:
        for method in ("minmax", "percentile", "mse"):
            rows.append({"model": name, "calibration": method,
                         **{f"W8A{a} (%)": train.evaluate(Q.ptq(base[name], 8, a, calibration=method, percentile=99.9))
                            for a in (4, 3, 2)}})
    return rows

BASE_KEYS = [train.key_of(m) for m in base.values()]  # cached results derived from the baselines name them as parents
calib = pd.DataFrame(train.cached_result({"ch4": "calibration"}, calibration_table, name="ch4-calibration",
                                         parents=BASE_KEYS, code=(calibration_table, Q.ptq)))
print(calib.set_index(["model", "calibration"]).round(1).to_string())

# %% [markdown]
# ## Quantization-aware training and the straight-through estimator
#
# Below 4 bits, PTQ loses accuracy the network could win back if it *trained* with the
# quantizer in the loop. Rounding has zero derivative almost everywhere, so back-propagation
# would stop. The **straight-through estimator** (STE) {cite:p}`bengio2013estimating` pretends
# the rounding is the identity inside the clip range and zero outside. Here it is, complete —
# PyTorch's own `FakeQuantize` does the same inside a native kernel:

# %% tags=["nbval-check-output"]
print(inspect.getsource(Q.FakeQuantSTE))

# %% [markdown]
# QAT keeps float "latent" weights; the forward pass sees them on their $b$-bit grid
# (a `torch.nn.utils.parametrize` parametrization, `Q.FakeQuantWeight`), the backward pass
# updates the latent weights through the STE. Activations get a learned clip $\alpha$
# (PACT, {cite:p}`choi2018pact`): $y = Q(\min(x, \alpha))$. We fine-tune each baseline for two
# epochs with 4-bit weights *and* 4-bit activations:

# %% tags=["check-within-noise"]
def trained_acc(name, **recipe):
    """Test accuracy of a cached quantized training (the model is cached by the recipe)."""
    return train.evaluate(Q.train_quantized(name, **recipe))


def trained_report(name, recipe, label, bits, **size_kw):
    return q_report(label, name, trained_acc(name, **Q.RECIPES[recipe]), bits, **size_kw)

qat4 = {name: trained_report(name, "qat4", "QAT W4A4", 4) for name in base}
ptq4 = {name: ptq_report(name, 4, 4) for name in base}
for name in base:
    print(ptq4[name]); print(qat4[name])

# %% tags=["hide-input"]
nb.glue("qat4_lenet5_acc_drop", round(qat4["lenet5"].acc_drop, 2))
nb.glue("qat4_lenet300_acc_drop", round(qat4["lenet300"].acc_drop, 2))
nb.glue("ptq4_lenet5_acc_drop", round(ptq4["lenet5"].acc_drop, 2))
nb.glue("qat4_lenet5_ratio", qat4["lenet5"].compression_ratio)
glue_ci("qat4_lenet5_acc", qat4["lenet5"].accuracy)
glue_ci("ptq4_lenet5_acc", ptq4["lenet5"].accuracy)
nb.glue("qat4_lenet5_acc", qat4["lenet5"].accuracy)
nb.glue("ptq4_lenet5_acc", ptq4["lenet5"].accuracy)

# %% [markdown]
# **QAT or PTQ at 4 bits: which is better?** On LeNet-5 they reach {glue:text}`qat4_lenet5_acc:.1f` %
# and {glue:text}`ptq4_lenet5_acc:.1f` %, and one accuracy on 1,000 images is known only to about
# ±1 point (95 %). A ranking needs a test.
# We repeat both for three seeds — each seed trains its own float baseline, which PTQ
# calibrates and QAT fine-tunes (cached) — and apply Welch's t-test to the per-seed accuracies
# (`stats.welch_t_test`); for seed 0 alone, McNemar's exact test on the images where the two
# models disagree (`stats.mcnemar_exact`).

# %% tags=["check-within-noise"]
def ptq_qat_seed(name, seed):
    b = train.baseline(name, seed=seed)
    return train.evaluate(Q.ptq(b, 4, 4)), trained_acc(name, seed=seed, **Q.RECIPES["qat4"])

qat_vs_ptq = {}
for name in base:
    ptq_s, qat_s = zip(*(ptq_qat_seed(name, s) for s in SEEDS))
    welch = stats.welch_t_test(qat_s, ptq_s)
    paired = stats.mcnemar_exact(stats.per_image_correct(Q.train_quantized(name, **Q.RECIPES["qat4"])),
                                 stats.per_image_correct(Q.ptq(base[name], 4, 4)))
    qat_vs_ptq[name] = (stats.seed_summary(qat_s), stats.seed_summary(ptq_s), welch, paired)
    print(f"{name:9s} W4A4 over seeds {SEEDS}: QAT {stats.seed_summary(qat_s)}; PTQ {stats.seed_summary(ptq_s)}")
    print(f"          Welch p = {welch.p_value:.3f}; seed 0 McNemar: {paired.only_a} images only QAT gets right, "
          f"{paired.only_b} only PTQ, p = {paired.p_value:.3f}")

# %% tags=["hide-input"]
for name, (q, p_, welch, paired) in qat_vs_ptq.items():
    nb.glue(f"qat4_{name}_seed_mean", q.mean)
    nb.glue(f"ptq4_{name}_seed_mean", p_.mean)
    nb.glue(f"qat_vs_ptq4_{name}_p", welch.p_value)
    nb.glue(f"qat_vs_ptq4_{name}_mcnemar_p", paired.p_value)
    nb.glue(f"qat_vs_ptq4_{name}_verdict", "a significant" if welch.significant(0.05) else "no significant")

# %% [markdown]
# With QAT, 4-bit weights and activations cost LeNet-5 {glue:text}`qat4_lenet5_acc_drop:.1f`
# points and LeNet-300-100 {glue:text}`qat4_lenet300_acc_drop:.1f` for a
# {glue:text}`qat4_lenet5_ratio:.1f`× smaller model (LeNet-5 at
# {glue:text}`qat4_lenet5_acc:.1f` %, 95 % interval
# {glue:text}`qat4_lenet5_acc_ci_low:.1f`–{glue:text}`qat4_lenet5_acc_ci_high:.1f` %). On MNIST even
# PTQ at 4 bits holds up (LeNet-5 drop {glue:text}`ptq4_lenet5_acc_drop:.1f` points, 95 % interval
# {glue:text}`ptq4_lenet5_acc_ci_low:.1f`–{glue:text}`ptq4_lenet5_acc_ci_high:.1f` %). Over three seeds
# the test finds {glue:text}`qat_vs_ptq4_lenet5_verdict` difference between QAT and PTQ at W4A4
# on LeNet-5 (mean {glue:text}`qat4_lenet5_seed_mean:.2f` % vs {glue:text}`ptq4_lenet5_seed_mean:.2f` %,
# Welch p = {glue:text}`qat_vs_ptq4_lenet5_p:.2f`) and {glue:text}`qat_vs_ptq4_lenet300_verdict`
# difference on LeNet-300-100 ({glue:text}`qat4_lenet300_seed_mean:.2f` % vs
# {glue:text}`ptq4_lenet300_seed_mean:.2f` %, p = {glue:text}`qat_vs_ptq4_lenet300_p:.2f`). With three
# seeds only large, consistent gaps reach significance. Where QAT earns its keep is at fewer bits:
# in the sweep below, its accuracy lies above post-training quantization's (both per channel,
# 95 % intervals apart) at {glue:text}`sweep_qat_wins_bits`.
#
# ## Binary and ternary networks
#
# At 1 bit a weight is its sign. **BinaryConnect** {cite:p}`courbariaux2015binaryconnect`
# trains with $\operatorname{sign}(w)$ in the forward pass and clips the latent weights to
# $[-1, 1]$; **XNOR-Net** {cite:p}`rastegari2016xnor` multiplies by the L2-optimal scale
# $\alpha = \operatorname{mean}|w|$ per output channel; **BNN** {cite:p}`hubara2016binarized`
# binarizes the activations as well. **TWN** {cite:p}`li2016ternary` keeps a zero:
# $t = \alpha\,\operatorname{sign}(w)$ where $|w| > \Delta = 0.7\operatorname{mean}|w|$, else 0;
# **TTQ** {cite:p}`zhu2017trained` learns separate positive and negative scales. The sign's
# STE (`Q.SignSTE`) passes the gradient where $|w| \le 1$.

# %% tags=["nbval-check-output"]
w = torch.tensor([0.9, -0.05, 0.3, -0.6, 0.02, 1.4])
print("w                 ", w.tolist())
print("BinaryConnect sign", Q.binarize(w).tolist())
print("XNOR  α·sign      ", [round(v, 3) for v in Q.binarize(w, scale="xnor").tolist()])
print("TWN   α·{-1,0,1}  ", [round(v, 3) for v in Q.ternarize(w).tolist()],
      f"(Δ = 0.7·mean|w| = {0.7 * float(w.abs().mean()):.3f})")

# %% [markdown]
# Our LeNets have ReLUs and no batch normalisation, so a ±1 activation would be constant
# (+1) after a ReLU. Our binary activations are therefore $\{0, \alpha\}$ with a learned
# clip $\alpha$ (PACT's learned clipping {cite:p}`choi2018pact` at 1 bit; DoReFa-Net
# {cite:p}`zhou2016dorefa` instead clips activations to a fixed $[0, 1]$); the image itself stays
# float, as in BNN. So our two W1A1 networks are *BNN-style* (sign weights) and *XNOR-style*
# (sign · mean|w| weights), each with $\{0, \alpha\}$ activations: not the papers' networks, which
# binarize activations to ±1 (and XNOR-Net also binarizes each layer's input with its scaling
# factors $K$); the tables name them for what they are. Binary weights train from the float
# baseline for 6 epochs; ternary ones fine-tune for 3.

# %% tags=["check-within-noise"]
low_bit = [("binaryconnect", "BinaryConnect (W1)", 1, "binary"), ("xnor_weights", "XNOR weights (W1, α)", 1, "xnor"),
           ("bnn", "BNN-style (W1A1, {0,α} act.)", 1, "binary"),
           ("xnor_net", "XNOR-style (W1A1, α, {0,α} act.)", 1, "xnor"),
           ("twn", "TWN (W2 ternary)", 2, "ternary"), ("ttq", "TTQ (W2 ternary, learned)", 2, "ternary")]
reports = {}
for name in base:
    for recipe, label, bits, storage in low_bit:
        # size: 1 bit per weight (+ one 32-bit α per channel for XNOR); ternary: 2 bits + its scales
        reports[name, recipe] = trained_report(name, recipe, label, bits, method=storage)
table = metrics.compare([reports[k] for k in reports])
print(table[["size (KB)", "ratio", "accuracy (%)", "drop (pp)"]].round(2).to_string())

# %% tags=["hide-input"]
nb.glue("twn_lenet5_acc_drop", round(reports["lenet5", "twn"].acc_drop, 2))
nb.glue("twn_lenet300_acc_drop", round(reports["lenet300", "twn"].acc_drop, 2))
nb.glue("bnn_lenet5_acc", reports["lenet5", "bnn"].accuracy)
nb.glue("bnn_lenet300_acc", reports["lenet300", "bnn"].accuracy)
nb.glue("bc_lenet5_acc", reports["lenet5", "binaryconnect"].accuracy)
nb.glue("xnor_lenet5_acc", reports["lenet5", "xnor_net"].accuracy)
nb.glue("twn_lenet5_ratio", reports["lenet5", "twn"].compression_ratio)
for key in ("bnn", "binaryconnect", "xnor_net", "xnor_weights", "twn"):
    glue_ci(f"{'bc' if key == 'binaryconnect' else key}_lenet5_acc", reports["lenet5", key].accuracy)
nb.glue("xnorw_lenet5_acc", reports["lenet5", "xnor_weights"].accuracy)
nb.glue("twn_lenet5_acc", reports["lenet5", "twn"].accuracy)

# %% [markdown]
# One row looks wrong: on LeNet-5 the *fully* binary networks (W1A1) score higher than their
# weight-only twins (W1A32). Is that real? Both are evaluated on the same 1,000 images, so the
# right test is McNemar's exact test on the images where exactly one of the two is right:

# %% tags=["check-within-noise"]
w1_pairs = {}
for a1, a32 in (("bnn", "binaryconnect"), ("xnor_net", "xnor_weights")):
    for name in base:
        ca = stats.per_image_correct(Q.train_quantized(name, **Q.RECIPES[a1]))
        cb = stats.per_image_correct(Q.train_quantized(name, **Q.RECIPES[a32]))
        r, diff = stats.mcnemar_exact(ca, cb), stats.paired_bootstrap(ca, cb, n_resamples=2000)
        w1_pairs[name, a1] = (r, diff)
        print(f"{name:9s} {a1:9s} (W1A1) - {a32:13s} (W1A32): {diff.estimate:+.1f} points, 95 % paired "
              f"interval [{diff.low:+.1f}, {diff.high:+.1f}]; only W1A1 right on {r.only_a}, only W1A32 on "
              f"{r.only_b} images, McNemar p = {r.p_value:.3f}")

# %% tags=["hide-input"]
nb.glue("w1a1_bnn_vs_bc_lenet5_p", w1_pairs["lenet5", "bnn"][0].p_value)
nb.glue("w1a1_xnor_vs_w1_lenet5_p", w1_pairs["lenet5", "xnor_net"][0].p_value)
nb.glue("w1a1_bnn_vs_bc_lenet5_diff", w1_pairs["lenet5", "bnn"][1].estimate)
nb.glue("w1a1_xnor_vs_w1_lenet5_diff", w1_pairs["lenet5", "xnor_net"][1].estimate)
# Each W1A1 model against its W1A32 twin: McNemar's verdict at 95 % (claims.verdict), never typed
VS_TWIN = {"higher": "more accurate than", "lower": "less accurate than", "not distinguishable": "not distinguishable from"}
for name in base:
    for a1 in ("bnn", "xnor_net"):
        r = w1_pairs[name, a1][0]
        nb.glue(f"w1a1_{a1}_{name}_verdict", VS_TWIN[claims.verdict(r.only_a - r.only_b, r.p_value)])

# %% [markdown]
# Ternary weights cost LeNet-5 only {glue:text}`twn_lenet5_acc_drop:.1f` points
# (LeNet-300-100: {glue:text}`twn_lenet300_acc_drop:.1f`) at
# {glue:text}`twn_lenet5_ratio:.0f`× compression. Binary is harder: BinaryConnect reaches
# {glue:text}`bc_lenet5_acc:.1f` % on LeNet-5, the BNN-style W1A1 network
# {glue:text}`bnn_lenet5_acc:.1f` % and its XNOR-style twin with scaled weights
# {glue:text}`xnor_lenet5_acc:.1f` %. Each of these single runs is known only to about ±1 point
# (BNN-style: {glue:text}`bnn_lenet5_acc_ci_low:.1f`–{glue:text}`bnn_lenet5_acc_ci_high:.1f` %, 95 % Wilson
# interval; BinaryConnect: {glue:text}`bc_lenet5_acc_ci_low:.1f`–{glue:text}`bc_lenet5_acc_ci_high:.1f` %).
# The scale $\alpha$ matters more here than in the papers, because our networks have no batch
# normalisation to re-scale the ±1 sums.
#
# On LeNet-5, the BNN-style W1A1 network is {glue:text}`w1a1_bnn_lenet5_verdict` BinaryConnect (W1A32):
# {glue:text}`w1a1_bnn_vs_bc_lenet5_diff:+.1f` points, McNemar p = {glue:text}`w1a1_bnn_vs_bc_lenet5_p:.3f`.
# The XNOR-style one is {glue:text}`w1a1_xnor_net_lenet5_verdict` its W1A32 twin with XNOR weights
# ({glue:text}`w1a1_xnor_vs_w1_lenet5_diff:+.1f` points, p = {glue:text}`w1a1_xnor_vs_w1_lenet5_p:.3f`).
# On LeNet-300-100, the BNN-style network is {glue:text}`w1a1_bnn_lenet300_verdict` BinaryConnect and the XNOR-style one
# {glue:text}`w1a1_xnor_net_lenet300_verdict` its twin (the verdicts are McNemar's at the 5 % level,
# computed by `claims.verdict`). Whichever way a pair goes, it would not show that binary
# activations help or hurt by themselves: the two recipes differ in more than the activations. The
# W1A1 models learn an activation clip $\alpha$ for every layer, which re-scales the ±1 sums that
# the missing batch normalisation leaves unscaled, and their training runs under a different
# quantizer noise. One seed of each is an anecdote, not a ranking.
#
# ## Explore: bits, scheme and granularity
#
# Move the bitwidth and watch the grid (red lines) over LeNet-5's `conv2` weights — the whole
# tensor's grid, or the grid of one output channel (the one with the widest range) for
# per-channel — and, on the right, the test error of the whole model for all four
# scheme/granularity pairs (the selected one bold), with its size and the error of `conv2`
# (all layers quantized the same way, weights only, no retraining). At 1 bit both schemes
# become the sign with a scale.

# %%
def widget_table():
    rows = {}
    for bits in range(1, 9):
        for scheme in Q.SCHEMES:
            for gran in ("tensor", "channel"):
                q = Q.quantize_weights(base["lenet5"], bits, scheme=scheme, granularity=gran)
                err = float(((q.conv2.weight - base["lenet5"].conv2.weight).detach() ** 2).mean())
                rows[f"{bits}-{scheme}-{gran}"] = {"acc": train.evaluate(q), "mse": err,
                    "kb": Q.quantized_size_bits(base["lenet5"], bits, scheme=scheme, granularity=gran) / 8192}
    return rows

ptq_grid = train.cached_result({"ch4": "widget"}, widget_table, name="ch4-widget", parents=BASE_KEYS,
                               code=(widget_table, Q.quantize_weights, Q.quantized_size_bits))
w_conv2 = base["lenet5"].conv2.weight.detach()
widest = int(w_conv2.flatten(1).abs().amax(1).argmax())
shown = {"tensor": w_conv2, "channel": w_conv2[widest]}               # what the histogram shows
hist = {g: np.histogram(v.flatten().numpy(), bins=120) for g, v in shown.items()}


def frame(bits, scheme, granularity):
    gran = "tensor" if granularity == "per tensor" else "channel"
    row = ptq_grid[f"{bits}-{scheme}-{gran}"]
    values = shown[gran]
    fig, (ax, ax2) = plotting.new_figure(2, 1, width=10, height=3.4)
    counts, edges = hist[gran]
    ax.stairs(counts, edges, fill=True, color=plotting.PALETTE[0], alpha=0.8)
    if bits == 1:
        a = float(values.abs().mean())
        levels = [-a, a]
    else:
        qp = Q.choose_qparams(values, bits, scheme=scheme)
        levels = ((torch.arange(qp.qmin, qp.qmax + 1) - qp.zero_point.flatten()) * qp.scale.flatten()).tolist()
    ax.vlines(levels, 0, counts.max(), color=plotting.PALETTE[3], lw=1.0, alpha=0.9, label="quantization levels")
    ax.set(xlabel="weight value", ylabel="count",
           title=f"conv2 {'all channels' if gran == 'tensor' else f'channel {widest}'}: {len(levels)} levels")
    ax.legend(loc="upper right", fontsize=8)
    for i, (sch, g) in enumerate([(a, b) for a in Q.SCHEMES for b in ("tensor", "channel")]):
        current = (sch, g) == (scheme, gran)
        err = [100 - ptq_grid[f"{b}-{sch}-{g}"]["acc"] for b in range(1, 9)]
        ax2.plot(range(1, 9), err, "o-", color=plotting.PALETTE[i], lw=2.5 if current else 0.8,
                 alpha=1 if current else 0.35, label=f"{sch}, per {g}")
    ax2.plot([bits], [100 - row["acc"]], "o", ms=13, mfc="none", color="k")
    ax2.axhline(100 - base_acc["lenet5"], ls="--", color="gray", label="float32")
    ax2.set(xlabel="weight bits", ylabel="test error (%, log scale)", yscale="log",
            title=f"accuracy {row['acc']:.1f} %, size {row['kb']:.0f} KB, conv2 MSE {row['mse']:.1e}")
    ax2.set_yticks([1, 2, 5, 10, 20, 50, 100])
    ax2.yaxis.set_major_formatter(ScalarFormatter())
    ax2.yaxis.set_minor_formatter(NullFormatter())
    ax2.legend(loc="upper right", fontsize=8)
    return fig

# %% tags=["nbval-ignore-output"]
if not widgets.static_mode():  # a measurement for the live notebook, not the website
    print(f"rendering one frame (once, when the cell runs): {np.median(widgets.frame_timings_ms(frame, {'bits': [2, 4], 'scheme': ['affine'], 'granularity': ['per tensor']})):.0f} ms")
ptq_explorer = widgets.explore(frame, title="Uniform PTQ of LeNet-5: the grid over the weights", dpi=64,
                bits=list(range(1, 9)), scheme=list(Q.SCHEMES), granularity=["per tensor", "per channel"])
widgets.show_timing(ptq_explorer)

# %% [markdown]
# ## Accuracy against bits: PTQ vs QAT, uniform vs log vs k-means
#
# The figure the survey would draw: LeNet-5's test error (log scale: lower is better) as the weight bitwidth drops from
# 8 to 1 (activations float), for uniform grids per tensor and per channel, a **power-of-two**
# (logarithmic) grid (Miyashita, Lee and Murmann {cite:p}`miyashita2016convolutional`: a
# multiplication becomes a shift; INQ {cite:p}`zhou2017incremental` later reached such grids by
# quantizing a growing share of the weights and retraining the rest), **k-means**
# weight sharing (Deep Compression {cite:p}`han2016deep`; its codebook fine-tuned by summed
# gradients at 1–4 bits) and **QAT** (2 epochs per point). On the right the same points
# against model size, overheads (scales, codebooks) included.

# %%
def sweep():
    out = {}
    for bits in range(1, 9):
        for label, kw in [("log (power of two)", dict(method="log")), ("k-means", dict(method="kmeans"))]:
            q = Q.quantize_weights(base["lenet5"], bits, **kw)
            out[label, bits] = train.evaluate(q)
    return out

curves = train.cached_result({"ch4": "sweep"}, sweep, name="ch4-sweep", parents=BASE_KEYS,
                             code=(sweep, Q.quantize_weights))
bits_axis = BITS_AXIS
acc = {"PTQ uniform, per tensor": [ptq_grid[f"{b}-symmetric-tensor"]["acc"] for b in bits_axis],
       "PTQ uniform, per channel": [ptq_grid[f"{b}-symmetric-channel"]["acc"] for b in bits_axis],
       "PTQ log (power of two)": [curves["log (power of two)", b] for b in bits_axis],
       "PTQ k-means": [curves["k-means", b] for b in bits_axis],
       "k-means + fine-tuned codebook": [train.evaluate(Q.train_shared("lenet5", b))
                                         if b <= 4 else np.nan for b in bits_axis],
       "QAT uniform, per channel": [trained_acc("lenet5", **Q.qat_sweep_recipe(b)) for b in bits_axis]}
def kb(bits, **kw):
    return Q.quantized_size_bits(base["lenet5"], bits, layers=base_layers["lenet5"], **kw) / 8192

size_kb = {"PTQ uniform, per tensor": [kb(b, granularity="tensor") for b in bits_axis],
           "PTQ uniform, per channel": [kb(b) for b in bits_axis],
           "PTQ log (power of two)": [kb(b, method="log") for b in bits_axis],
           "PTQ k-means": [kb(b, method="kmeans") for b in bits_axis]}
size_kb["k-means + fine-tuned codebook"] = size_kb["PTQ k-means"]
size_kb["QAT uniform, per channel"] = size_kb["PTQ uniform, per channel"]

# %% tags=["check-within-noise"]
print(pd.DataFrame(acc, index=pd.Index(bits_axis, name="weight bits")).round(1).to_string())

# %% mystnb={"figure": {"caption": "LeNet-5 quantized with each method of this chapter: test error against weight bits (left) and against the model size with all overheads counted (right); the dashed line is the float32 model.", "name": "fig-ch4-bits-sweep"}, "image": {"alt": "Two line charts with test error on a log vertical axis, one line per quantization method, against weight bits and against model size in kilobytes; errors grow sharply below 4 bits for post-training methods."}}
fig, (ax, ax2) = plotting.new_figure(2, 1, width=11, height=4)
for i, (label, ys) in enumerate(acc.items()):
    err = [100 - y for y in ys]
    ax.plot(bits_axis, err, "o-", color=plotting.PALETTE[i], label=label)
    ax2.plot(size_kb[label], err, "o-", color=plotting.PALETTE[i], label=label)
for a in (ax, ax2):
    a.axhline(100 - base_acc["lenet5"], ls="--", color="gray", label="float32" if a is ax else None)
    a.set_yscale("log")
    a.set_yticks([1, 2, 5, 10, 20, 50, 100])
    a.yaxis.set_major_formatter(ScalarFormatter())
    a.yaxis.set_minor_formatter(NullFormatter())
ax.set(xlabel="weight bits", ylabel="test error (%, log scale)", title="LeNet-5: error vs weight bits (lower is better)")
ax2.set(xlabel="model size (KB, overheads included; log scale)", ylabel="test error (%, log scale)", xscale="log",
        title="... and vs model size")
ax2.set_xticks([50, 100, 200, 400])
ax2.xaxis.set_major_formatter(ScalarFormatter())
ax2.xaxis.set_minor_formatter(NullFormatter())
ax.legend(fontsize=8, loc="upper right")
display(fig)

# %% tags=["hide-input"]
nb.glue("sweep_ptq_tensor_2bit", acc["PTQ uniform, per tensor"][1])
nb.glue("sweep_ptq_channel_2bit", acc["PTQ uniform, per channel"][1])
nb.glue("sweep_qat_2bit", acc["QAT uniform, per channel"][1])
nb.glue("sweep_kmeans_2bit", acc["PTQ k-means"][1])
nb.glue("sweep_kmeans_ft_2bit", acc["k-means + fine-tuned codebook"][1])
nb.glue("sweep_log_3bit", acc["PTQ log (power of two)"][2])
nb.claim("sweep_1bit_claim", "per channel, 1-bit PTQ is more accurate than 2-bit PTQ",
         claims.compare_accuracies(acc["PTQ uniform, per channel"][0], acc["PTQ uniform, per channel"][1],
                                   N_TEST) == "higher",
         one_bit=acc["PTQ uniform, per channel"][0], two_bit=acc["PTQ uniform, per channel"][1])
# Where QAT beats PTQ (both per channel): their 95 % intervals apart (claims.compare_accuracies)
qat_wins = [b for b, q, p in zip(bits_axis, acc["QAT uniform, per channel"], acc["PTQ uniform, per channel"])
            if claims.compare_accuracies(q, p, N_TEST) == "higher"]
nb.glue("sweep_qat_wins_bits", (", ".join(map(str, qat_wins[:-1])) + " and " + str(qat_wins[-1]) if len(qat_wins) > 1
                                else str(qat_wins[0])) + (" bit" if qat_wins == [1] else " bits") if qat_wins
        else "no bit width of the sweep")
nb.glue("sweep_ptq_channel_1bit", acc["PTQ uniform, per channel"][0])
nb.glue("sweep_kmeans_1bit", acc["PTQ k-means"][0])
nb.glue("sweep_kmeans_ft_1bit", acc["k-means + fine-tuned codebook"][0])

# %% [markdown]
# Read the curves at 2 bits: a per-tensor grid leaves LeNet-5 at
# {glue:text}`sweep_ptq_tensor_2bit:.1f` %, a scale per channel lifts it to
# {glue:text}`sweep_ptq_channel_2bit:.1f` %, k-means's data-driven levels give
# {glue:text}`sweep_kmeans_2bit:.1f` % ({glue:text}`sweep_kmeans_ft_2bit:.1f` % after
# fine-tuning the four shared values), and QAT reaches {glue:text}`sweep_qat_2bit:.1f` %.
# The power-of-two grid spends its levels near zero and needs 3 bits
# ({glue:text}`sweep_log_3bit:.1f` %) — its advantage is arithmetic, not accuracy. One epoch
# of codebook fine-tuning is not always a gain: at 1 bit it moves LeNet-5 from
# {glue:text}`sweep_kmeans_1bit:.1f` % to {glue:text}`sweep_kmeans_ft_1bit:.1f` % — with two
# shared values per layer and frozen assignments, our 3,500 training images pull the centroids
# where the test set does not want them (Deep Compression fine-tunes far longer, on all of MNIST).
#
# Why is 1 bit ({glue:text}`sweep_ptq_channel_1bit:.1f` % per channel) *better* than 2 bits
# ({glue:text}`sweep_ptq_channel_2bit:.1f` %) after training-free quantization (a claim the build
# checks: {glue:text}`sweep_1bit_claim`)? A symmetric 2-bit grid is $\{-s, 0, s\}$ with
# $s = \max|w|$: every weight below $\max|w|/2$ — nearly all of them — becomes 0. At 1 bit we
# use the sign with XNOR-Net's scale $\operatorname{mean}|w|$, the least-squares fit. At very
# low bits *where* the levels sit matters more than how many there are: TWN's threshold
# $0.7\operatorname{mean}|w|$, k-means and QAT all place them by the data, which is why they win.
#
# ## Quantized gradients: where training breaks
#
# Inference needs only weights and activations. *Training* in low precision also quantizes the
# gradients: DoReFa-Net {cite:p}`zhou2016dorefa` quantizes the gradients, WAGE
# {cite:p}`wu2018wage` separately the back-propagated errors ($k_E$ bits) and the weight
# gradients ($k_G$ bits). Ours quantizes the back-propagated *errors*: `Q.GradQuant` is the identity forward and quantizes the incoming
# gradient in backward: per-tensor max-abs scale, symmetric grid, **stochastic rounding** (so
# small gradients survive on average). We train LeNet-5 *from scratch* for 3 epochs with 8-bit
# weights and activations and $k$-bit errors:

# %% tags=["check-within-noise"]
grad_bits = GRAD_BITS
grad_acc = {g: trained_acc("lenet5", **Q.grad_sweep_recipe(g)) for g in grad_bits}
for g, a in grad_acc.items():
    print(f"W8A8, {'float32' if g == 32 else f'{g}-bit'} gradients: {a:.1f} %")

# %% mystnb={"figure": {"caption": "Training with quantized gradients: our LeNet-5 on MNIST next to the WAGE paper's VGG-like network on CIFAR-10, test error against the gradient bits.", "name": "fig-ch4-gradient-bits"}, "image": {"alt": "Line chart of test error on a log axis against the number of gradient bits, with our LeNet-5 results, a dashed float32 reference and the WAGE paper's CIFAR-10 errors."}}
wage_bits = list(range(2, 13))
wage_cifar_err = [54.22, 51.57, 28.22, 18.01, 11.48, 7.61, 6.78, 6.63, 6.43, 6.55, 6.57]
fig, ax = plotting.new_figure(1, 1, width=6.5, height=3.4)
ax.plot(grad_bits[1:], [100 - grad_acc[g] for g in grad_bits[1:]], "o-", label="ours: LeNet-5, MNIST (3 epochs)")
ax.axhline(100 - grad_acc[32], ls="--", color="gray", label="ours: float32 gradients")
ax.plot(wage_bits, wage_cifar_err, "s--", color=plotting.PALETTE[3],
        label="WAGE: VGG-like, CIFAR-10, weight-gradient bits $k_G$ (paper)")
ax.set(xlabel="bits (ours: errors; WAGE: weight gradients)", ylabel="test error (%, log scale)", yscale="log", title="Training with quantized gradients")
ax.set_yticks([2, 5, 10, 20, 50])
ax.yaxis.set_major_formatter(ScalarFormatter())
ax.yaxis.set_minor_formatter(NullFormatter())
ax.legend(fontsize=8)
display(fig)

# %% tags=["hide-input"]
nb.glue("grad2_lenet5_acc", grad_acc[2])
nb.glue("grad8_lenet5_acc", grad_acc[8])
nb.glue("grad32_lenet5_acc", grad_acc[32])
glue_ci("grad8_lenet5_acc", grad_acc[8])
glue_ci("grad2_lenet5_acc", grad_acc[2])
nb.glue("grad8_vs_float_text", {"not distinguishable": "training is as good as with float ones (not distinguishable at 95 %)",
                                "higher": "training is better than with float ones (95 % intervals apart)",
                                "lower": "training is worse than with float ones (95 % intervals apart)"}[
    claims.compare_accuracies(grad_acc[8], grad_acc[32], N_TEST)])

# %% [markdown]
# With 8-bit errors {glue:text}`grad8_vs_float_text` ({glue:text}`grad8_lenet5_acc:.1f` %
# vs {glue:text}`grad32_lenet5_acc:.1f` %); at 2 bits it reaches
# {glue:text}`grad2_lenet5_acc:.1f` % (each ±~1 point, 95 % interval of one run on 1,000 images:
# 8-bit {glue:text}`grad8_lenet5_acc_ci_low:.1f`–{glue:text}`grad8_lenet5_acc_ci_high:.1f` %).
# WAGE's CIFAR-10 curve (red, from the paper) varies a different quantity, the bits $k_G$ of the
# *weight gradient*, with the errors kept at 8 bits, on a harder task, so the two curves are not
# the same experiment and their shapes are not compared: the paper's point is that below about
# 6 gradient bits its error explodes.
# MNIST in 3 epochs is forgiving — stochastic rounding keeps the expected update right even
# with three levels, it just adds noise.
#
# ## Mixed precision: a bitwidth per layer
#
# Layers are not equally sensitive. Quantize *one* layer at a time (the others float) and
# measure the validation accuracy; then a greedy search lowers, step by step, the layer whose
# next step down costs the least accuracy per bit saved, until the weights fit a budget (HAQ
# {cite:p}`wang2019haq` searches the same space with a hardware model in the loop, chapter 8).

# %% tags=["check-within-noise"]
cand = [1, 2, 3, 4, 6, 8]
sens = train.cached_result({"ch4": "sensitivity", "bits": cand},
                           lambda: Q.bit_sensitivity(base["lenet5"], cand, lambda m: train.evaluate(m, "val")),
                           name="ch4-sensitivity", parents=[train.key_of(base["lenet5"])],
                           code=(Q.bit_sensitivity, Q.quantize_weights))
print(pd.DataFrame(sens).T.rename(columns=lambda b: f"{b} bits").round(1).to_string())

# %% tags=["check-within-noise"]
layer_weights = {l.name: l.weights for l in metrics.measure_layers(base["lenet5"])}
budget = 2 * sum(layer_weights.values())                       # as many bits as uniform 2-bit weights
mixed_bits = Q.assign_bits(sens, layer_weights, budget, base_acc["lenet5"])
mixed = Q.quantize_weights(base["lenet5"], mixed_bits)
uniform2 = Q.quantize_weights(base["lenet5"], 2)
mixed_report = q_report("mixed precision (PTQ)", "lenet5", train.evaluate(mixed), mixed_bits)
uniform2_report = q_report("uniform 2-bit (PTQ)", "lenet5", train.evaluate(uniform2), 2)
print("bits per layer:", mixed_bits)
print(mixed_report)
print(uniform2_report)

# %% tags=["hide-input"]
nb.glue("mixed_lenet5_acc", mixed_report.accuracy)
nb.glue("uniform2_lenet5_acc", uniform2_report.accuracy)
nb.glue("mixed_avg_bits", sum(layer_weights[n] * b for n, b in mixed_bits.items()) / sum(layer_weights.values()))
nb.glue("mixed_most_bits_layer", max(mixed_bits, key=lambda n: (mixed_bits[n], -layer_weights[n])))
nb.glue("mixed_fewest_bits_layer", min(mixed_bits, key=lambda n: (mixed_bits[n], -layer_weights[n])))
nb.glue("mixed_largest_layer", max(layer_weights, key=layer_weights.get))
nb.glue("mixed_largest_share", 100 * max(layer_weights.values()) / sum(layer_weights.values()))
mixed_vs_u2 = claims.compare_accuracies(mixed_report.accuracy, uniform2_report.accuracy, N_TEST)
nb.glue("mixed_vs_uniform2_text", {"higher": "rises", "not distinguishable": "moves, within the noise,",
                                   "lower": "falls"}[mixed_vs_u2])
nb.claim("mixed_size_claim", "with a *smaller* model", mixed_report.size_bits < uniform2_report.size_bits,
         mixed_bits=mixed_report.size_bits, uniform2_bits=uniform2_report.size_bits)
N_VAL = len(data.load_mnist("val")[1])
val_half_width = stats.accuracy_interval(train.evaluate(base["lenet5"], "val"), N_VAL)
nb.glue("sens_val_half_width", (val_half_width.high - val_half_width.low) / 2)
nb.glue("sens_n_val", N_VAL)

# %% [markdown]
# The budget allowed 2 bits per weight on average; the greedy search stops as soon as the
# model fits, here at {glue:text}`mixed_avg_bits:.2f` bits per weight, and post-training
# accuracy {glue:text}`mixed_vs_uniform2_text` from {glue:text}`uniform2_lenet5_acc:.1f` % (uniform 2-bit) to
# {glue:text}`mixed_lenet5_acc:.1f` % {glue:text}`mixed_size_claim`. The search gives the most bits
# to {glue:text}`mixed_most_bits_layer` and the fewest to {glue:text}`mixed_fewest_bits_layer`:
# small layers keep bits almost for free, while the layer holding most of the weights
# ({glue:text}`mixed_largest_layer`, {glue:text}`mixed_largest_share:.0f` % of them) decides the
# size. (Deep Compression stored FC layers with fewer bits than convolutions; chapter 6 checks
# whether "convolutions need more bits" holds on our nets.) (Sensitivities are measured on the validation split, so that the bit choice
# never sees the test set. One accuracy on {glue:text}`sens_n_val:d` images is known to about
# ±{glue:text}`sens_val_half_width:.1f` points (95 % Wilson interval), so differences of a few tenths
# between layers in the table are noise.)
#
# Is mixed precision worth it against the **best uniform quantizer of any kind** at the same
# budget? Every weight quantizer of this chapter (uniform per channel or per tensor, power of
# two, k-means codebook, ternary, binary, XNOR), at every width the 2-bit budget allows, picked on
# the validation split, then measured on the test split beside the mixed model:

# %% tags=["check-within-noise"]
uniform_any = {}
for method in Q.WEIGHT_METHODS:
    for bits in ((1, 2) if method in ("uniform", "log", "kmeans") else (1,)):
        for gran in (("channel", "tensor") if method in ("uniform", "log") else ("channel",)):
            label = f"{method} {bits}-bit" + (f" per {gran}" if method in ("uniform", "log") else "")
            label = label if method not in ("binary", "xnor", "ternary") else method
            uniform_any[label] = Q.quantize_weights(base["lenet5"], bits, method=method, granularity=gran)
val_acc = {k: train.evaluate(m, "val") for k, m in uniform_any.items()}
best_uniform = max(val_acc, key=val_acc.get)
test_acc = {"mixed precision (PTQ)": train.evaluate(mixed), f"best uniform: {best_uniform}": train.evaluate(uniform_any[best_uniform])}
mc = stats.mcnemar_exact(stats.per_image_correct(mixed), stats.per_image_correct(uniform_any[best_uniform]))
print(pd.Series(val_acc, name="val %").sort_values(ascending=False).round(1).to_string())
for k, a in test_acc.items():
    ci = stats.accuracy_interval(a, N_TEST)
    print(f"{k:34s} test {a:5.1f} %  [{ci.low:.1f}, {ci.high:.1f}]")
print(f"McNemar exact test, mixed vs best uniform: p = {mc.p_value:.3f}")

# %% tags=["hide-input"]
nb.glue("best_uniform_lenet5_method", best_uniform)
nb.glue("best_uniform_lenet5_acc", train.evaluate(uniform_any[best_uniform]))
glue_ci("best_uniform_lenet5_acc", train.evaluate(uniform_any[best_uniform]))
glue_ci("mixed_lenet5_acc", mixed_report.accuracy)
nb.glue("mixed_vs_best_uniform_p", mc.p_value)
nb.glue("mixed_vs_best_uniform_verdict", "is distinguishable from" if mc.p_value < 0.05 else "is within the noise of")

# %% [markdown]
# The best uniform quantizer at the same budget is **{glue:text}`best_uniform_lenet5_method`**:
# {glue:text}`best_uniform_lenet5_acc:.1f` % (95 % interval
# {glue:text}`best_uniform_lenet5_acc_ci_low:.1f`–{glue:text}`best_uniform_lenet5_acc_ci_high:.1f` %)
# against {glue:text}`mixed_lenet5_acc:.1f` %
# ({glue:text}`mixed_lenet5_acc_ci_low:.1f`–{glue:text}`mixed_lenet5_acc_ci_high:.1f` %) for
# mixed precision; the mixed model {glue:text}`mixed_vs_best_uniform_verdict` it (McNemar
# p = {glue:text}`mixed_vs_best_uniform_p:.3f`). So compare a mixed-precision result with the best
# uniform scheme, not only with the naive uniform grid: a per-layer codebook or a per-channel
# scale already captures much of what per-layer bitwidths buy.
#
# ## What it buys in practice: PyTorch's int8 path on this CPU
#
# Fake quantization simulates low precision in float: it saves nothing at run time. Real
# savings need integer kernels. PyTorch ships one for CPUs: *dynamic quantization* of the
# `nn.Linear` layers (int8 weights; activations quantized on the fly per batch, int8 GEMM by
# fbgemm/oneDNN). We time a forward pass at batch 1 and 64 on one core, float32 and int8
# interleaved in five rounds (fastest of several runs per round, which filters out interference
# from other programs; the speed-up is taken within each round and reported as a range; the
# conv layers of LeNet-5 stay float):

# %% tags=["nbval-ignore-output"]
from torch import nn
torch.manual_seed(0)
wide = nn.Sequential(nn.Flatten(), nn.Linear(784, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
                     nn.Linear(4096, 10)).eval()                      # 20 M weights: a "big FC" workload
speed = []
for name, model in [("lenet5", base["lenet5"]), ("lenet300", base["lenet300"]), ("wide", wide)]:
    int8 = Q.dynamic_int8(model)
    for batch in (1, 64):
        kw = dict(rounds=5, repeats=2, warmup=1) if name == "wide" else dict(rounds=5, repeats=6, warmup=2)
        t = metrics.compare_latency_ms({"float32": model, "int8": int8}, (batch, 1, 28, 28), **kw)
        r = t.ratio("float32", "int8")
        speed.append({"model": name, "batch": batch, "float32 (ms)": t.best_ms("float32"),
                      "int8 dynamic (ms)": t.best_ms("int8"), "speed-up": r.mid, "range": r.text(".2f", "x")})
speed = pd.DataFrame(speed)
print(speed.round(3).to_string(index=False))
acc_int8 = train.evaluate(Q.dynamic_int8(base["lenet300"]))
print(f"lenet300 int8 dynamic accuracy {acc_int8:.1f} % (float32 {base_acc['lenet300']:.1f} %)")
for _, r in speed.iterrows():
    nb.glue(f"int8_speedup_{r['model']}_b{r['batch']}", float(r["speed-up"]), measured=True)
    nb.glue(f"int8_speedup_{r['model']}_b{r['batch']}_range", r["range"], measured=True)
nb.glue("ch4_torch_version", torch.__version__.split("+")[0], measured=True)
nb.glue("ch4_int4_cpu_kernel", "has" if hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu") else "does not have", measured=True)

# %% [markdown]
# On the machine that built this page, int8 ran LeNet-300-100 at
# {glue:text}`int8_speedup_lenet300_b1_range` the float speed at batch 1 and
# {glue:text}`int8_speedup_lenet300_b64_range` at batch 64; LeNet-5 (whose convolutions stay
# float): {glue:text}`int8_speedup_lenet5_b1_range` and {glue:text}`int8_speedup_lenet5_b64_range`.
# A ratio below 1 is a slow-down. For such small layers the fixed cost of quantizing the
# activations and calling the integer kernel is comparable with the arithmetic it saves. A wide
# 784-4096-4096-10 MLP (20 M weights, the size of a big network's FC layers) gets
# {glue:text}`int8_speedup_wide_b1_range` at batch 1 and {glue:text}`int8_speedup_wide_b64_range`
# at batch 64: the int8 kernels pay once layers are large enough for their arithmetic and weight
# traffic to outweigh the fixed costs. The 4× smaller weights pay off
# in storage and memory traffic whatever the speed. Below 8 bits, PyTorch
# {glue:text}`ch4_torch_version` {glue:text}`ch4_int4_cpu_kernel` a CPU kernel for int4
# *weight-only* matrix products (`torch.ops.aten._weight_int4pack_mm_for_cpu`, which torchao's
# int4 weight-only quantization calls; the activations stay bfloat16); we did not time it here,
# and it speeds up memory-bound large-batch-1 layers rather than our tiny ones. Sub-8-bit
# arithmetic on both operands needs the accelerators of chapter 7 (Stripes, Bit Fusion) to turn
# fewer bits into less time and energy.
#
# ## Beside the literature
#
# The WAGE paper collects MNIST errors of the low-bit methods (bits = weights/activations/
# gradients/errors; each row its own network). Ours, on LeNet-5 and LeNet-300-100:

# %% tags=["check-within-noise"]
lit = [("BinaryConnect", "1/32/32/32", 1.29, "binaryconnect"), ("BNN (ours: BNN-style, {0,α} act.)", "1/1/32/32", 0.96, "bnn"),
       ("TWN", "2/32/32/32", 0.65, "twn")]
rows = [{"method": m, "bits": b, "paper MNIST error (%)": e,
         "ours LeNet-5 error (%)": 100 - reports["lenet5", k].accuracy,
         "ours LeNet-300 error (%)": 100 - reports["lenet300", k].accuracy} for m, b, e, k in lit]
rows.append({"method": "WAGE 2/8/8/8 (ours: W8A8, 8-bit errors)", "bits": "2/8/8/8", "paper MNIST error (%)": 0.40,
             "ours LeNet-5 error (%)": 100 - grad_acc[8], "ours LeNet-300 error (%)": np.nan})
rows.append({"method": "float32 baseline", "bits": "32/32/32/32", "paper MNIST error (%)": np.nan,
             "ours LeNet-5 error (%)": 100 - base_acc["lenet5"], "ours LeNet-300 error (%)": 100 - base_acc["lenet300"]})
print(pd.DataFrame(rows).set_index("method").round(2).to_string())

# %% tags=["hide-input"]
# Does the papers' order of errors (BinaryConnect > BNN > TWN > WAGE) reproduce on LeNet-5? Each
# adjacent pair is compared on our 1,000 test images (95 % intervals, claims.compare_accuracies).
ours_err = [r["ours LeNet-5 error (%)"] for r in rows[:4]]
gaps = [claims.compare_accuracies(100 - a, 100 - b, N_TEST) for a, b in zip(ours_err, ours_err[1:])]
n_same, n_noise = gaps.count("lower"), gaps.count("not distinguishable")
n_rev = len(gaps) - n_same - n_noise
nb.glue("lit_gaps_text", f"{n_same} of the papers' {len(gaps)} steps (each method more accurate than the one before) "
        f"{'reproduces' if n_same == 1 else 'reproduce'} outside the noise, {n_noise} "
        f"{'is' if n_noise == 1 else 'are'} within it and {n_rev} {'reverses' if n_rev == 1 else 'reverse'}")
nb.glue("lit_worst_gap", max(ours_err) - (100 - base_acc["lenet5"]))

# %% [markdown]
# The comparison is honest only with its differences stated. The papers train on all 60,000
# MNIST images for hundreds of epochs; we train on the book's embedded 3,500 images for 2–6
# epochs (our float baselines already err about twice as often as the papers' networks). The
# papers' networks differ too: BNN and BinaryConnect used wide MLPs with batch normalisation,
# TWN a LeNet-5 variant (32-64-512) with batch normalisation; ours have none, and our "binary"
# activations are $\{0, \alpha\}$ after a ReLU rather than ±1. WAGE's 0.40 % is its 2/8/8/8
# configuration (ternary weights, 8-bit activations, weight gradients and errors); our row is the
# closest we train, 8-bit weights and activations with 8-bit errors and float weight updates, and
# it trains from scratch for 3 epochs while the binary and ternary rows fine-tune a trained
# baseline: the budgets are not equal. On LeNet-5, {glue:text}`lit_gaps_text` (95 % intervals on
# 1,000 images). So neither the absolute errors nor the papers' ranking should be read as
# reproduced here, only the magnitudes: on LeNet-5 every low-bit method of the table errs at most
# {glue:text}`lit_worst_gap:.1f` points more often than the float network.
#
# ## Exercises
#
# **1 (easy).** 8-bit affine quantization of values in $[-0.5, 1.5]$: what are the scale and
# the zero point? Answer with a pair `(scale, zero_point)`.

# %%
answer = None  # your code here, e.g. (0.01, 50)
check("ch4.scale_zero_point", answer)

# %% tags=["hide-cell", "solution"]
scale = (1.5 - (-0.5)) / (2 ** 8 - 1)
zero_point = round(0 - (-0.5) / scale)
check("ch4.scale_zero_point", (scale, zero_point))

# %% [markdown]
# **2 (medium).** Write the straight-through estimator's backward yourself: a function
# `ste_grad(x, grad_out)` returning the gradient that 4-bit affine fake quantization with the
# clip range $[-1, 1]$ (`Q.qparams_from_range(-1, 1, 4)`) passes back to `x`.

# %%
ste_grad = None  # your code here: def ste_grad(x, grad_out): ...
check("ch4.ste_backward", ste_grad)

# %% tags=["hide-cell", "solution"]
def ste_grad(x, grad_out):
    qp = Q.qparams_from_range(-1.0, 1.0, 4)
    code = torch.round(x / qp.scale) + qp.zero_point          # before clamping
    return grad_out * ((code >= qp.qmin) & (code <= qp.qmax))

check("ch4.ste_backward", ste_grad)

# %% [markdown]
# **3 (hard).** A mixed-precision LeNet-5 stores `conv1` at 8 bits, `conv2` at 6, `fc1` at 2
# and `fc2` at 8; biases stay float32; ignore the scales. How large is it in KB
# (1 KB = 1,024 bytes)? Then compare with `Q.quantized_size_bits`, which also counts the scales.

# %%
answer = None  # your code here
check("ch4.mixed_precision_size", answer)

# %% tags=["hide-cell", "solution"]
bits = {"conv1": 8, "conv2": 6, "fc1": 2, "fc2": 8}
layers = metrics.measure_layers(base["lenet5"])
kb = (sum(l.weights * bits[l.name] for l in layers) + sum(l.bias for l in layers) * 32) / 8 / 1024
check("ch4.mixed_precision_size", kb)
print(f"with per-channel scales: {Q.quantized_size_bits(base['lenet5'], bits) / 8 / 1024:.1f} KB")

# %% [markdown]
# **4 (open).** Train LeNet-5 with `Q.train_quantized("lenet5", weight="uniform", bits=2,
# act_bits=2, act_clip="pact", epochs=2, lr=1e-4)`. Is W2A2 closer to W4A4 or to BNN? Which
# layer's activations would you keep at 8 bits, and how would you find out?
#
# ## Summary
#
# - A uniform quantizer is a scale and a zero point; affine fits any range, symmetric makes
#   integer arithmetic simpler; one `block_size` convention covers per-tensor, per-channel and
#   per-group scales, and finer scales cost a little storage for much lower error.
# - Post-training quantization with calibration is free; at 8 bits it costs LeNet-5
#   {glue:text}`ptq8_lenet5_acc_drop:.1f` points; below 4 bits the clip range and the granularity
#   decide.
# - Quantization-aware training through a ten-line straight-through estimator recovers the low
#   bits: 4-bit weights and activations cost LeNet-5 {glue:text}`qat4_lenet5_acc_drop:.1f` points.
# - Ternary weights (TWN, drop {glue:text}`twn_lenet5_acc_drop:.1f` points) are nearly free;
#   binary weights and activations (BNN-style {glue:text}`bnn_lenet5_acc:.1f` %) are not, and lean on
#   scales such as XNOR-Net's; k-means and power-of-two grids trade accuracy, storage and
#   arithmetic differently; gradients tolerate 8 bits with stochastic rounding.
# - Fewer bits save storage everywhere but time only with integer kernels: PyTorch's int8 path on
#   a CPU helps large layers and can slow tiny ones; sub-8-bit speed needs dedicated hardware.
#
# ## Further reading
#
# The survey's section on data quantization {cite:p}`deng2020model` and its appendix table of
# quantization methods; Krishnamoorthi's whitepaper {cite:p}`krishnamoorthi2018quantizing` and
# Jacob et al. {cite:p}`jacob2018quantization` for integer-only inference; Gupta et al.
# {cite:p}`gupta2015deep` for stochastic rounding; BinaryConnect, BNN and XNOR-Net
# {cite:p}`courbariaux2015binaryconnect,hubara2016binarized,rastegari2016xnor`; TWN and TTQ
# {cite:p}`li2016ternary,zhu2017trained`; INQ {cite:p}`zhou2017incremental`; DoReFa-Net and WAGE
# {cite:p}`zhou2016dorefa,wu2018wage`; PACT {cite:p}`choi2018pact`; Deep Compression
# {cite:p}`han2016deep`, continued in chapter 6.

# %% tags=["nbval-ignore-output"]
nb.glue("ch4_runtime_s", nb.runtime_s(), measured=True)
