/**
 * FP32 vs INT8 check for a quantized model: what onnxruntime fuses, how fast each runs and how far
 * the INT8 output drifts, on the frames of a calibration directory. A script, not a test (timing).
 *   npx tsx calibration/compare-int8.ts FP32.onnx INT8.onnx[,OTHER-INT8.onnx…] calibration/damn-sim [size] [threads] [rounds]
 * Several INT8 files (comma-separated) are timed side by side in the same rounds, so variants of
 * one quantization compare on equal terms; the drift is reported for the first.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { decodeNpy } from '../src/io/npy.ts';
import { normaliseInput } from '../src/inference/normalise.ts';
import { listCalibrationFrames } from '../src/inference/quantize/calibrate.ts';
import { summariseOptimizedGraph } from '../src/inference/quantize/inspect.ts';

const [fp32, int8List, dir, sizeArg, threadsArg, roundsArg] = process.argv.slice(2);
if (!fp32 || !int8List || !dir) {
  process.stderr.write('usage: compare-int8.ts FP32.onnx INT8.onnx[,INT8b.onnx…] CALIBRATION_DIR [size=256] [threads=2] [rounds=10]\n');
  process.exit(2);
}
const int8Files = int8List.split(',').filter(Boolean);
const int8 = int8Files[0];
const size = Number(sizeArg ?? 256);
const threads = Number(threadsArg ?? 2);
const rounds = Number(roundsArg ?? 10);

for (const [name, file] of [['fp32', fp32], ...int8Files.map((f) => [f === int8 ? 'int8' : f, f])]) {
  const s = await summariseOptimizedGraph(file);
  process.stdout.write(`${name} optimised graph: ${JSON.stringify(s.ops)}\n`);
}

const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3 };
const a = await ort.InferenceSession.create(fp32, opts);
const others = await Promise.all(int8Files.map((f) => ort.InferenceSession.create(f, opts)));
const b = others[0];

// the machine may be busy: alternate the models and report the minimum and median of each
const x = new Float32Array(size * size).map(() => Math.random() / 2500);
const feed = { input: new ort.Tensor('float32', x, [1, 1, size, size]) };
const sessions = [a, ...others];
for (const s of sessions) await s.run(feed);
const times: number[][] = sessions.map(() => []);
for (let i = 0; i < rounds; i++) {
  for (let k = 0; k < sessions.length; k++) {
    const t0 = performance.now();
    await sessions[k].run(feed);
    times[k].push(performance.now() - t0);
  }
}
const stat = (t: number[]) => {
  const v = [...t].sort((p, q) => p - q);
  return { min: v[0], median: v[Math.floor(v.length / 2)] };
};
const sa = stat(times[0]);
process.stdout.write(`latency ${size}×${size}, ${threads} threads (min / median of ${rounds}): fp32 ${sa.min.toFixed(1)} / ${sa.median.toFixed(1)} ms\n`);
int8Files.forEach((f, k) => {
  const sb = stat(times[k + 1]);
  process.stdout.write(
    `  ${f}: ${sb.min.toFixed(1)} / ${sb.median.toFixed(1)} ms, speed-up ×${(sa.min / sb.min).toFixed(2)} (min) ×${(sa.median / sb.median).toFixed(2)} (median)\n`,
  );
});

// drift on the calibration frames, each output normalised to unit sum as the runtime does
let worst = 0;
const rels: number[] = [];
const l1s: number[] = [];
let blank = 0;
let int8Blank = 0;
const truthMae = { fp32: [] as number[], int8: [] as number[] };
const files = await listCalibrationFrames(dir);
for (const f of files) {
  const img = normaliseInput(decodeNpy(readFileSync(f), f));
  const h = Math.floor(img.height / 8) * 8;
  const w = Math.floor(img.width / 8) * 8;
  const crop = new Float32Array(w * h);
  for (let y = 0; y < h; y++) crop.set(img.data.subarray(y * img.width, y * img.width + w), y * w);
  const feed = { input: new ort.Tensor('float32', crop, [1, 1, h, w]) };
  const ya = (await a.run(feed)).output.data as Float32Array;
  const yb = (await b.run(feed)).output.data as Float32Array;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < ya.length; i++) {
    sa += ya[i];
    sb += yb[i];
  }
  // a frame too faint for the FP32 model has no map to compare against
  if (sa <= 0) {
    blank++;
    continue;
  }
  if (sb <= 0) {
    int8Blank++;
    continue;
  }
  let num = 0;
  let den = 0;
  let mae = 0;
  let mag = 0;
  for (let i = 0; i < ya.length; i++) {
    const pa = ya[i] / sa;
    const pb = yb[i] / sb;
    num += (pa - pb) ** 2;
    den += pa ** 2;
    mae += Math.abs(pa - pb);
    mag += Math.abs(pa);
  }
  const rel = Math.sqrt(num / den);
  worst = Math.max(worst, rel);
  rels.push(rel);
  // simulator directories keep the ground truth beside each frame: score both models against it
  const truthPath = f.replace(/frame_(\d+)\.npy$/, 'truth_$1.npy');
  if (truthPath !== f && existsSync(truthPath)) {
    const t = decodeNpy(readFileSync(truthPath), truthPath);
    if (t.width === w * 4 && t.height === h * 4) {
      let st = 0;
      for (const v of t.data) st += v;
      let ea = 0;
      let eb = 0;
      for (let i = 0; i < ya.length; i++) {
        const tv = st > 0 ? t.data[i] / st : 0;
        ea += Math.abs(ya[i] / sa - tv);
        eb += Math.abs(yb[i] / sb - tv);
      }
      truthMae.fp32.push(ea / ya.length);
      truthMae.int8.push(eb / ya.length);
    }
  }
  l1s.push(mae / mag);
}
const mean = (v: number[]) => v.reduce((p, q) => p + q, 0) / Math.max(1, v.length);
const median = (v: number[]) => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)] ?? Number.NaN;
process.stdout.write(
  `int8 vs fp32 on ${rels.length} frames (unit-sum outputs; ${blank} frames blank in fp32, ${int8Blank} blank only in int8): ` +
    `relative L2 mean ${mean(rels).toFixed(4)}, median ${median(rels).toFixed(4)}, worst ${worst.toFixed(4)}; L1 ratio mean ${mean(l1s).toFixed(4)}\n`,
);
if (truthMae.fp32.length > 0) {
  process.stdout.write(
    `MAE vs ground truth (unit-sum maps, ${truthMae.fp32.length} frames): fp32 ${mean(truthMae.fp32).toExponential(3)}, int8 ${mean(truthMae.int8).toExponential(3)}\n`,
  );
}
for (const s of sessions) await s.release();
