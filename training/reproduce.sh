#!/usr/bin/env bash
# Reproduce the shipped DAMN model from nothing: every training stage that led to it, then export,
# INT8 quantization and the accuracy evaluation, all into one output directory (the shipped files
# in models-int8/ and training/damn.pt are not touched).
#
#   training/reproduce.sh [--smoke] [OUT_DIR]      (default OUT_DIR: training/reproduce)
#
# Each stage runs for the number of steps its log records (training/logs/), so the learning-rate
# schedule does not depend on the machine's speed; at ~6 steps/s (2 cores, simulator keeping up)
# stages 1-8 take about 3 h (stage 7 alone ran 100 min here) and the 128-px stages 9a-10 about
# 1.5 h more at their ~1.4 steps/s (at the ~2 steps/s of the original stages 1-6, stages 1-8
# take about 8.5 h). Stage 9a ran a 32-minute wall-clock schedule; here it runs its 2 549 steps. Runs are not bit-identical to the shipped ones: the replay
# buffer's mix of fresh and replayed samples depends on how fast the simulator keeps up. Two stages were stopped by hand in the original
# chain (stage 1 at step 1 360 of a 45-minute schedule, the stage-4 pilot at step 420 of a
# 7-minute one); here they run a full schedule of that many steps instead.
#
# --smoke runs every stage for 20 steps with a tiny validation set: it checks the chain end to
# end in a few minutes and produces a model that is not meant to be good.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SMOKE=0
if [ "${1:-}" = "--smoke" ]; then SMOKE=1; shift; fi
OUT=$(realpath -m "${1:-training/reproduce}")
PY=/usr/bin/python3
mkdir -p "$OUT"

# Stages 1-3 trained the body under the first head, ReLU(conv) → DepthToSpace, whose code is the
# training/ directory of commit c3b63bc. sim_stream.py finds the simulator CLI two levels above
# itself, so that code is unpacked one level below the repository root.
if ! git -C "$ROOT" cat-file -e 'c3b63bc^{commit}' 2>/dev/null; then
  echo "reproduce: needs the repository's history (commit c3b63bc holds stages 1-3's code); run it in a full clone" >&2
  exit 2
fi
OLD="$ROOT/.reproduce-stage1-3"
rm -rf "$OLD"
mkdir -p "$OLD"
git -C "$ROOT" archive c3b63bc training/train_damn.py training/damn_model.py training/sim_stream.py training/macs.py |
  tar -x -C "$OLD" --strip-components=1
trap 'rm -rf "$OLD"' EXIT

# stage CODE_DIR NAME STEPS INIT ARGS...
stage() {
  local code=$1 name=$2 steps=$3 init=$4
  shift 4
  local budget=(--steps "$steps")
  if [ "$SMOKE" = 1 ]; then budget=(--steps 20 --val-every 10 --val-per-condition 2); fi
  local initArg=()
  if [ "$init" != none ]; then initArg=(--init "$OUT/$init.pt"); fi
  local extra=()
  if [ "$code" = "$ROOT/training" ]; then extra=(--summary "$OUT/$name-summary.json"); fi
  echo "reproduce: $name (${budget[*]})" >&2
  "$PY" "$code/train_damn.py" "$@" "${initArg[@]}" "${budget[@]}" "${extra[@]}" \
    --out "$OUT/$name.pt" --ckpt-dir "$OUT/checkpoints/$name" >"$OUT/$name.log" 2>&1
}

stage "$OLD" stage1 1360 none --lr 1.5e-3 --focused-weight 0.6 --seed 0 --val-every 200
stage "$OLD" stage2 1176 stage1 --lr 1e-3 --focused-weight 0.6 --seed 2 --val-every 200
stage "$OLD" stage3 4792 stage2 --lr 6e-4 --focused-weight 0.6 --seed 3 --val-every 200
# the Softplus mass × per-pixel Softmax head on the stage-3 body (its new convs start from scratch)
stage "$ROOT/training" stage4 420 stage3 --lr 1e-3 --focused-weight 0.6 --seed 4 --val-every 100
stage "$ROOT/training" stage5 11669 stage4 --lr 1e-3 --focused-weight 0.6 --seed 5 --val-every 400
stage "$ROOT/training" stage6 9259 stage5 --lr 5e-4 --focused-weight 0.8 --seed 6 --val-every 400
stage "$ROOT/training" stage7 32048 stage6 --lr 3e-4 --focused-weight 0.8 --seed 7 --val-every 400
# damn-realism: stage 7 fine-tuned with 60 % realistic scenes (exported next to damn below)
stage "$ROOT/training" stage8 3000 stage7 --lr 3e-4 --focused-weight 0.8 --realism-weight 0.6 --seed 8 --val-every 300
# 128-px frames, so that the whole-frame network holds at sensor size: 9a (a 32-min schedule by hand, 2 549 steps), 9 -> damn
stage "$ROOT/training" stage9a 2549 stage7 --lr 3e-4 --focused-weight 0.6 --seed 9 --val-every 250 --size 128 --batch 8
stage "$ROOT/training" stage9 2400 stage9a --lr 1.5e-4 --focused-weight 0.6 --seed 10 --val-every 300 --size 128 --batch 8
# 10 -> damn-realism: stage 8 on 128-px frames
stage "$ROOT/training" stage10 2400 stage8 --lr 3e-4 --focused-weight 0.8 --realism-weight 0.6 --seed 11 --val-every 300 --size 128 --batch 8

echo "reproduce: export, quantize, evaluate" >&2
MODELS="$OUT/models"
mkdir -p "$MODELS"
"$PY" training/export.py --weights "$OUT/stage9.pt" --out "$MODELS/damn-fp32.onnx" --val-cache "$OUT/val.npz" >"$OUT/export.log" 2>&1
npx rayleigh quantize --model "$MODELS/damn-fp32.onnx" --calibration calibration/damn-sim --out "$MODELS/damn-int8.onnx" \
  --method mse --exclude /enc0/enc0.0/Conv,/enc0/enc0.2/Conv,/mass/Conv,/subpixel/Conv \
  --range-search 6 --search-frames calibration/damn-bright-sim,calibration/damn-spread-sim,calibration/damn-equal-sim >"$OUT/quantize.log" 2>&1
"$PY" training/export.py --weights "$OUT/stage10.pt" --out "$MODELS/damn-realism-fp32.onnx" --val-cache "$OUT/val.npz" >"$OUT/export-realism.log" 2>&1
npx rayleigh quantize --model "$MODELS/damn-realism-fp32.onnx" --calibration calibration/damn-sim,calibration/damn-bright-sim --out "$MODELS/damn-realism-int8.onnx" \
  --method mse --exclude /mass/Conv,/enc0/enc0.0/Conv,/enc0/enc0.2/Conv >"$OUT/quantize-realism.log" 2>&1
# the shipped manifest with these files' hashes, so eval loads them exactly as the daemon would
"$PY" - "$ROOT/models-int8/manifest.json" "$MODELS" <<'PY'
import hashlib, json, sys
from pathlib import Path
manifest, models = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
for entry in manifest["models"]:
    entry["sha256"] = hashlib.sha256((models / entry["file"]).read_bytes()).hexdigest()
    entry.pop("accuracy", None)
(models / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
PY
printf 'inference:\n  modelsDir: %s\n' "$MODELS" >"$OUT/config.yaml"
evalArgs=()
if [ "$SMOKE" = 1 ]; then evalArgs=(--samples 2 --rl-samples 1 --oracle-trials 0); fi
npx rayleigh eval --config "$OUT/config.yaml" "${evalArgs[@]}" --write-manifest | tee "$OUT/eval.txt"
echo "reproduce: done; models, manifest with accuracy and logs in $OUT" >&2
