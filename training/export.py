"""Exports the trained DAMN weights to ONNX (opset 13, dynamic N/H/W) and checks it against PyTorch.

Usage: /usr/bin/python3 training/export.py [--weights training/damn.pt] [--out models-int8/damn-fp32.onnx]
                                           [--sharpen auto|T]

--sharpen multiplies the sub-pixel logits by T inside the last conv (DamnNet.sharpen_subpixel);
"auto" picks T from a fixed list by the mean fine-grid MAE ratio on the validation set
(seeds below the evaluation's, simulated once and cached in training/checkpoints/val.npz).

The check runs the exported file in onnxruntime-node (the runtime the daemon uses) on frames of
several sizes and compares with the PyTorch model; it fails loudly on a mismatch.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from damn_model import SCALE, DamnNet, load_trained, normalise_input  # noqa: E402
from macs import macs_per_input_pixel, receptive_field_radius  # noqa: E402
from train_damn import maes, validation_set  # noqa: E402

SHARPEN_METADATA = "rayleigh.subpixel_sharpen"
SHARPEN_CANDIDATES = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def pick_sharpening(model: DamnNet, val_path: Path) -> float:
    """The candidate T with the lowest mean (over validation conditions) of MAE(T) / MAE(1)."""
    val = validation_set(val_path)
    base = {k: maes(model, f, t, SCALE)[0] for k, (f, t) in val.items()}
    best_t, best_score = 1.0, 1.0
    for t in SHARPEN_CANDIDATES:
        trial = copy.deepcopy(model)
        trial.sharpen_subpixel(t)
        ratios = {k: maes(trial, f, tr, SCALE)[0] / base[k] for k, (f, tr) in val.items()}
        score = float(np.mean(list(ratios.values())))
        print(f"sharpen T={t:g}: mean MAE ratio {score:.4f} " + " ".join(f"{k}={r:.3f}" for k, r in ratios.items()))
        if score < best_score:
            best_t, best_score = t, score
    return best_t

ALLOWED_OPS = {"Conv", "Relu", "MaxPool", "Resize", "Concat", "DepthToSpace", "Constant", "Softplus",
               "ReduceMax", "Sub", "Exp", "ReduceSum", "Div", "Mul"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=HERE / "damn.pt")
    ap.add_argument("--out", type=Path, default=ROOT / "models-int8" / "damn-fp32.onnx")
    ap.add_argument("--sharpen", default="auto", help='"auto" or a factor for the sub-pixel logits (1 = as trained)')
    ap.add_argument("--val-cache", type=Path, default=HERE / "checkpoints" / "val.npz")
    args = ap.parse_args()
    torch.set_num_threads(2)

    model = load_trained(args.weights)
    macs = macs_per_input_pixel(model)
    rf = receptive_field_radius(DamnNet)
    sharpen = pick_sharpening(model, args.val_cache) if args.sharpen == "auto" else float(args.sharpen)
    if not sharpen > 0:
        raise SystemExit(f"--sharpen: expected auto or a positive factor, got {args.sharpen}")
    model.sharpen_subpixel(sharpen)
    print(f"sub-pixel sharpening T={sharpen:g}")
    model.fold_input_gain()

    dummy = torch.rand(1, 1, 64, 64)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, dummy, str(args.out), opset_version=13, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "output": {0: "N", 2: "H4", 3: "W4"}},
                      do_constant_folding=True)
    m = onnx.load(str(args.out))
    # quant_sensitivity.py needs the factor to rebuild this exact network from the weights
    m.metadata_props.add(key=SHARPEN_METADATA, value=f"{sharpen:g}")
    onnx.save(m, str(args.out))
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    extra = set(ops) - ALLOWED_OPS
    if extra:
        raise SystemExit(f"graph uses ops outside the quantization-friendly set: {sorted(extra)}")
    print(f"exported {args.out} ops={ops} macs_per_input_px={macs:.0f} rf_radius_px={rf}")

    # Compare with onnxruntime-node on contract-normalised frames of several sizes (H, W multiples of 8).
    rng = np.random.default_rng(0)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (h, w) in enumerate([(64, 64), (96, 128), (40, 200)]):
            frame = torch.from_numpy(rng.poisson(10 + 200 * rng.random((1, 1, h, w)) ** 8).astype(np.float32))
            x = normalise_input(frame)
            with torch.no_grad():
                y = model(x).numpy()
            xp, yp = Path(tmp) / f"in{k}.bin", Path(tmp) / f"out{k}.bin"
            x.numpy().astype("<f4").tofile(xp)
            y.astype("<f4").tofile(yp)
            cases.append({"h": h, "w": w, "input": str(xp), "expected": str(yp)})
        res = subprocess.run(["node", str(HERE / "verify_onnx.mjs"), str(args.out), json.dumps(cases)],
                             cwd=str(ROOT), capture_output=True, text=True)
    print(res.stdout.strip())
    if res.returncode != 0:
        raise SystemExit(f"onnxruntime-node check failed: {res.stderr.strip()}")


if __name__ == "__main__":
    main()
