"""Residual U-Net for nanohole localisation (issue #16): 22 lambda scalar intensity in, hole map out.

Contract (src/optics/nanohole.ts): input `intensity` float32 [N,1,128,128] = nanoholeInput(recorded
intensity over 22 lambda) = (I - min) / (max - min); output `map` float32 [N,1,128,128] = hole
probability (sigmoid inside the graph) over the central 2.5 lambda.

Why this shape (lengths in lambda = 633 nm):
- The recorded field is 22 lambda wide at pitch 0.172, but at H = 1 lambda the NA 0.9 pupil passes
  rays up to 64 deg, so a hole lights the plane only within H*tan(64 deg) = 2.06 lambda of itself;
  with the holes inside +-1.1 lambda the light that carries position information lies within
  +-3.2 lambda (98 % of a single hole's recorded power is inside the central 8.25 lambda; what is
  further out is the ringing of the hard pupil edge). The network therefore looks at the central
  7.5 lambda.
- |U|^2 is band-limited to 2 NA / lambda = 1.8 cycles/lambda, so any pitch below 0.278 lambda holds
  all of it. The first op resamples the central 7.5 lambda onto a 48 x 48 grid of pitch
  0.15625 lambda = exactly 8 output pixels (two fixed MatMuls with a Lanczos-6 kernel, lossless for
  a band-limited pattern). This makes the coarse grid and the output grid nest: the output's
  2.5 lambda is the central 16 x 16 of the 48 x 48 grid, and every upsampling step below is an exact
  2x, so skip connections are spatially aligned.
- Output pitch 2.5/128 = 0.0195 lambda resolves the hole (diameter 0.158 lambda = 8.1 pixels), which
  is what a binary map with Pearson correlation as the metric needs; the optical resolution is
  far coarser (0.61 lambda/NA = 0.68 lambda), the sub-Rayleigh detail comes from the prior that
  the scene is made of identical disks.
- Body: a residual U-Net on the 48-grid (48 -> 24 -> 12 -> 6, receptive field covering all
  7.5 lambda, so each output pixel sees every hole's light), decoded back to the 48-grid with skip
  connections, cropped to the central 24 x 24 (16 needed + margin) and then to 16 x 16, and a
  decoder of three 2x DepthToSpace steps with residual blocks to 128 x 128, then a 1-channel
  logit and Sigmoid.
Ops: MatMul (resampling, left in float by the quantizer), Conv, Relu, Add, MaxPool, Resize(nearest),
Concat, Slice, DepthToSpace, Sigmoid.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

IN_SIZE = 128
IN_EXTENT = 22.0
MAP_SIZE = 128
MAP_EXTENT = 2.5
GRID = 48  # coarse grid side
GRID_PITCH = MAP_EXTENT / MAP_SIZE * 8  # 0.15625 lambda
LANCZOS_A = 6


def resample_matrix(n_out: int = GRID, pitch_out: float = GRID_PITCH, n_in: int = IN_SIZE,
                    pitch_in: float = IN_EXTENT / IN_SIZE, a: int = LANCZOS_A) -> np.ndarray:
    """R [n_out, n_in]: Lanczos-a interpolation from the centred input grid onto the centred output grid.

    Both grids have pixel centres at (i + 0.5 - n/2) * pitch. Rows are normalised to sum 1 so a flat
    field stays flat.
    """
    xo = (np.arange(n_out) + 0.5 - n_out / 2) * pitch_out
    xi = (np.arange(n_in) + 0.5 - n_in / 2) * pitch_in
    t = (xo[:, None] - xi[None, :]) / pitch_in
    k = np.sinc(t) * np.sinc(t / a) * (np.abs(t) < a)
    return (k / k.sum(1, keepdims=True)).astype(np.float32)


class ResBlock(nn.Module):
    """x + conv(relu(conv(x))), then ReLU."""

    def __init__(self, c: int, dilation: int = 1) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation)
        self.c2 = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.c2(F.relu(self.c1(x))))


class Stage(nn.Module):
    """conv (channel change) + ReLU, then residual blocks."""

    def __init__(self, cin: int, cout: int, blocks: int = 1, dilations: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.inp = nn.Conv2d(cin, cout, 3, padding=1)
        d = dilations or (1,) * blocks
        self.blocks = nn.Sequential(*[ResBlock(cout, k) for k in d])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(F.relu(self.inp(x)))


class Up2(nn.Module):
    """Exact 2x upsampling: conv to 4*cout channels, DepthToSpace, ReLU, residual block."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, 4 * cout, 3, padding=1)
        self.block = ResBlock(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(F.relu(F.pixel_shuffle(self.conv(x), 2)))


def crop(x: torch.Tensor, n: int, full: int) -> torch.Tensor:
    """Central n x n of a full x full map (sizes as constants, so the ONNX graph has plain Slices)."""
    o = (full - n) // 2
    return x[:, :, o:o + n, o:o + n]


# Named channel plans. "base" is the 12 k-MAC/px network of training stages 1-3; "wide" doubles every
# width (4x the MACs): stage 3 showed more steps of "base" no longer moving the cluster scores.
WIDTHS: dict[str, dict[str, tuple[int, ...]]] = {
    "base": dict(c=(16, 32, 64, 96), d=(64, 32, 24), f=(24, 16, 8)),
    "wide": dict(c=(32, 64, 128, 192), d=(128, 64, 48), f=(48, 32, 16)),
}


class NanoholeUNet(nn.Module):
    def __init__(self, c: tuple[int, ...] = WIDTHS["base"]["c"], d: tuple[int, ...] = WIDTHS["base"]["d"],
                 f: tuple[int, ...] = WIDTHS["base"]["f"]) -> None:
        super().__init__()
        self.config = dict(c=tuple(c), d=tuple(d), f=tuple(f))
        self.register_buffer("resample", torch.from_numpy(resample_matrix()), persistent=False)
        self.enc0 = Stage(1, c[0])
        self.enc1 = Stage(c[0], c[1])
        self.enc2 = Stage(c[1], c[2])
        self.enc3 = Stage(c[2], c[3], dilations=(1, 2))
        self.dec2 = Stage(c[3] + c[2], d[0])
        self.dec1 = Stage(d[0] + c[1], d[1])
        self.dec0 = Stage(d[1] + c[0], d[2])
        self.up1 = Up2(d[2], f[0])
        self.up2 = Up2(f[0], f[1])
        self.up3 = Up2(f[1], f[2])
        self.head = nn.Conv2d(f[2], 1, 3, padding=1)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        # [N,1,128,128] -> [N,1,48,48] on the 0.15625-lambda grid; x 4 keeps early activations O(1)
        g = torch.matmul(torch.matmul(self.resample, x), self.resample.t()) * 4.0
        e0 = self.enc0(g)                                 # 48
        e1 = self.enc1(F.max_pool2d(e0, 2))               # 24
        e2 = self.enc2(F.max_pool2d(e1, 2))               # 12
        e3 = self.enc3(F.max_pool2d(e2, 2))               # 6
        d2 = self.dec2(torch.cat([self._up(e3), e2], 1))  # 12
        d1 = self.dec1(torch.cat([self._up(d2), e1], 1))  # 24
        # only the central 2.5 lambda (16 cells) is decoded; 24 keeps a margin for the 3x3 convs
        d0 = self.dec0(torch.cat([crop(self._up(d1), 24, GRID), crop(e0, 24, GRID)], 1))
        h = self.up3(self.up2(self.up1(crop(d0, 16, 24))))    # 16 -> 32 -> 64 -> 128
        return self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


def nanohole_input(intensity: torch.Tensor) -> torch.Tensor:
    """nanoholeInput() of src/optics/nanohole.ts: (I - min) / (max - min) per frame; a flat frame -> 0."""
    n = intensity.shape[0]
    flat = intensity.reshape(n, -1)
    lo = flat.min(1, keepdim=True).values
    span = flat.max(1, keepdim=True).values - lo
    out = torch.where(span > 0, (flat - lo) / span.clamp_min(1e-30), torch.zeros_like(flat))
    return out.reshape(intensity.shape)


def macs_per_frame(model: nn.Module) -> float:
    """Conv + MatMul multiply-accumulates of one 128x128 frame."""
    from macs import macs_per_input_pixel

    conv = macs_per_input_pixel(model, IN_SIZE) * IN_SIZE * IN_SIZE
    matmul = GRID * IN_SIZE * IN_SIZE + GRID * IN_SIZE * GRID
    return conv + matmul


def receptive_field_radius(model: "NanoholeUNet | None" = None) -> int:
    """Radius (input px, from the input centre) of the input region any output pixel depends on."""
    from macs import input_support

    support = input_support(model or NanoholeUNet(), IN_SIZE, lambda m, x: m.logits(x).sum())
    ys, xs = torch.nonzero(support, as_tuple=True)
    c = IN_SIZE / 2 - 0.5
    return int(math.ceil(max((xs - c).abs().max().item(), (ys - c).abs().max().item())))


def build(width: str) -> NanoholeUNet:
    if width not in WIDTHS:
        raise SystemExit(f"unknown width {width!r}; one of {', '.join(WIDTHS)}")
    return NanoholeUNet(**WIDTHS[width])


# Convs whose input is a concatenation [a, b]: the first part's width in the plan (key, index).
CONCAT_INPUTS = {"dec2.inp": ("c", 3), "dec1.inp": ("d", 0), "dec0.inp": ("d", 1)}


@torch.no_grad()
def widen(old: NanoholeUNet, new: NanoholeUNet) -> NanoholeUNet:
    """Copy `old` into the wider `new` so that `new` computes exactly what `old` does.

    Every conv's old block goes into the leading channels (concatenated inputs: into each part's
    leading channels; DepthToSpace keeps channel c's four sub-pixels at 4c..4c+3, a prefix too).
    Old output channels get zero weights from the new input channels, so the new channels (random
    init) start as features the old ones ignore; training then uses them (Net2Net-style widening).
    """
    convs_new = dict(new.named_modules())
    for name, conv in old.named_modules():
        if not isinstance(conv, nn.Conv2d):
            continue
        target = convs_new[name]
        o_old, i_old = conv.weight.shape[:2]
        if name in CONCAT_INPUTS:
            key, k = CONCAT_INPUTS[name]
            a_old, a_new = old.config[key][k], new.config[key][k]
            in_idx = list(range(a_old)) + list(range(a_new, a_new + i_old - a_old))
        else:
            in_idx = list(range(i_old))
        target.weight[:o_old] = 0.0
        target.weight[:o_old, in_idx] = conv.weight
        target.bias[:o_old] = conv.bias
    return new


def load_trained(weights: "str | Path") -> NanoholeUNet:
    """Weights saved as {"model": state, "config": channel plan} or, from stages 1-3, a bare "base" state."""
    state = torch.load(weights)
    model = NanoholeUNet(**state.get("config", {})) if "model" in state else NanoholeUNet()
    model.load_state_dict(state["model"] if "model" in state else state)
    model.eval()
    return model


if __name__ == "__main__":
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    m = build(sys.argv[1] if len(sys.argv) > 1 else "base")
    print(f"params: {sum(p.numel() for p in m.parameters())}")
    macs = macs_per_frame(m)
    print(f"MACs per frame: {macs / 1e6:.1f} M; per input pixel: {macs / IN_SIZE ** 2:.0f}")
    print(f"receptive field radius (input px from the centre): {receptive_field_radius()}")
    x = torch.rand(8, 1, IN_SIZE, IN_SIZE)
    opt = torch.optim.Adam(m.parameters())
    for k in range(4):
        t = time.time()
        y = m.logits(x)
        loss = y.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        print(f"train step batch 8: {time.time() - t:.3f} s")
    print(math.prod(y.shape[-2:]))
