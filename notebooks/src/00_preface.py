# %% [markdown]
# # 0. Preface: how to use this book
#
# This book is a companion you *run*. In ten minutes you will have executed a cell, moved a
# slider, answered a self-check, and you will know how long each chapter takes and whether your
# machine has a GPU.
#
# ```{admonition} In this chapter
# **Goals**: *run* a cell; *use* a slider; *answer* a self-check; *find* your way around the
# chapters and the `companion` library.
#
# **Prerequisites**: none. **Survey**: the whole book follows {cite:p}`deng2020model`.
#
# **Run time**: {glue:text}`ch0_runtime_s:.0f` s on the CPU that built this page. **GPU**: not needed.
# ```
#
# ## How the book is organised
#
# Each chapter follows the same arc: a **promise**, the **principle** on a tensor small enough to
# check by eye, the technique on a **real network** (LeNet-300-100, LeNet-5 or a small CNN
# trained on 5,000 real MNIST digits that ship with the book), an **explore** widget, what it
# **buys in practice** (measured time, and from chapter 7 on an accelerator model), our result
# **beside the primary paper's**, **exercises** with self-checks, and a **summary**.
#
# | chapter | after the survey's section on … |
# |---|---|
# | 1 Why compress | the introduction and evaluation metrics |
# | 2 Compact models | compact model design (SqueezeNet, MobileNet, ShuffleNet) |
# | 3 Tensor decomposition | tensor decomposition (SVD, CP, Tucker, tensor train) |
# | 4 Data quantization | data quantization (uniform, k-means, binary, ternary, low-bit training) |
# | 5 Network sparsification | network sparsification (pruning, structured sparsity, formats) |
# | 6 Joint-way compression | joint-way compression and sensitivity analysis (Deep Compression) |
# | 7 Hardware accelerators | neural network accelerators (dataflows, sparse and bit-serial engines) |
# | 8 Discussion | fair comparison, workloads, automatic compression, security, framework support |
#
# Every number in the text is computed by the code when the page is built — nothing is typed.
#
# ## 1. Run a cell
#
# Click into the next cell and press **Shift+Enter**. It imports the companion library, seeds
# every random generator, and tells you what it found:

# %% tags=["nbval-ignore-output"]
from companion import nb, data, plotting, widgets
from companion.exercises import check
import numpy as np

dev = nb.setup()
print("GPU available:", dev.type == "cuda")

# %% [markdown]
# Everything in the book runs on a CPU. With a GPU, training steps use it automatically
# (`companion.train.device()`), but the chapters are sized so that the CPU is enough: each one
# states its measured run time at the top. The first chapter that needs a trained network trains
# it once (a progress bar shows it, about a minute) and caches the weights in
# `~/.cache/companion` (set `COMPANION_CACHE` to move it).
#
# ## 2. Meet the data
#
# The book embeds 5,000 real MNIST digits (500 per class), split into 3,500 for training,
# 500 for validation and 1,000 for testing. The loader checks their SHA-256 checksum first.

# %% tags=["nbval-check-output"]
for split in data.SPLITS:
    x, y = data.load_mnist(split)
    print(f"{split:5s} x {tuple(x.shape)} {x.dtype}  y {tuple(y.shape)} {y.dtype}  "
          f"per class {np.bincount(y.numpy()).tolist()}")

# %% [markdown]
# ## 3. Move a slider
#
# How many grey levels does a digit need? Below, each pixel is rounded to $2^b$ levels. Move
# the *bits* slider: a digit survives with very few bits — a first taste of quantization
# (chapter 4). In JupyterLab the slider calls Python; on the website, every position was
# rendered when the page was built.

# %% tags=["nbval-ignore-output"]
images, labels = data.mnist_arrays()
samples = images[[int(np.flatnonzero(labels == d)[0]) for d in range(10)]]

def digits_frame(bits=8):
    levels = 2 ** bits
    q = np.round(samples / 255 * (levels - 1)) / (levels - 1)
    fig, axes = plotting.new_figure(10, 1, width=9, height=1.4)
    for ax, img in zip(axes, q):
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=1)
        ax.axis("off")
    fig.suptitle(f"{bits} bit per pixel: {levels} grey levels, {28 * 28 * bits / 8:.0f} bytes per digit")
    return fig

player = widgets.explore(digits_frame, title="Pixel bitwidth", bits=[8, 4, 3, 2, 1])

# %% [markdown]
# ## 4. Answer a self-check
#
# Each chapter ends with exercises. You write the answer in the stub cell; `check` says
# whether it is right, or gives a hint. Try it: **how many bytes does one digit take at
# 1 bit per pixel?**

# %%
answer = None  # replace None with your number
check("ch0.digit_bytes", answer)

# %% [markdown]
# On the website the solution is hidden behind a toggle (click to reveal); the test suite runs
# it, so every exercise is known to work.

# %% tags=["hide-cell", "solution"]
answer = 28 * 28 * 1 / 8
check("ch0.digit_bytes", answer)

# %% [markdown]
# ## How to use the book in a course
#
# Each chapter is one lecture or lab session (about 90 minutes with the exercises). The
# notebooks export to offline slide decks (`./run.sh slides`). Lecturers: the exercises are
# graded easy → hard; assign the hard ones as homework.
#
# ## Licence and citation
#
# Text CC-BY-4.0, code MIT. If you use the book, please cite the survey
# {cite:p}`deng2020model` and the primary papers each chapter names.

# %% tags=["nbval-ignore-output"]
nb.glue("ch0_runtime_s", nb.runtime_s(), measured=True)
