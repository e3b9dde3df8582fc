#!/usr/bin/python3
"""Convergence of one sample in resolution, settling time and lateral period; hole sub-pixel offset.

    /usr/bin/python3 training/fdtd/convergence.py | tee training/fdtd/convergence.txt

Case: two holes at centre distance 0.2 λ (nearly touching), orientation 30°, midpoint (0.1, -0.2).
Each variant's 22 λ intensity (H = 1 λ, NA 0.9) is normalised to its maximum and compared with the
default run (and the finest run): max |difference|, relative L2 difference, Pearson correlation;
'total' is the recorded intensity, 'scat' the holes' scattered field alone.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdtd  # noqa: E402


def compare(a: np.ndarray, b: np.ndarray) -> str:
    u, v = a / a.max(), b / b.max()
    rel = np.linalg.norm(u - v) / np.linalg.norm(v)
    return f"max|d| {np.abs(u - v).max():.4f}  relL2 {rel:.4f}  Pearson {np.corrcoef(u.ravel(), v.ravel())[0, 1]:.4f}"


def run(holes, res, settle, cell):
    bg = fdtd.near_field([], res, cell=0.4, settle=settle)
    nf = fdtd.near_field(holes, res, cell=cell, settle=settle)
    direct = abs(np.mean(bg["ex"])) ** 2
    i_t = fdtd.propagate(nf, bg)
    i_s = fdtd.propagate(nf, bg, scattered_only=True)
    return i_t, i_s, nf["seconds"], i_s.max() / direct


def main() -> None:
    fdtd.set_threads()
    d, th = 0.2, math.radians(30)
    holes = [(0.1 - d / 2 * math.cos(th), -0.2 - d / 2 * math.sin(th)), (0.1 + d / 2 * math.cos(th), -0.2 + d / 2 * math.sin(th))]
    r0, s0, c0 = fdtd.DEFAULT_RESOLUTION, fdtd.DEFAULT_SETTLE, fdtd.DEFAULT_CELL
    variants = [
        ("default", r0, s0, c0),
        ("settle 14", r0, 14.0, c0),
        ("cell 4.4", r0, s0, 4.4),
        ("6 px/100 nm", 6.33 * 6, s0, c0),
        ("7 px/100 nm", 6.33 * 7, s0, c0),
    ]
    out = {}
    print(f"default: {r0:.2f} cells/lambda, settle {s0} periods, cell {c0} lambda")
    for name, res, settle, cell in variants:
        out[name] = run(holes, res, settle, cell)
        i_t, i_s, secs, ratio = out[name]
        print(f"{name:12s} ({res:.2f} cells/lambda, settle {settle}, cell {cell}): {secs:.1f} s, scattered peak / direct = {ratio:.4f}", flush=True)
        if name != "default":
            print(f"   vs default  total: {compare(i_t, out['default'][0])}")
            print(f"               scat:  {compare(i_s, out['default'][1])}", flush=True)
    fine = out["7 px/100 nm"]
    for name in ("default", "6 px/100 nm"):
        print(f"{name} vs 7 px/100 nm  total: {compare(out[name][0], fine[0])}")
        print(f"{' ' * len(name)}                scat:  {compare(out[name][1], fine[1])}")
    # staircasing: one hole at a pixel corner vs shifted by half a pixel (default resolution)
    px = 1 / r0
    a = run([(0.0, 0.0)], r0, s0, c0)
    b = run([(0.5 * px, 0.5 * px)], r0, s0, c0)
    print(f"one hole at (0,0) vs shifted by half a cell: scattered peak / direct {a[3]:.4f} vs {b[3]:.4f}"
          f" ({(b[3] / a[3] - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    main()
