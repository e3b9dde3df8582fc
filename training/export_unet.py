"""Exports the nanohole U-Net to FP32 ONNX (opset 13) under the contract names and checks it.

    /usr/bin/python3 training/export_unet.py [--weights training/unet.pt] [--out models-int8/unet-fp32.onnx]
                                             [--calibration calibration/unet-sim]

Contract (src/optics/nanohole.ts): input `intensity` float32 [N,1,128,128] = nanoholeInput(22 lambda
intensity), output `map` float32 [N,1,128,128] = hole probability over 2.5 lambda (Sigmoid in the
graph). Only N is dynamic. The check runs the file in onnxruntime-node (training/verify_onnx.mjs)
on simulated frames against PyTorch. With --calibration it also writes the INT8 calibration set:
raw scalar-simulator frames (`rayleigh simulate --task unet --out`, truth maps deleted).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import onnx
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from sim_stream import collect, unet_physics_flags, unet_sim_args  # noqa: E402
from train_unet import DIPOLES, FILM  # noqa: E402
from unet_model import IN_SIZE, MAP_SIZE, load_trained, macs_per_frame, nanohole_input  # noqa: E402

ALLOWED_OPS = {"MatMul", "Mul", "Conv", "Relu", "Add", "MaxPool", "Resize", "Concat", "Slice", "DepthToSpace",
               "Sigmoid", "Constant"}
CALIBRATION_SEED = 520_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=HERE / "unet.pt")
    ap.add_argument("--out", type=Path, default=ROOT / "models-int8" / "unet-fp32.onnx")
    ap.add_argument("--calibration", type=Path, default=None, help="also write this INT8 calibration directory")
    ap.add_argument("--calibration-count", type=int, default=32)
    ap.add_argument("--calibration-vector", type=Path, default=None,
                    help="also write a calibration directory of vector holes behind a film (the stage-4 streams' other half)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    model = load_trained(args.weights)
    macs = macs_per_frame(model)
    dummy = torch.rand(1, 1, IN_SIZE, IN_SIZE)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, dummy, str(args.out), opset_version=13, input_names=["intensity"], output_names=["map"],
                      dynamic_axes={"intensity": {0: "N"}, "map": {0: "N"}}, do_constant_folding=True)
    m = onnx.load(str(args.out))
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    extra = set(ops) - ALLOWED_OPS
    if extra:
        raise SystemExit(f"graph uses unexpected ops: {sorted(extra)}")
    print(f"exported {args.out} ops={ops} macs_per_frame={macs:.4g} macs_per_input_px={macs / IN_SIZE ** 2:.0f}")

    samples = collect(unet_sim_args(CALIBRATION_SEED - 1, count=6, pair_fraction=0.3), 6)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, s in enumerate(samples):
            x = nanohole_input(torch.from_numpy(s.frame[None, None].copy()))
            with torch.no_grad():
                y = model(x).numpy()
            xp, yp = Path(tmp) / f"in{k}.bin", Path(tmp) / f"out{k}.bin"
            x.numpy().astype("<f4").tofile(xp)
            y.astype("<f4").tofile(yp)
            cases.append({"h": IN_SIZE, "w": IN_SIZE, "input": str(xp), "expected": str(yp), "inputName": "intensity",
                          "outputName": "map", "outH": MAP_SIZE, "outW": MAP_SIZE})
        res = subprocess.run(["node", str(HERE / "verify_onnx.mjs"), str(args.out), json.dumps(cases)],
                             cwd=str(ROOT), capture_output=True, text=True)
    print(res.stdout.strip())
    if res.returncode != 0:
        raise SystemExit(f"onnxruntime-node check failed: {res.stderr.strip()}")

    # noiseless random scenes of 1..10 holes and a quarter two-hole pairs: scalar and opaque, or vector
    # holes behind a film with the training ranges of train_unet.py (FILM, DIPOLES)
    vector_film = unet_physics_flags(**FILM, **DIPOLES)
    for out, seed, extra in ((args.calibration, CALIBRATION_SEED, []),
                             (args.calibration_vector, CALIBRATION_SEED + 1000, vector_film)):
        if out is None:
            continue
        shutil.rmtree(out, ignore_errors=True)
        cmd = ["node", str(ROOT / "bin" / "rayleigh.mjs"), "simulate", "--task", "unet", "--out", str(out),
               "--count", str(args.calibration_count), "--seed", str(seed), "--pair-fraction", "0.25", *extra]
        subprocess.run(cmd, check=True, cwd=str(ROOT))
        for p in list(out.glob("truth_*.npy")) + list(out.glob("params_*.json")):
            p.unlink()
        print(f"calibration set: {' '.join(cmd[2:])} (truth and params deleted) -> {out}")


if __name__ == "__main__":
    main()
