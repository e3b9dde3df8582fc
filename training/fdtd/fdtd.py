"""Full-Maxwell (Meep FDTD) nanohole sample: a 100 nm chromium film with holes of diameter λ/6.33.

Units: the wavelength λ = 633 nm is the unit length (Meep a = λ), so the source frequency is 1.

Geometry (z is the optical axis, light travels towards +z):
  PML | air | source plane | Cr film (thickness 0.158 λ) with air holes | monitor plane | air | PML
Lateral boundaries are periodic (Bloch k = 0): the film is laterally infinite, as in the experiment,
and the dispersive metal never enters a PML (the PML is only on the two z faces, in air). The holes
sit in the central 2.2 λ square of a cell of side `cell` (3.4 λ by default), so every hole is at
least 0.6 λ from the cell edge and 1.2 λ from its nearest periodic image; 3.4 λ also keeps every
diffraction order of the artificial period away from grazing at frequency 1 (|G|/k = 0.93 and 1.06
for the nearest orders), so no Rayleigh anomaly rings in the cell.

Source: a CW x-polarised plane wave (E along x) with a 1-period smooth turn-on; after the fields
are steady, a DFT monitor accumulates Ex, Ey, Ez at frequency 1 over an integer number of periods
on the plane `MONITOR_GAP` above the exit face. The field of the same run without holes (the
bare film's direct transmission, a uniform plane wave) is subtracted, the remaining scattered
field (localised around the holes) is Fourier transformed as if zero-padded to PAD_EXTENT λ, each
Cartesian component is propagated with the exact free-space angular spectrum to H = 1 λ above the
film and cut to the NA = 0.9 pupil, the uniform transmitted wave is added back, and
|Ex|² + |Ey|² + |Ez|² is evaluated at the centres of the contract's 128 × 128 grid over 22 λ.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

WAVELENGTH_NM = 633.0
HOLE_DIAMETER = 1 / 6.33  # λ
HOLE_RADIUS = HOLE_DIAMETER / 2
FILM_THICKNESS = 100.0 / WAVELENGTH_NM  # 0.158 λ
AREA = 2.2
HEIGHT_H = 1.0
NA = 0.9
INPUT_SIZE = 128
INPUT_EXTENT = 22.0
LINK = 0.61 / NA  # sub-Rayleigh link distance (0.678 λ)

# Chromium at 633 nm. Target n + ik = 3.15 + 3.40i: the centre of the literature range for
# evaporated Cr at 633 nm (n 3.1-3.2, k 3.3-3.5, e.g. Johnson & Christy 1974 tabulations).
# meep.materials.Cr (Rakic 1998 Lorentz-Drude fit) gives 3.44 + 4.34i there (validate.py prints
# it), outside that range, so we use a one-pole Drude model matched exactly at frequency 1. A
# CW (single-frequency) simulation only sees eps(1); a Drude pole is unconditionally stable in
# Meep's time stepping (a negative Re eps cannot be given as a plain conductive dielectric).
CR_NK = (3.15, 3.40)
EPS_INF = 4.0

PML = 0.5
SRC_GAP = 0.3  # source plane below the film's entrance face
MONITOR_GAP = 0.05  # monitor plane above the exit face
TOP_GAP = 0.3  # air between monitor plane and top PML
BOTTOM_GAP = 0.15  # air between source plane and bottom PML
DEFAULT_RESOLUTION = 6.33 * 5  # cells per λ: 5 cells across the 100 nm film and the 100 nm hole
DEFAULT_CELL = 3.4
DEFAULT_SETTLE = 8.0
PAD_EXTENT = 44.0  # period of the Fourier series the scattered field is transformed on (λ)


def cr_target_eps() -> complex:
    n, k = CR_NK
    return complex(n, k) ** 2


def drude_parameters(eps: complex, eps_inf: float = EPS_INF) -> tuple[float, float]:
    """(plasma frequency f_p, damping gamma) with eps_inf - f_p²/(1 + i·gamma) = eps at f = 1.

    Meep's Drude term is sigma·f_n²/(-f² - i f gamma); with f_n = 1, sigma = f_p² this is the
    expression above at f = 1 (Meep's e^{-iωt} convention, Im eps > 0 is loss)."""
    x = eps_inf - eps  # = f_p² / (1 + i gamma)
    gamma = -x.imag / x.real
    if x.real <= 0 or gamma <= 0:
        raise ValueError(f"eps {eps} cannot be matched by a Drude pole with eps_inf {eps_inf}")
    fp2 = x.real * (1 + gamma * gamma)
    return math.sqrt(fp2), gamma


def chromium():
    import meep as mp

    fp, gamma = drude_parameters(cr_target_eps())
    return mp.Medium(
        epsilon=EPS_INF,
        E_susceptibilities=[mp.DrudeSusceptibility(frequency=1.0, gamma=gamma, sigma=fp * fp)],
    )


def z_layout(resolution: float, shift: float = 0.0) -> dict[str, float]:
    """z positions (cell centred on 0). Every gap is a whole number of pixels and the film faces sit
    `shift` pixels off the grid planes z = -sz/2 + k/resolution: the film's transmission (skin depth
    0.047 λ) depends strongly on where its faces fall on the grid (validate.py)."""
    px = 1.0 / resolution

    def snap(v: float) -> float:
        return max(1, round(v * resolution)) * px

    pml = snap(PML)
    inner = snap(BOTTOM_GAP) + snap(SRC_GAP) + snap(FILM_THICKNESS) + snap(MONITOR_GAP) + snap(TOP_GAP)
    sz = inner + 2 * pml
    z_src = -sz / 2 + pml + snap(BOTTOM_GAP)
    z_film0 = z_src + snap(SRC_GAP) + shift * px
    z_film1 = z_film0 + snap(FILM_THICKNESS)
    z_mon = z_src + snap(SRC_GAP) + snap(FILM_THICKNESS) + snap(MONITOR_GAP)
    return {"sz": sz, "pml": pml, "src": z_src, "film0": z_film0, "film1": z_film1, "mon": z_mon, "thickness": z_film1 - z_film0, "monitor_gap": z_mon - z_film1}


def near_field(
    holes: list[tuple[float, float]],
    resolution: float,
    cell: float = 3.4,
    film: bool = True,
    settle: float = 8.0,
    periods: int = 2,
    courant: float | None = None,
    shift: float = 0.0,
) -> dict:
    """Run one FDTD simulation; return the complex Ex, Ey, Ez DFT amplitudes at frequency 1 on the
    monitor plane (arrays indexed [ix, iy]) and their x, y coordinates."""
    import meep as mp

    mp.verbosity(0)
    if courant is None:
        # a whole number of time steps per optical period, so the DFT windows cover whole periods
        courant = resolution / math.ceil(2 * resolution)
    zl = z_layout(resolution, shift)
    # the lateral period must be a whole number of cells and the source must span exactly that
    # period: a plane source a fraction of a cell short of the period is a grating (measured: 4 %
    # amplitude ripple and a spurious Ez at 3.4 λ, 31.65 cells/λ before this snapping)
    cell = round(cell * resolution) / resolution
    geometry = []
    if film:
        cr = chromium()
        zc = (zl["film0"] + zl["film1"]) / 2
        geometry.append(mp.Block(size=mp.Vector3(mp.inf, mp.inf, zl["thickness"]), center=mp.Vector3(0, 0, zc), material=cr))
        for x, y in holes:
            geometry.append(mp.Cylinder(radius=HOLE_RADIUS, height=zl["thickness"], center=mp.Vector3(x, y, zc), material=mp.air))
    sources = [
        mp.Source(
            mp.ContinuousSource(frequency=1.0, width=1.0),
            component=mp.Ex,
            center=mp.Vector3(0, 0, zl["src"]),
            size=mp.Vector3(cell, cell, 0),
        )
    ]
    sim = mp.Simulation(
        cell_size=mp.Vector3(cell, cell, zl["sz"]),
        resolution=resolution,
        boundary_layers=[mp.PML(zl["pml"], direction=mp.Z)],
        geometry=geometry,
        sources=sources,
        k_point=mp.Vector3(),
        Courant=courant,
    )
    t0 = time.time()
    sim.run(until=settle)
    mon = mp.Volume(center=mp.Vector3(0, 0, zl["mon"]), size=mp.Vector3(cell, cell, 0))
    dft = sim.add_dft_fields([mp.Ex, mp.Ey, mp.Ez], 1.0, 0, 1, where=mon)
    sim.run(until=periods)
    out = {c: sim.get_dft_array(dft, comp, 0) for c, comp in (("ex", mp.Ex), ("ey", mp.Ey), ("ez", mp.Ez))}
    x, y, _z, _w = sim.get_array_metadata(dft_cell=dft)
    out["x"] = np.asarray(x, dtype=float)
    out["y"] = np.asarray(y, dtype=float)
    out["cell"] = sim.cell_size.x
    out["monitor_gap"] = zl["monitor_gap"]
    out["seconds"] = time.time() - t0
    out["meep_time"] = sim.meep_time()
    sim.reset_meep()
    return out


def grid_centres(size: int = INPUT_SIZE, extent: float = INPUT_EXTENT) -> np.ndarray:
    pitch = extent / size
    return (np.arange(size) + 0.5 - size / 2) * pitch


def unique_period(nf: dict) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Meep's DFT plane over the whole periodic cell repeats the points at both ends; keep one period
    (-L/2 <= x < L/2)."""
    cell = nf["cell"]
    eps = 1e-9
    kx = (nf["x"] >= -cell / 2 - eps) & (nf["x"] < cell / 2 - eps)
    ky = (nf["y"] >= -cell / 2 - eps) & (nf["y"] < cell / 2 - eps)
    fields = {c: np.asarray(nf[c])[np.ix_(kx, ky)] for c in ("ex", "ey", "ez")}
    return nf["x"][kx], nf["y"][ky], fields


def propagate(
    nf: dict,
    background: dict,
    height: float = HEIGHT_H,
    na: float = NA,
    pad: float = PAD_EXTENT,
    scattered_only: bool = False,
) -> np.ndarray:
    """Intensity (rows ↔ y, columns ↔ x) at `height` above the film on the contract grid.

    nf, background: near_field() results (the same resolution and z layout); background is the
    bare film (uniform), subtracted so that only the localised scattered field is padded."""
    x, y, fields = unique_period(nf)
    dx = float(np.mean(np.diff(x)))
    dy = float(np.mean(np.diff(y)))
    m = int(math.floor(na * pad))
    f = np.arange(-m, m + 1) / pad
    fx, fy = np.meshgrid(f, f, indexing="ij")
    fr2 = fx**2 + fy**2
    pupil = fr2 <= na * na
    dz = height - nf["monitor_gap"]  # the monitor plane is this far above the exit face
    transfer = np.where(pupil, np.exp(2j * np.pi * dz * np.sqrt(np.maximum(0.0, 1 - fr2))), 0)
    fwd_x = np.exp(-2j * np.pi * np.outer(f, x)) * dx  # [f, ix]
    fwd_y = np.exp(-2j * np.pi * np.outer(f, y)) * dy
    g = grid_centres()
    inv = np.exp(2j * np.pi * np.outer(g, f)) / pad  # [p, f]
    total = np.zeros((g.size, g.size))
    for c in ("ex", "ey", "ez"):
        bg = complex(np.mean(background[c]))
        scat = fields[c] - bg  # [ix, iy]
        spec = fwd_x @ scat @ fwd_y.T  # [fx, fy]
        spec = spec * transfer
        field = inv @ spec @ inv.T  # [px, py]
        if not scattered_only:
            field = field + bg * np.exp(2j * np.pi * dz)
        total += np.abs(field.T) ** 2  # -> [py, px]: rows ↔ y
    return total


def scalar_intensity(holes: list[tuple[float, float]], height: float = HEIGHT_H, na: float = NA, pad: float = PAD_EXTENT) -> np.ndarray:
    """Scalar Kirchhoff reference (opaque screen, unit field in each disk), same propagation and grid:
    the disk's Fourier transform is analytic, so this needs no near-field sampling."""
    from scipy.special import j1

    m = int(math.floor(na * pad))
    f = np.arange(-m, m + 1) / pad
    fx, fy = np.meshgrid(f, f, indexing="ij")
    fr = np.sqrt(fx**2 + fy**2)
    a = HOLE_RADIUS
    arg = 2 * np.pi * a * fr
    disk = np.where(arg > 1e-12, np.pi * a * a * 2 * j1(np.maximum(arg, 1e-12)) / np.maximum(arg, 1e-12), np.pi * a * a)
    spec = np.zeros_like(fx, dtype=complex)
    for hx, hy in holes:
        spec += disk * np.exp(-2j * np.pi * (fx * hx + fy * hy))
    transfer = np.where(fr <= na, np.exp(2j * np.pi * height * np.sqrt(np.maximum(0.0, 1 - fr**2))), 0)
    g = grid_centres()
    inv = np.exp(2j * np.pi * np.outer(g, f)) / pad
    field = inv @ (spec * transfer) @ inv.T
    return np.abs(field.T) ** 2


def largest_cluster(holes: list[tuple[float, float]], link: float = LINK) -> int:
    n = len(holes)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if math.dist(holes[i], holes[j]) < link:
                parent[find(i)] = find(j)
    sizes: dict[int, int] = {}
    for i in range(n):
        r = find(i)
        sizes[r] = sizes.get(r, 0) + 1
    return max(sizes.values()) if sizes else 0


def set_threads() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
