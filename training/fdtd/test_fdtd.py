#!/usr/bin/python3
"""Unit tests of the FDTD pipeline: /usr/bin/python3 -m unittest training/fdtd/test_fdtd.py

The propagation, material fit, plan and geometry tests need only numpy/scipy; the Meep test is
skipped when python3-meep is not installed. (The CI checks the committed data set with
tests/unit/training/fdtd-set.test.ts, which needs neither.)
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdtd  # noqa: E402
import make_set  # noqa: E402

HAVE_MEEP = importlib.util.find_spec("meep") is not None


def synthetic_near_field(holes, res=40.0, cell=3.4):
    """A unit field inside each disk on the monitor grid (a Kirchhoff screen sampled like Meep's DFT)."""
    n = round(cell * res)
    x = (np.arange(n) - n / 2) / res
    xx, yy = np.meshgrid(x, x, indexing="ij")
    ex = np.zeros((n, n), complex)
    for hx, hy in holes:
        ex[(xx - hx) ** 2 + (yy - hy) ** 2 <= fdtd.HOLE_RADIUS**2] = 1.0
    zero = np.zeros_like(ex)
    return {"x": x, "y": x, "ex": ex, "ey": zero, "ez": zero, "cell": n / res, "monitor_gap": 0.0}


class Propagation(unittest.TestCase):
    def test_matches_scalar_kirchhoff(self):
        holes = [(0.3, -0.2), (-0.5, 0.4)]
        nf = synthetic_near_field(holes, res=60.0)
        zero = {c: np.zeros((1, 1)) for c in ("ex", "ey", "ez")}
        got = fdtd.propagate(nf, zero, scattered_only=True)
        ref = fdtd.scalar_intensity(holes)
        self.assertGreater(np.corrcoef(got.ravel(), ref.ravel())[0, 1], 0.995)
        # a sampled disk has the right area only on average: the peak agrees to a few per cent
        self.assertAlmostEqual(got.max() / ref.max(), 1.0, delta=0.08)

    def test_orientation_rows_are_y(self):
        holes = [(2.0, -1.0)]
        got = fdtd.propagate(synthetic_near_field(holes, cell=5.0), {c: np.zeros((1, 1)) for c in ("ex", "ey", "ez")}, scattered_only=True)
        row, col = np.unravel_index(np.argmax(got), got.shape)
        pitch = fdtd.INPUT_EXTENT / fdtd.INPUT_SIZE
        self.assertEqual(col, math.floor(2.0 / pitch + 64))
        self.assertEqual(row, math.floor(-1.0 / pitch + 64))

    def test_background_is_added_uniformly(self):
        nf = synthetic_near_field([], res=20.0)
        bg = {"ex": np.full((2, 2), 0.5 + 0.5j), "ey": np.zeros((2, 2)), "ez": np.zeros((2, 2))}
        nf["ex"] = nf["ex"] + (0.5 + 0.5j)
        got = fdtd.propagate(nf, bg)
        np.testing.assert_allclose(got, 0.5, rtol=1e-9)


class Material(unittest.TestCase):
    def test_drude_matches_target(self):
        fp, gamma = fdtd.drude_parameters(fdtd.cr_target_eps())
        eps = fdtd.EPS_INF - fp * fp / (1 + 1j * gamma)
        self.assertAlmostEqual(abs(eps - fdtd.cr_target_eps()), 0.0, places=9)
        n = np.sqrt(eps)
        self.assertTrue(3.1 <= n.real <= 3.2 and 3.3 <= n.imag <= 3.5)

    def test_layout_snaps_to_grid(self):
        for res in (6.33 * 5, 30.0, 50.0):
            zl = fdtd.z_layout(res)
            for key in ("thickness", "monitor_gap"):
                self.assertAlmostEqual(zl[key] * res, round(zl[key] * res), places=9)
            self.assertAlmostEqual((zl["film0"] + zl["sz"] / 2) * res, round((zl["film0"] + zl["sz"] / 2) * res), places=9)


class Plan(unittest.TestCase):
    def test_plan_is_deterministic_and_meets_the_contract(self):
        a = make_set.plan(16, 60, 4)
        b = make_set.plan(16, 70, 4)
        self.assertEqual(a, b[:60])
        for e in b:
            holes = e["holes"]
            self.assertTrue(2 <= len(holes) <= 10)
            for x, y in holes:
                self.assertLessEqual(max(abs(x), abs(y)), fdtd.AREA / 2 - fdtd.HOLE_RADIUS + 1e-12)
            for i in range(len(holes)):
                for j in range(i + 1, len(holes)):
                    self.assertGreaterEqual(math.dist(holes[i], holes[j]), fdtd.HOLE_DIAMETER)
            if e["kind"] == "pair":
                self.assertAlmostEqual(math.dist(*holes), e["distance"], places=9)
            else:
                self.assertEqual(fdtd.largest_cluster(holes), e["target"])


@unittest.skipUnless(HAVE_MEEP, "python3-meep is not installed")
class Meep(unittest.TestCase):
    def test_bare_film_transmission(self):
        from validate import airy_t

        res = 6.33 * 5
        film = fdtd.near_field([], res, cell=0.2, settle=6)
        empty = fdtd.near_field([], res, cell=0.2, film=False, settle=6)
        t = np.mean(film["ex"]) / np.mean(empty["ex"])
        ref = airy_t(complex(*fdtd.CR_NK), 100 / 633)
        self.assertAlmostEqual(abs(t) ** 2 / abs(ref) ** 2, 1.0, delta=0.05)


if __name__ == "__main__":
    unittest.main()
