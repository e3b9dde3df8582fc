"""DAMN emitter super-resolution network: a small U-Net with a 4x sub-pixel head.

Fully convolutional with zero 'same' padding and no global operations, because the runtime tiles
large frames with a halo and normalises the stitched output to unit sum itself. The body exports
to QDQ-friendly ONNX ops (Conv, Relu, MaxPool, Resize(nearest), Concat); the head is two convs on
the camera grid, a mass map through Softplus and 16 sub-pixel logits through a per-pixel softmax
(local, over channels, so tiling stays exact), multiplied and rearranged by DepthToSpace.
The softmax is spelled out (ReduceMax, Sub, Exp, ReduceSum, Div): onnxruntime runs an ONNX Softmax
over the channel axis of an NCHW tensor through transposes, and that alone took 45% of the INT8
model's time on a 256x256 frame; the spelled-out form streams over the channels.

Why that head: the first version ended in ReLU(conv → 16 channels). A sub-pixel channel whose
pre-activation was negative got no gradient, so once the net put an emitter in the wrong quarter
pixel nothing pulled it back; its sub-pixel placement plateaued far from what the photons allow.
Softplus and Softmax pass gradient everywhere, and the softmax makes the sub-pixel choice a
classification that a cross-entropy term can train directly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

SCALE = 4
# The contract normalises a 50x50 frame to unit sum, so a typical input pixel is ~1/2500.
# Scaling by 2500 inside the first conv keeps activations O(1) without an extra graph op.
INPUT_GAIN = 2500.0


def conv(cin: int, cout: int, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)


class Block(nn.Sequential):
    def __init__(self, cin: int, cout: int, dilations: tuple[int, ...] = (1, 1)) -> None:
        layers: list[nn.Module] = []
        c = cin
        for d in dilations:
            layers += [conv(c, cout, d), nn.ReLU(inplace=True)]
            c = cout
        super().__init__(*layers)


class DamnNet(nn.Module):
    def __init__(self, c0: int = 16, c1: int = 32, c2: int = 48, c3: int = 96, cdec0: int = 32) -> None:
        super().__init__()
        self.input_gain = INPUT_GAIN
        self.enc0 = Block(1, c0)
        self.enc1 = Block(c0, c1)
        self.enc2 = Block(c1, c2)
        self.enc3 = Block(c2, c3, (1, 2, 1))
        self.dec2 = Block(c3 + c2, c2)
        self.dec1 = Block(c2 + c1, c1)
        self.dec0 = Block(c1 + c0, cdec0, (1, 1, 1))
        self.mass = nn.Conv2d(cdec0, 1, 3, padding=1)
        self.subpixel = nn.Conv2d(cdec0, SCALE * SCALE, 3, padding=1)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Camera-grid emitter mass (>= 0) and the 16 sub-pixel logits, before they are combined."""
        if self.input_gain != 1.0:
            x = x * self.input_gain
        e0 = self.enc0(x)
        e1 = self.enc1(F.max_pool2d(e0, 2))
        e2 = self.enc2(F.max_pool2d(e1, 2))
        e3 = self.enc3(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self._up(e3), e2], 1))
        d1 = self.dec1(torch.cat([self._up(d2), e1], 1))
        d0 = self.dec0(torch.cat([self._up(d1), e0], 1))
        return F.softplus(self.mass(d0)), self.subpixel(d0)

    @staticmethod
    def combine(mass: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        e = torch.exp(logits - logits.amax(1, keepdim=True))
        return F.pixel_shuffle(e * (mass / e.sum(1, keepdim=True)), SCALE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine(*self.heads(x))

    def sharpen_subpixel(self, t: float) -> None:
        """Multiply the sub-pixel logits by t (t > 1 sharpens the per-pixel softmax), inside the conv.

        The cross-entropy term trains calibrated sub-pixel probabilities, but against a one-hot truth
        the MAE of a map is lowest with the mass on the most probable sub-pixel, so a sharper softmax
        at inference scores better. Folded into the weights, it costs nothing at run time.
        """
        with torch.no_grad():
            self.subpixel.weight.mul_(t)
            self.subpixel.bias.mul_(t)

    def fold_input_gain(self) -> None:
        """Move the input gain into the first conv's weights so the exported graph starts with Conv."""
        with torch.no_grad():
            self.enc0[0].weight.mul_(self.input_gain)
        self.input_gain = 1.0


def load_trained(weights: "str | Path") -> DamnNet:
    """A DamnNet with these weights (state_dict file), in eval mode."""
    model = DamnNet()
    model.load_state_dict(torch.load(weights))
    model.eval()
    return model


def normalise_input(frame: torch.Tensor) -> torch.Tensor:
    """Contract normalisation: subtract the frame minimum, unit sum, times H*W/2500. frame: [N,1,H,W]."""
    n, _, h, w = frame.shape
    flat = frame.reshape(n, -1)
    flat = flat - flat.min(dim=1, keepdim=True).values
    flat = flat / flat.sum(dim=1, keepdim=True).clamp_min(1e-12)
    return (flat * (h * w / 2500.0)).reshape(frame.shape)


def unit_sum(m: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    n = m.shape[0]
    s = m.reshape(n, -1).sum(dim=1).clamp_min(eps)
    return m / s.view(n, 1, 1, 1)
