"""Multiply-accumulates per input pixel and receptive field of a fully convolutional model.

Usage: /usr/bin/python3 training/macs.py
"""

from __future__ import annotations

import torch
from torch import nn


def macs_per_input_pixel(model: nn.Module, size: int = 64) -> float:
    """Counts every Conv2d, weighted by the resolution it runs at (hooks see the real output size)."""
    total = 0

    def hook(mod: nn.Conv2d, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = mod.kernel_size
        per_out = kh * kw * (mod.in_channels // mod.groups)
        total += out.numel() * per_out

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(torch.rand(1, 1, size, size))
    finally:
        for h in handles:
            h.remove()
    return total / (size * size)


def input_support(model, size: int, reduce) -> torch.Tensor:
    """Boolean [size, size] map of the input pixels that `reduce(model, x)` (a scalar) depends on.

    Uses all-positive weights and biases so no ReLU is dead, and replaces max-pool by average-pool:
    max-pool routes gradient to one input of each window, average-pool to its whole support. The
    gradient w.r.t. the input is then non-zero exactly on the dependence region. `model` is changed.
    """
    import torch.nn.functional as F

    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.full_like(p, 0.01))
    orig = F.max_pool2d
    F.max_pool2d = lambda x, k, *a, **kw: F.avg_pool2d(x, k)  # type: ignore[assignment]
    try:
        x = torch.ones(1, 1, size, size, requires_grad=True)
        reduce(model, x).backward()
    finally:
        F.max_pool2d = orig  # type: ignore[assignment]
    return x.grad[0, 0].abs() > 0


def receptive_field_radius(model_factory, size: int = 192) -> int:
    """Theoretical receptive-field radius in input pixels of one central output pixel (4x output grid)."""
    def centre_pixel(model, x):
        y = model(x)
        c = y.shape[-1] // 2
        return y[0, 0, c, c]

    ys, xs = torch.nonzero(input_support(model_factory(), size, centre_pixel), as_tuple=True)
    centre = (size * 4 // 2) // 4
    return int(max((xs - centre).abs().max(), (ys - centre).abs().max()))


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from damn_model import DamnNet

    m = DamnNet()
    print(f"params: {sum(p.numel() for p in m.parameters())}")
    print(f"MACs per input pixel: {macs_per_input_pixel(m):.0f}")
    print(f"receptive field radius (input px): {receptive_field_radius(DamnNet)}")
