#!/usr/bin/python3
"""Solver checks with known answers; prints a log (committed as training/fdtd/validation.txt).

    /usr/bin/python3 training/fdtd/validate.py | tee training/fdtd/validation.txt

1. Chromium permittivity at 633 nm: meep.materials.Cr versus the literature range and our Drude pole.
2. Bare 100 nm Cr film, normal incidence: |t|² and arg t from FDTD (film run / empty run on the same
   grid, periodic 1-D-like cell) against the exact thin-film (Airy / transfer-matrix) formula, at
   several resolutions.
3. One hole: the FDTD scattered intensity at H = 1 λ (NA 0.9, 22 λ grid) against the scalar Kirchhoff
   result for the same disk (Pearson correlation, widths along x and y). A small hole is a vector
   (dipole-like) source, so the two differ; this checks position, scale and the propagation chain.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdtd  # noqa: E402


def airy_t(n: complex, d: float) -> complex:
    """Field transmission of an air | film (index n, thickness d λ) | air slab at normal incidence,
    relative to the same thickness of air (what the FDTD ratio film/empty measures)."""
    k0 = 2 * math.pi
    r12 = (1 - n) / (1 + n)
    r23 = (n - 1) / (n + 1)
    t12 = 2 / (1 + n)
    t23 = 2 * n / (n + 1)
    ph = np.exp(1j * k0 * n * d)
    return t12 * t23 * ph / (1 + r12 * r23 * ph * ph) * np.exp(-1j * k0 * d)


def fwhm(profile: np.ndarray, pitch: float) -> float:
    p = profile / profile.max()
    above = np.where(p >= 0.5)[0]
    return (above[-1] - above[0] + 1) * pitch


def main() -> None:
    fdtd.set_threads()
    import meep as mp
    from meep.materials import Cr

    print("# 1. Cr permittivity at 633 nm (frequency 1 in our units = 1/0.633 um^-1 in meep.materials)")
    e_lib = complex(Cr.epsilon(1 / 0.633)[0, 0])
    n_lib = np.sqrt(e_lib)
    print(f"meep.materials.Cr: eps = {e_lib.real:.3f}{e_lib.imag:+.3f}i, n + ik = {n_lib.real:.3f}{n_lib.imag:+.3f}i")
    print(f"literature range (brief): n 3.1-3.2, k 3.3-3.5 -> target {fdtd.CR_NK[0]} + {fdtd.CR_NK[1]}i")
    e_ours = complex(fdtd.chromium().epsilon(1.0)[0, 0])
    fp, gamma = fdtd.drude_parameters(fdtd.cr_target_eps())
    n_ours = np.sqrt(e_ours)
    print(f"our Drude pole (eps_inf {fdtd.EPS_INF}, f_p {fp:.4f}, gamma {gamma:.4f}): eps(1) = {e_ours.real:.4f}{e_ours.imag:+.4f}i,"
          f" n + ik = {n_ours.real:.4f}{n_ours.imag:+.4f}i")

    print("\n# 2. bare film |t|^2 and arg t (relative to air) vs the thin-film formula")
    t_ref = airy_t(complex(*fdtd.CR_NK), 100 / 633)
    print(f"exact (n = {fdtd.CR_NK[0]} + {fdtd.CR_NK[1]}i, d = 100 nm): |t|^2 = {abs(t_ref) ** 2:.4e}, arg t = {np.angle(t_ref):.4f} rad")
    print("cells/lambda  film px  |t|^2(FDTD)  ratio to exact  arg t  (phase error rad)")
    for m in (5, 6, 8, 12):
        res = 6.33 * m
        bg = fdtd.near_field([], res, cell=0.4, settle=fdtd.DEFAULT_SETTLE)
        inc = fdtd.near_field([], res, cell=0.4, film=False, settle=fdtd.DEFAULT_SETTLE)
        t = complex(np.mean(bg["ex"]) / np.mean(inc["ex"]))
        print(f"{res:12.2f}  {m:7d}  {abs(t) ** 2:.4e}   {abs(t) ** 2 / abs(t_ref) ** 2:.4f}        {np.angle(t):.4f} ({np.angle(t / t_ref):+.4f})",
              flush=True)
    # a film that is not a whole number of cells thick: what happens without the snapping in z_layout
    res = 30.0
    zl = fdtd.z_layout(res)
    print(f"(at {res:g} cells/lambda the film snaps to {zl['thickness'] * res:.0f} px = {zl['thickness'] * 633:.1f} nm)")

    print("\n# 3. one hole at (0.3, -0.2): FDTD scattered intensity vs scalar Kirchhoff, H = 1, NA 0.9")
    res = fdtd.DEFAULT_RESOLUTION
    holes = [(0.3, -0.2)]
    bg = fdtd.near_field([], res, cell=0.4, settle=fdtd.DEFAULT_SETTLE)
    nf = fdtd.near_field(holes, res, cell=fdtd.DEFAULT_CELL, settle=fdtd.DEFAULT_SETTLE)
    i_f = fdtd.propagate(nf, bg, scattered_only=True)
    i_s = fdtd.scalar_intensity(holes)
    pearson = float(np.corrcoef(i_f.ravel(), i_s.ravel())[0, 1])
    g = fdtd.grid_centres()
    pitch = g[1] - g[0]
    pf = np.unravel_index(np.argmax(i_f), i_f.shape)
    ps = np.unravel_index(np.argmax(i_s), i_s.shape)
    print(f"cells/lambda {res:.2f}, cell {fdtd.DEFAULT_CELL} lambda, {nf['seconds']:.1f} s")
    print(f"peak pixel (row, col): FDTD {tuple(int(v) for v in pf)}, scalar {tuple(int(v) for v in ps)}"
          f" (hole at col x = {holes[0][0]}, row y = {holes[0][1]} -> pixel ({int(np.floor(holes[0][1] / pitch + 64))}, {int(np.floor(holes[0][0] / pitch + 64))}))")
    print(f"Pearson(FDTD scattered, scalar) over the 128x128 grid = {pearson:.4f}")
    for name, img, p in (("FDTD", i_f, pf), ("scalar", i_s, ps)):
        print(f"{name:7s} FWHM along x = {fwhm(img[p[0], :], pitch):.3f} lambda, along y = {fwhm(img[:, p[1]], pitch):.3f} lambda")
    tot = fdtd.propagate(nf, bg)
    direct = abs(np.mean(bg["ex"])) ** 2
    print(f"with the direct transmission: peak / background intensity = {tot.max() / direct:.3f},"
          f" min / background = {tot.min() / direct:.3f}; scattered peak / background = {i_f.max() / direct:.3f}")
    # far-field check: the hole's angular spectrum inside NA 0.9 (per component)
    x, y, fields = fdtd.unique_period(nf)
    f = np.linspace(-0.9, 0.9, 7)
    fwd_x = np.exp(-2j * np.pi * np.outer(f, x))
    fwd_y = np.exp(-2j * np.pi * np.outer(f, y))
    spec = {c: fwd_x @ (fields[c] - np.mean(bg[c])) @ fwd_y.T for c in ("ex", "ey", "ez")}
    p = sum(abs(spec[c]) ** 2 for c in spec)
    print("angular spectrum sum_c |E_c(fx, fy)|^2 / value at f = 0 (rows fx, cols fy = -0.9..0.9 step 0.3; scalar disk: 0.97-1.00 inside NA):")
    for row in p / p[3, 3]:
        print("  " + " ".join(f"{v:6.3f}" for v in row))
    del mp


if __name__ == "__main__":
    main()
