#!/usr/bin/python3
"""Generate (or extend) the FDTD nanohole test set, resumably.

    /usr/bin/python3 training/fdtd/make_set.py --out training/fdtd/data --count 300 --seed 16

The sample plan is a deterministic function of --seed (and --pairs-per-distance): first the two-hole
sweep (PAIR_DISTANCES × orientations), then random clusters cycling through the target largest
sub-Rayleigh cluster sizes 2, 3, ..., 10, 2, 3, ... Plan entry i is the same whatever --count is,
so a larger --count extends the set and a rerun skips every entry already in samples.json (the
files are rewritten atomically after each sample, so a killed job loses at most the sample it was
running). --until HH:MM (UTC) stops cleanly before a deadline.

Writes, per the contract (issue #16):
  samples.json       metadata + one entry per sample
  intensity.npy.gz   uint16 (S, 128*128), each row the 22 λ intensity at H = 1 λ, NA 0.9, max 65535
and, beyond the contract, intensity-scattered.npy.gz: the same propagation of the holes' scattered
field alone (the bare film's direct transmission removed), also scaled to max 65535 per row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import io
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdtd  # noqa: E402

PAIR_DISTANCES = [round(v, 4) for v in np.linspace(0.677, 0.158, 10)]
CLUSTER_SIZES = list(range(2, 11))


def _inside(rng: np.random.Generator, n: int) -> np.ndarray:
    half = fdtd.AREA / 2 - fdtd.HOLE_RADIUS  # the whole disk inside the 2.2 λ square
    return rng.uniform(-half, half, size=(n, 2))


def pair_holes(rng: np.random.Generator, distance: float, theta: float) -> list[tuple[float, float]]:
    half = fdtd.AREA / 2 - fdtd.HOLE_RADIUS
    dx, dy = distance / 2 * math.cos(theta), distance / 2 * math.sin(theta)
    cx = rng.uniform(-half + abs(dx), half - abs(dx))
    cy = rng.uniform(-half + abs(dy), half - abs(dy))
    return [(cx - dx, cy - dy), (cx + dx, cy + dy)]


def cluster_holes(rng: np.random.Generator, target: int) -> list[tuple[float, float]]:
    """Random non-overlapping holes (2..10) whose largest sub-Rayleigh cluster is exactly `target`."""
    for _ in range(200000):
        n = int(rng.integers(max(2, target), min(10, target + 3) + 1))
        pts: list[tuple[float, float]] = []
        for _try in range(1000):
            if len(pts) == n:
                break
            p = tuple(float(v) for v in _inside(rng, 1)[0])
            if all(math.dist(p, q) >= fdtd.HOLE_DIAMETER for q in pts):
                pts.append(p)  # type: ignore[arg-type]
        if len(pts) == n and fdtd.largest_cluster(pts) == target:
            return pts
    raise RuntimeError(f"could not draw a cluster of size {target}")


def plan(seed: int, count: int, pairs_per_distance: int) -> list[dict]:
    out: list[dict] = []
    n_pairs = len(PAIR_DISTANCES) * pairs_per_distance
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        if i < n_pairs:
            d = PAIR_DISTANCES[i % len(PAIR_DISTANCES)]
            j = i // len(PAIR_DISTANCES)
            theta = (j + rng.uniform()) * math.pi / pairs_per_distance  # stratified orientation in [0, π)
            holes = pair_holes(rng, d, theta)
            out.append({"index": i, "kind": "pair", "distance": d, "orientation": round(theta, 6), "holes": holes})
        else:
            k = CLUSTER_SIZES[(i - n_pairs) % len(CLUSTER_SIZES)]
            out.append({"index": i, "kind": "cluster", "holes": cluster_holes(rng, k), "target": k})
    return out


def read_npy_gz(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.load(io.BytesIO(f.read()))


def write_npy_gz(path: str, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr)
    tmp = path + ".tmp"
    with gzip.GzipFile(tmp, "wb", compresslevel=9, mtime=0) as f:
        f.write(buf.getvalue())
    os.replace(tmp, path)


def to_u16(intensity: np.ndarray) -> np.ndarray:
    return np.round(intensity / intensity.max() * 65535).astype(np.uint16).reshape(-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, required=True, help="plan entries to have in the set")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--pairs-per-distance", type=int, default=4)
    ap.add_argument("--resolution", type=float, default=fdtd.DEFAULT_RESOLUTION, help="cells per λ")
    ap.add_argument("--cell", type=float, default=fdtd.DEFAULT_CELL, help="lateral period (λ)")
    ap.add_argument("--settle", type=float, default=fdtd.DEFAULT_SETTLE, help="periods before the DFT")
    ap.add_argument("--until", default=None, help="UTC HH:MM: do not start a sample that would end after it")
    args = ap.parse_args()
    fdtd.set_threads()
    os.makedirs(args.out, exist_ok=True)
    meta_path = os.path.join(args.out, "samples.json")
    int_path = os.path.join(args.out, "intensity.npy.gz")
    sc_path = os.path.join(args.out, "intensity-scattered.npy.gz")
    generator = (
        f"/usr/bin/python3 training/fdtd/make_set.py --out {args.out} --count {args.count} --seed {args.seed}"
        f" --pairs-per-distance {args.pairs_per_distance} --resolution {args.resolution:g} --cell {args.cell:g}"
        f" --settle {args.settle:g}"
    )
    if os.path.exists(meta_path):
        meta = json.load(open(meta_path))
        for key, val in (("seed", args.seed), ("cellsPerLambda", args.resolution), ("cell", args.cell), ("settle", args.settle),
                         ("pairsPerDistance", args.pairs_per_distance)):
            if meta[key] != val:
                sys.exit(f"make_set: {meta_path} was made with {key}={meta[key]}, not {val}; use another --out")
        inten = read_npy_gz(int_path)
        scat = read_npy_gz(sc_path)
        if inten.shape[0] != len(meta["samples"]) or scat.shape[0] != len(meta["samples"]):
            sys.exit("make_set: samples.json and the intensity files disagree on the sample count")
    else:
        meta = None
        inten = np.zeros((0, fdtd.INPUT_SIZE**2), np.uint16)
        scat = np.zeros((0, fdtd.INPUT_SIZE**2), np.uint16)

    t = time.time()
    bg = fdtd.near_field([], args.resolution, cell=0.4, settle=args.settle)
    inc = fdtd.near_field([], args.resolution, cell=0.4, film=False, settle=args.settle)
    t_bare = complex(np.mean(bg["ex"]) / np.mean(inc["ex"]))
    print(f"bare film: T = {abs(t_bare) ** 2:.4e} ({time.time() - t:.1f} s)", flush=True)
    if meta is None:
        zl = fdtd.z_layout(args.resolution)
        meta = {
            "generator": generator,
            "seed": args.seed,
            "pairsPerDistance": args.pairs_per_distance,
            "cellsPerLambda": args.resolution,
            "cell": args.cell,
            "settle": args.settle,
            "secondsPerSample": None,
            "threads": 1,
            "solver": "Meep (python3-meep) 3-D FDTD, see training/fdtd/README.md",
            "polarization": "x (E along the column axis), normal incidence, propagation +z",
            "film": {"material": "Cr", "n": fdtd.CR_NK[0], "k": fdtd.CR_NK[1], "thicknessLambda": zl["thickness"],
                     "bareFilmTransmission": abs(t_bare) ** 2},
            "monitorGapLambda": zl["monitor_gap"],
            "grid": {"wavelengthNm": fdtd.WAVELENGTH_NM, "holeDiameter": fdtd.HOLE_DIAMETER, "area": fdtd.AREA,
                     "heightH": fdtd.HEIGHT_H, "na": fdtd.NA, "inputSize": fdtd.INPUT_SIZE, "inputExtent": fdtd.INPUT_EXTENT,
                     "pixelCentres": "(i + 0.5 - N/2) * extent/N, row index <-> y, column index <-> x",
                     "scaling": "each row scaled so that its maximum is 65535"},
            "extraFiles": {"intensity-scattered.npy.gz": "same as intensity.npy.gz but the holes' scattered field only "
                           "(the bare film's uniform direct transmission subtracted before propagation)"},
            "samples": [],
        }
    meta["generator"] = generator
    done = {s["index"] for s in meta["samples"]}
    deadline = None
    if args.until:
        hh, mm = (int(v) for v in args.until.split(":"))
        now = dt.datetime.now(dt.timezone.utc)
        deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if deadline < now:
            deadline += dt.timedelta(days=1)
    entries = plan(args.seed, args.count, args.pairs_per_distance)
    for e in entries:
        if e["index"] in done:
            continue
        secs = [s["seconds"] for s in meta["samples"]]
        est = float(np.median(secs)) if secs else 60.0
        if deadline is not None and dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1.2 * est) > deadline:
            print("make_set: stopping before the --until deadline", flush=True)
            break
        t0 = time.time()
        nf = fdtd.near_field(e["holes"], args.resolution, cell=args.cell, settle=args.settle)
        total = fdtd.propagate(nf, bg)
        sc = fdtd.propagate(nf, bg, scattered_only=True)
        if not np.all(np.isfinite(total)) or total.max() <= 0:
            sys.exit(f"make_set: sample {e['index']} gave a non-finite or zero intensity")
        secs_i = time.time() - t0
        holes = [[round(x, 6), round(y, 6)] for x, y in e["holes"]]
        rec = {"index": e["index"], "kind": e["kind"], "holes": holes, "largestCluster": fdtd.largest_cluster(e["holes"])}
        if e["kind"] == "pair":
            rec["distance"] = e["distance"]
            rec["orientation"] = e["orientation"]
        rec["seconds"] = round(secs_i, 2)
        meta["samples"].append(rec)
        inten = np.vstack([inten, to_u16(total)[None]])
        scat = np.vstack([scat, to_u16(sc)[None]])
        meta["secondsPerSample"] = round(float(np.mean([s["seconds"] for s in meta["samples"]])), 2)
        write_npy_gz(int_path, inten)
        write_npy_gz(sc_path, scat)
        tmp = meta_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")
        os.replace(tmp, meta_path)
        print(f"sample {e['index']} {e['kind']} n={len(holes)} cluster={rec['largestCluster']} "
              f"{secs_i:.1f} s (total {len(meta['samples'])})", flush=True)


if __name__ == "__main__":
    main()
