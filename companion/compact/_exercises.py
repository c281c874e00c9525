"""Chapter 2's exercises (``companion.exercises.check("ch2.<name>", answer)``), registered on import."""
from __future__ import annotations

import torch

from .. import exercises
from .blocks import channel_unshuffle
from .costs import WIDTH_GRID, conv_cost, depthwise_separable_cost, fire_cost, mobilenet_v1_table



def _width_for_budget(budget_macs: int = 150_000_000, resolution: int = 160) -> float:
    return max(a for a in WIDTH_GRID if mobilenet_v1_table(a, resolution).macs <= budget_macs)


def _shuffle_cases():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(2, c, 3, 3, generator=g), groups) for c, groups in ((6, 2), (6, 3), (12, 4), (8, 8), (5, 1))]


exercises.register(
    "ch2.dwsep_macs",
    "MACs (batch 1) of a 3x3 depthwise-separable layer, 64 -> 128 channels, 56x56 input, stride 1, 'same' padding.",
    exercises.close_to(lambda: depthwise_separable_cost(64, 128, 56, 56).macs, rtol=1e-9,
                       hint="depthwise: H·W·C_in·k²; pointwise: H·W·C_in·C_out; add them.",
                       explain=lambda v: f"{v:,.0f} MACs — {conv_cost(64, 128, 56, 56).macs / v:.1f}x fewer than a 3x3 conv."),
    level="easy")

exercises.register(
    "ch2.fire_params",
    "Parameters (weights + biases) of SqueezeNet's fire2: 96 input channels, squeeze 16, expand 64 (1x1) + 64 (3x3).",
    exercises.close_to(lambda: fire_cost(96, 16, 64, 64, 54, 54, norm=False).params, rtol=1e-9,
                       hint="three convs: 96->16 (1x1), 16->64 (1x1), 16->64 (3x3); each has one bias per output channel.",
                       explain=lambda v: f"{v:,.0f} — a 3x3 conv 96->128 would need {conv_cost(96, 128, 54, 54, bias=True).params:,}."),
    level="easy")

exercises.register(
    "ch2.unshuffle",
    "Write unshuffle(x, groups) that undoes channel_shuffle(x, groups) for x of shape [N, C, H, W].",
    exercises.same_function(channel_unshuffle, _shuffle_cases,
                            hint="channel_shuffle views C as (groups, C/groups) and transposes; "
                                 "view as (C/groups, groups) and transpose back."),
    level="medium")

exercises.register(
    "ch2.width_for_budget",
    "The largest width multiplier in WIDTH_GRID (0.25, 0.30, ..., 1.00) for which MobileNet-v1 at 160x160 "
    "input needs at most 150 M MACs.",
    exercises.close_to(_width_for_budget, atol=1e-9, rtol=0,
                       hint="MACs grow about with width²·resolution²: estimate, then check with mobilenet_v1_table(width, 160).macs.",
                       explain=lambda a: f"α = {a:g}: {mobilenet_v1_table(a, 160).macs / 1e6:.0f} M MACs."),
    level="hard")
