"""Where does an INT8 model lose accuracy? Fake-quantizes the PyTorch network with the ranges of a
quantized ONNX file and reports the fine-grid MAE change on the validation set, per source.

Usage: /usr/bin/python3 training/quant_sensitivity.py --int8 models-int8/damn-int8.onnx [--weights training/damn.pt]

Sources, each alone and all together: the 7-bit per-channel weights of every Conv, the uint8
activations after every ReLU and at the sub-pixel logits, the uint8 input, and each Conv's weights
one at a time. It simulates rounding and clipping only, not onnxruntime's integer kernels
(Concat/Resize requantization, int32 bias), so the real INT8 model can differ by a percent or two:
`npx rayleigh eval` is the measurement, this is the diagnosis. The sub-pixel sharpening factor is
read from the file (export.py records it; quantize keeps the metadata), and so are the Convs that
quantize kept in float (`--exclude`).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from damn_model import DamnNet, load_trained, normalise_input, unit_sum  # noqa: E402
from export import SHARPEN_METADATA  # noqa: E402
from train_damn import validation_set  # noqa: E402

WEIGHT_QMAX = 63  # as src/inference/quantize/qdq.ts: 7-bit symmetric per output channel


def activation_ranges(path: Path) -> dict[str, tuple[float, int]]:
    """Per-tensor uint8 (scale, zero point) of every QuantizeLinear in the file, by tensor name."""
    m = onnx.load(str(path))
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    out = {}
    for n in m.graph.node:
        if n.op_type == "QuantizeLinear" and init[n.input[1]].ndim == 0:
            out[n.input[0]] = (float(init[n.input[1]]), int(init[n.input[2]]))
    return out


def fake_quant(x: torch.Tensor, scale: float, zp: int) -> torch.Tensor:
    return (torch.round(x / scale + zp).clamp(0, 255) - zp) * scale


def onnx_tensor(module_name: str) -> str:
    """Name torch.onnx.export gives the activation this module produces (ReLU outputs, head convs)."""
    if module_name in ("mass", "subpixel"):
        return f"/{module_name}/Conv_output_0__f"
    block = module_name.split(".")[0]
    return f"/{block}/{module_name}/Relu_output_0__f"


def onnx_conv(module_name: str) -> str:
    if module_name in ("mass", "subpixel"):
        return f"/{module_name}/Conv"
    block = module_name.split(".")[0]
    return f"/{block}/{module_name}/Conv"


def variant(model: DamnNet, ranges: dict[str, tuple[float, int]], weights: set[str], acts: bool) -> DamnNet:
    m = copy.deepcopy(model)
    for name, mod in m.named_modules():
        if isinstance(mod, torch.nn.Conv2d) and name in weights:
            w = mod.weight.data
            s = w.abs().amax((1, 2, 3), keepdim=True) / WEIGHT_QMAX
            s = torch.where(s > 0, s, torch.ones_like(s))  # an all-zero channel, as qdq.ts does
            mod.weight.data = torch.round(w / s) * s
        is_act = (name.count(".") == 1 and isinstance(mod, torch.nn.ReLU)) or name in ("mass", "subpixel")
        if acts and is_act and onnx_tensor(name) in ranges:
            s, z = ranges[onnx_tensor(name)]
            mod.register_forward_hook(lambda _m, _i, o, s=s, z=z: fake_quant(o, s, z))
    return m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--int8", type=Path, required=True)
    ap.add_argument("--weights", type=Path, default=HERE / "damn.pt")
    ap.add_argument("--sharpen", type=float, default=None, help="default: the factor export.py recorded in the file")
    ap.add_argument("--val-cache", type=Path, default=HERE / "checkpoints" / "val.npz")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load_trained(args.weights)
    props = {p.key: p.value for p in onnx.load(str(args.int8), load_external_data=False).metadata_props}
    sharpen = args.sharpen if args.sharpen is not None else float(props.get(SHARPEN_METADATA, "1"))
    model.sharpen_subpixel(sharpen)
    print(f"sub-pixel sharpening T={sharpen:g}")
    ranges = activation_ranges(args.int8)
    qmeta = json.loads(props.get("rayleigh.quantization", "{}"))
    kept_float = set(qmeta.get("floatNodes") or [])
    # a stack of sibling Convs kept in float (rewrite.ts) keeps each of its members in float
    for stack in qmeta.get("mergedConvs") or []:
        if stack.get("name") in kept_float:
            kept_float.update(stack.get("merged") or [])
    global WEIGHT_QMAX
    WEIGHT_QMAX = 127 if qmeta.get("weightBits") == 8 else 63
    print(f"convs kept in float: {sorted(kept_float) or 'none'}")
    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    quantized = {n for n in convs if onnx_conv(n) not in kept_float}
    val = validation_set(args.val_cache)

    def mae(m: DamnNet, frames: torch.Tensor, truth: torch.Tensor, quant_input: bool) -> float:
        x = normalise_input(frames)
        if quant_input and "input" in ranges:
            x = fake_quant(x, *ranges["input"])
        with torch.no_grad():
            return (unit_sum(m(x)) - unit_sum(truth)).abs().mean().item()

    print("condition      fp32 MAE   weights  activations  input    all   | worst single-layer weights")
    for name, (f, t) in val.items():
        base = mae(model, f, t, False)
        w = mae(variant(model, ranges, quantized, False), f, t, False) / base - 1
        a = mae(variant(model, ranges, set(), True), f, t, False) / base - 1
        i = mae(model, f, t, True) / base - 1
        al = mae(variant(model, ranges, quantized, True), f, t, True) / base - 1
        per_layer = {n: mae(variant(model, ranges, {n}, False), f, t, False) / base - 1 for n in quantized}
        worst = sorted(per_layer.items(), key=lambda kv: -kv[1])[:3]
        print(f"{name:<12} {base:.3e}  {w:+7.1%}  {a:+9.1%}  {i:+7.1%} {al:+7.1%}  | "
              + " ".join(f"{n} {d:+.1%}" for n, d in worst))


if __name__ == "__main__":
    main()
