"""Compares the network with Richardson-Lucy (the project's TS implementation) on the validation set.

Usage: /usr/bin/python3 training/rl_reference.py [--weights training/damn.pt] [--n 8]
Needs training/checkpoints/val.npz (written by train_damn.py). Writes training/logs/damn-vs-rl.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from damn_model import load_trained  # noqa: E402
from train_damn import VAL_CONDITIONS, maes  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=HERE / "damn.pt")
    ap.add_argument("--val", type=Path, default=HERE / "checkpoints" / "val.npz")
    ap.add_argument("--n", type=int, default=8, help="frames per condition")
    ap.add_argument("--out", type=Path, default=HERE / "logs" / "damn-vs-rl.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    val = np.load(args.val)
    model = load_trained(args.weights)
    specs = {}
    net = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cond in VAL_CONDITIONS.items():
            f = val[f"{name}_frames"][: args.n]
            t = val[f"{name}_truth"][: args.n]
            f.astype("<f4").tofile(Path(tmp) / f"{name}_frames.bin")
            t.astype("<f4").tofile(Path(tmp) / f"{name}_truth.bin")
            specs[name] = f"{cond['psf']}:{cond['psf_width'].split(':')[0]}"
            net[name] = maes(model, torch.from_numpy(f), torch.from_numpy(t), 4)
        n, _, h, w = val["default_frames"][: args.n].shape
        res = subprocess.run(["node", str(HERE / "rl_reference.mjs"), tmp, json.dumps(specs), str(n), str(h), str(w), "4"],
                             capture_output=True, text=True, cwd=str(HERE.parent))
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    rl = json.loads(res.stdout.strip().splitlines()[-1])
    table = {}
    for name in VAL_CONDITIONS:
        table[name] = {"net_fine": net[name][0], "rl_fine": rl[name]["fine_mae"],
                       "ratio_fine": rl[name]["fine_mae"] / net[name][0],
                       "net_binned": net[name][1], "rl_binned": rl[name]["binned_mae"],
                       "ratio_binned": rl[name]["binned_mae"] / net[name][1]}
        r = table[name]
        print(f"{name:11s} fine net {r['net_fine']:.3e} rl {r['rl_fine']:.3e} x{r['ratio_fine']:.1f} | "
              f"binned net {r['net_binned']:.3e} rl {r['rl_binned']:.3e} x{r['ratio_binned']:.1f}")
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"weights": str(args.weights.name), "frames_per_condition": n, "conditions": table}, indent=2))


if __name__ == "__main__":
    main()
