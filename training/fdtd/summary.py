#!/usr/bin/python3
"""Counts, timing and FDTD-vs-scalar agreement of a generated set (no Meep needed).

    /usr/bin/python3 training/fdtd/summary.py training/fdtd/data | tee training/fdtd/summary.txt

Per group: number of samples, and the mean Pearson correlation over the 128 × 128 grid between
the FDTD intensity (recorded, and scattered-only) and the scalar Kirchhoff intensity of the same
holes (fdtd.scalar_intensity, the same model as src/optics/nanohole.ts) — how far the full-Maxwell
patterns are from what a scalar-trained model has seen.
"""

from __future__ import annotations

import collections
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdtd  # noqa: E402
from make_set import read_npy_gz  # noqa: E402


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    meta = json.load(open(os.path.join(out, "samples.json")))
    total = read_npy_gz(os.path.join(out, "intensity.npy.gz")).astype(float)
    scat = read_npy_gz(os.path.join(out, "intensity-scattered.npy.gz")).astype(float)
    samples = meta["samples"]
    print(f"generator: {meta['generator']}")
    print(f"samples: {len(samples)}, cells/lambda {meta['cellsPerLambda']:.2f}, mean seconds/sample {meta['secondsPerSample']}"
          f" (min {min(s['seconds'] for s in samples):.1f}, median {np.median([s['seconds'] for s in samples]):.1f},"
          f" max {max(s['seconds'] for s in samples):.1f}; one thread, machine shared with other jobs)")
    groups: dict[tuple, list[int]] = collections.defaultdict(list)
    for i, s in enumerate(samples):
        key = ("pair", s["distance"]) if s["kind"] == "pair" else ("cluster", s["largestCluster"])
        groups[key].append(i)
    print("\ngroup                       n   holes   Pearson(FDTD recorded, scalar)   Pearson(FDTD scattered, scalar)")
    for key in sorted(groups, key=lambda k: (k[0], k[1])):
        idx = groups[key]
        pt, ps = [], []
        for i in idx:
            ref = fdtd.scalar_intensity([tuple(h) for h in samples[i]["holes"]]).ravel()
            pt.append(np.corrcoef(total[i], ref)[0, 1])
            ps.append(np.corrcoef(scat[i], ref)[0, 1])
        holes = sorted({len(samples[i]["holes"]) for i in idx})
        label = f"pair D = {key[1]:.4f}" if key[0] == "pair" else f"cluster size {key[1]}"
        print(f"{label:24s} {len(idx):4d}   {holes[0]}-{holes[-1]:<3d}  {np.mean(pt):.3f} (min {np.min(pt):.3f})"
              f"                {np.mean(ps):.3f} (min {np.min(ps):.3f})")
    kinds = collections.Counter(s["kind"] for s in samples)
    print(f"\nby kind: {dict(kinds)}")


if __name__ == "__main__":
    main()
