"""Adds or replaces the nanohole model entries `unet` (INT8) and `unet-fp32` in a models manifest.

    /usr/bin/python3 training/unet_manifest.py --manifest models-int8/manifest.json \
        --check training/logs/unet-check.jsonl --summary training/logs/unet-train-summary.json

sha256 is computed from the files next to the manifest; MACs and receptive field from the model
code; the quick Pearson figures come from `training/check_unet_onnx.ts` output (one JSON line per
model), recorded with the command that produced them. The serving helper's
`rayleigh eval --task unet` is the project's evaluation; its figures are not written here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TRAINED_RANGES = {"holes": [1, 10], "pairDistance": [0.158, 0.677], "framePhotons": [1e5, 1e8], "readNoise": [0, 3]}
NOTE_SCALAR = (
    "Trained ONLY on the fast simulator (src/optics/nanohole.ts: Kirchhoff apertures in an infinitely thin screen, "
    "opaque or (film option) transmitting a uniform complex amplitude t; angular-spectrum propagation to H = 1 lambda, NA 0.9; "
    "scalar holes, and from stage 4 on half of the samples vector holes: x-polarised magnetic + electric dipoles, "
    "--vector; no film thickness, permittivity or near-field coupling) - the eval's test set is scalar, and every "
    "figure from it is a scalar-model figure. "
)


NOTE_FDTD = (
    "Trained on the fast simulator (src/optics/nanohole.ts: Kirchhoff apertures in an infinitely thin screen, "
    "opaque or (film option) transmitting a uniform complex amplitude t; angular-spectrum propagation to H = 1 lambda, "
    "NA 0.9; scalar holes) and, in its last stage, on full-Maxwell (Meep FDTD) samples made apart from the FDTD test "
    "set ({fdtd}; half of every batch). The eval's scalar test set is scalar-model figures; its FDTD test set "
    "(training/fdtd/data) was never trained on. "
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", type=Path, default=HERE.parent / "models-int8" / "manifest.json")
    ap.add_argument("--check", type=Path, required=True, help="JSON lines printed by check_unet_onnx.ts")
    ap.add_argument("--check-command", required=True, help="the command that printed them")
    ap.add_argument("--summary", type=Path, required=True, help="train_unet.py summary JSON")
    ap.add_argument("--quantize-command", required=True)
    ap.add_argument("--measured", required=True, help="date of the check (YYYY-MM-DD)")
    ap.add_argument("--trained-by", default=None, help="replaces the trainedBy text built from the summary")
    ap.add_argument("--extra-note", default="", help="appended to both entries' notes")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from unet_model import IN_SIZE, NanoholeUNet, macs_per_frame, receptive_field_radius

    summary = json.loads(args.summary.read_text())
    note = NOTE_FDTD.format(fdtd=summary["fdtd"]) if summary.get("fdtd") else NOTE_SCALAR
    # the channel plan the summary's run trained (summaries before the plans existed: "base")
    model = NanoholeUNet(**summary.get("config", {}))
    macs_px = round(macs_per_frame(model) / IN_SIZE ** 2)
    rf = receptive_field_radius(model)
    checks = {Path(c["model"]).name: c for c in (json.loads(line) for line in args.check.read_text().splitlines() if line.strip())}
    manifest = json.loads(args.manifest.read_text())
    models_dir = args.manifest.parent
    int8_meta = None
    try:
        import onnx

        m = onnx.load(str(models_dir / "unet-int8.onnx"))
        int8_meta = json.loads(next(p.value for p in m.metadata_props if p.key == "rayleigh.quantization"))
    except (StopIteration, FileNotFoundError):
        pass

    trained = (f"rayleigh training/train_unet.py: {summary['steps']} steps of a {summary['schedule_steps']}-step "
               f"cosine schedule, batch {summary['batch']}, lr {summary['lr']} (training/README.md, "
               f"training/logs/unet-train*.log; training/reproduce_unet.sh)")
    common = {
        "task": "unet",
        "input": {"name": "intensity", "layout": "NCHW", "normalisation": "nanohole-min-max", "multiple": 1},
        "output": {"name": "map", "scale": 1,
                   "meaning": "hole probability (sigmoid) on a 128x128 grid over the central 2.5 x 2.5 lambda "
                              "(pitch 0.0195 lambda); the input is the 128x128 intensity over 22 x 22 lambda"},
        "opset": 13,
        "macsPerPixel": macs_px,
        "receptiveField": rf,
        "trainedRanges": TRAINED_RANGES,
        "trainedBy": args.trained_by or trained,
    }

    def accuracy(file: str) -> dict:
        c = checks[file]
        return {"command": args.check_command, "measured": args.measured, "data": c["data"], "seed": c["seed"],
                "metric": "mean Pearson correlation of the map with the binary truth map (quick check, not eval)",
                "pearsonRandomScenes": c["pearsonRandomScenes"], "randomScenes": c["randomScenes"],
                "pearsonByLargestCluster": c["pearsonByLargestCluster"], "pearsonPairs": c["pearsonPairs"],
                "pairs": c["pairs"], **({"fdtd": c["fdtd"]} if "fdtd" in c else {})}

    entries = [
        {"id": "unet", "file": "unet-int8.onnx", "sha256": sha256(models_dir / "unet-int8.onnx"), **common,
         "precision": "int8",
         **({"quantization": {"target": int8_meta["target"], "weightBits": int8_meta["weightBits"],
                              **({"floatNodes": int8_meta["floatNodes"]} if int8_meta.get("floatNodes") else {})}}
            if int8_meta else {}),
         "accuracy": accuracy("unet-int8.onnx"),
         "notes": note + f"QDQ INT8 from unet-fp32 by: {args.quantize_command}. The input resampling "
                                "(two MatMuls onto the 0.156-lambda grid), Slice and Sigmoid run in float. "
                                + args.extra_note},
        {"id": "unet-fp32", "file": "unet-fp32.onnx", "sha256": sha256(models_dir / "unet-fp32.onnx"), **common,
         "precision": "fp32", "accuracy": accuracy("unet-fp32.onnx"),
         "notes": note + "FP32 export by training/export_unet.py (checked against PyTorch in onnxruntime-node). "
                  + args.extra_note},
    ]
    ids = {e["id"] for e in entries}
    manifest["models"] = [e for e in manifest["models"] if e["id"] not in ids] + entries
    args.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(entries)} entries to {args.manifest}: macsPerPixel {macs_px}, receptiveField {rf}")


if __name__ == "__main__":
    main()
