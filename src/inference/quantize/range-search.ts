/**
 * Output-aware range search. A range method (mse, percentile, …) judges each activation on its own:
 * the threshold that loses least of *that tensor*. What matters is the model's output, and a layer
 * whose rounding the later layers amplify wants a finer step than its own histogram asks for, one
 * whose outliers carry little wants a tighter clip. So, starting from the method's ranges, each
 * activation's range is scaled by a factor in turn, and a factor is kept when the INT8 model's
 * output gets better on the search frames (coordinate descent, a few passes over the tensors in
 * graph order, the step shrinking when a pass keeps nothing).
 *
 * "Better" is, per directory of search frames:
 * - when every frame is a simulator frame with its emitters beside it (`rayleigh simulate --out`
 *   writes params_N.json), INT8's excess fine-grid MAE over FP32's against the truth: the very
 *   figure `rayleigh eval` holds to 3%. Nearness to FP32's output is a poor stand-in: it weighs
 *   every difference alike, while the eval's error is mostly in where the mass of bright emitters
 *   lands (searched on nearness, the gaps in eval barely moved or grew: calibration/README.md);
 * - otherwise (frames from the instrument, no truth) the squared Hellinger distance to FP32's map.
 *
 * The objective is the *worst* directory, not the mean over all frames: per-tensor uint8 ranges
 * trade one regime against another (isolated stars of many magnitudes want wide ranges, crowded
 * equal-brightness fields fine steps), and a mean lets the larger set win while the smaller
 * regime's error grows. Give each regime its own directory. The search frames can differ from
 * the calibration frames the ranges start from (`--search-frames`).
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { encodeModel, type OnnxModel } from '../../onnx/model.ts';
import type { Emitter } from '../../optics/emitter.ts';
import { type Image, makeImage, normaliseUnitSum } from '../../optics/image.ts';
import { mae } from '../../optics/metrics.ts';
import { renderTruth } from '../../optics/simulate.ts';
import { type CalibrationOptions, loadFrame } from './calibrate.ts';
import { type QdqOptions, quantizeQdq } from './qdq.ts';
import type { TensorStats } from './ranges.ts';

/** First step: each tensor's range is tried ×1.25 and ÷1.25; a pass that keeps nothing halves the step (in log). */
export const FIRST_STEP = 1.25;

export interface RangeSearchResult {
  /** tensor → factor applied to the range method's clipping range (only those ≠ 1) */
  scales: Map<string, number>;
  /** the worst directory's objective (excess MAE over FP32, or distance to FP32) before and after the search */
  before: number;
  after: number;
  /** each search directory's objective before and after */
  directories: { dir: string; frames: number; before: number; after: number }[];
  /** what was measured: excess MAE against the simulator's truth, or distance to FP32's output */
  objective: 'excess-mae' | 'distance';
  /** models built and run */
  trials: number;
}

/**
 * Squared Hellinger distance between two output maps, each normalised to unit sum as the runtime
 * normalises a map (negative values, which a ReLU-free head can emit, count as zero). Unlike L1 it
 * weighs a faint emitter's mass by its square root, so the dim stars of a wide-magnitude field are
 * not drowned by one bright star's peak.
 */
export function outputDistance(a: Float32Array, b: Float32Array): number {
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < a.length; i++) {
    sa += Math.max(0, a[i]);
    sb += Math.max(0, b[i]);
  }
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.sqrt(Math.max(0, a[i]) / (sa || 1)) - Math.sqrt(Math.max(0, b[i]) / (sb || 1));
    d += e * e;
  }
  return d;
}

/** Per-group mean of the per-frame distances; groups[f] is frame f's group index. */
export function groupDistances(fp32: Float32Array[], int8: Float32Array[], groups: number[], nGroups: number): number[] {
  const sum = new Array<number>(nGroups).fill(0);
  const count = new Array<number>(nGroups).fill(0);
  for (let f = 0; f < fp32.length; f++) {
    sum[groups[f]] += outputDistance(fp32[f], int8[f]);
    count[groups[f]]++;
  }
  return sum.map((s, g) => (count[g] > 0 ? s / count[g] : 0));
}

/**
 * Coordinate descent on per-tensor range factors: each tensor's factor is tried ÷step and ×step
 * and the first that lowers the worst group's distance is kept; a pass that keeps nothing halves
 * the step (in log). evaluate returns one distance per group.
 */
export async function descend(
  tensors: string[],
  evaluate: (scales: Map<string, number>) => Promise<number[]>,
  passes: number,
): Promise<{ scales: Map<string, number>; first: number[]; best: number[] }> {
  let scales = new Map<string, number>();
  const first = await evaluate(scales);
  let best = first;
  let worst = Math.max(...first);
  let step = FIRST_STEP;
  for (let pass = 0; pass < passes; pass++) {
    let improved = false;
    for (const t of tensors) {
      for (const f of [1 / step, step]) {
        const trial = new Map(scales).set(t, (scales.get(t) ?? 1) * f);
        const g = await evaluate(trial);
        const w = Math.max(...g);
        if (w < worst) {
          worst = w;
          best = g;
          scales = trial;
          improved = true;
          break;
        }
      }
    }
    if (!improved) step = Math.sqrt(step);
  }
  return { scales, first, best };
}

/** Photons per fine pixel; scale = fine pixels per camera pixel. */
export type Truth = Pick<Image, 'data' | 'width' | 'height'> & { scale: number };

/**
 * The simulator's truth for a frame written by `rayleigh simulate --out` (frame_N.npy beside
 * params_N.json, which lists the emitters), or undefined when there is none.
 */
export async function loadTruth(framePath: string): Promise<Truth | undefined> {
  const m = /^frame_(.+)\.npy$/.exec(basename(framePath));
  if (!m) return undefined;
  let p: { width?: unknown; height?: unknown; scale?: unknown; emitters?: unknown };
  try {
    p = JSON.parse(await readFile(join(dirname(framePath), `params_${m[1]}.json`), 'utf8'));
  } catch {
    return undefined;
  }
  const { width, height, scale, emitters } = p;
  if (!Number.isInteger(width) || !Number.isInteger(height) || !Number.isInteger(scale) || !Array.isArray(emitters)) return undefined;
  return { ...renderTruth(emitters as Emitter[], width as number, height as number, scale as number), scale: scale as number };
}

/**
 * Mean absolute error of a model map against a truth map, both normalised to unit sum (the eval's
 * fine-grid MAE); the map may be larger (a frame padded to the network's multiple), its top-left
 * corner is the frame.
 */
export function truthMae(map: Float32Array, mapWidth: number, truth: Truth): number {
  const { width, height } = truth;
  const frame = Float32Array.from({ length: width * height }, (_, i) => Math.max(0, map[Math.floor(i / width) * mapWidth + (i % width)]));
  return mae(normaliseUnitSum(makeImage(width, height, frame)), normaliseUnitSum(makeImage(width, height, truth.data)));
}

/**
 * Each map's truthMae. inputs are the (padded) frames the maps were made from: a map is k× its
 * frame, and k must be the truth's scale.
 */
export function truthMaes(maps: Float32Array[], truths: Truth[], inputs: { width: number; height: number }[]): number[] {
  return maps.map((map, f) => {
    const { width, height } = inputs[f];
    const k = Math.round(Math.sqrt(map.length / (width * height)));
    if (k !== truths[f].scale) throw new Error(`the model's map is ${k}× the frame, the truth ${truths[f].scale}×`);
    return truthMae(map, width * k, truths[f]);
  });
}

/**
 * Per group, how much worse INT8's maps are than FP32's against the truth: Σ MAE(INT8) / Σ MAE(FP32) − 1,
 * the figure `rayleigh eval` reports per condition (per-frame MAEs from truthMaes).
 */
export function excessMae(fp32: number[], int8: number[], groups: number[], nGroups: number): number[] {
  const a = new Array<number>(nGroups).fill(0);
  const b = new Array<number>(nGroups).fill(0);
  for (let f = 0; f < fp32.length; f++) {
    a[groups[f]] += int8[f];
    b[groups[f]] += fp32[f];
  }
  return a.map((x, g) => (b[g] > 0 ? x / b[g] - 1 : 0));
}

export async function searchRanges(
  fp32: OnnxModel,
  stats: Map<string, TensorStats>,
  qdqOptions: QdqOptions,
  framePaths: string[],
  o: CalibrationOptions & { passes: number },
): Promise<RangeSearchResult> {
  const ort = await import('onnxruntime-node');
  const frames: Image[] = [];
  for (const p of framePaths) frames.push(await loadFrame(p, o.multiple, o.task ?? 'damn'));
  const output = fp32.graph?.output?.[0]?.name ?? '';

  const runAll = async (model: OnnxModel): Promise<Float32Array[]> => {
    const session = await ort.InferenceSession.create(encodeModel(model), {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: o.threads,
    });
    const out: Float32Array[] = [];
    try {
      for (const img of frames) {
        const feed = { [o.inputName]: new ort.Tensor('float32', img.data, [1, 1, img.height, img.width]) };
        const r = await session.run(feed, [output]);
        out.push(new Float32Array(r[output].data as Float32Array));
        for (const v of Object.values(r)) v.dispose();
      }
    } finally {
      await session.release();
    }
    return out;
  };

  // one group per calibration directory, in order of first appearance
  const dirs: string[] = [];
  const groups = framePaths.map((p) => {
    const d = dirname(p);
    if (!dirs.includes(d)) dirs.push(d);
    return dirs.indexOf(d);
  });
  const reference = await runAll(fp32);
  const truths = await Promise.all(framePaths.map(loadTruth));
  const withTruth = truths.every((t) => t !== undefined);
  // FP32's own error against the truth does not change between trials
  const referenceMaes = withTruth ? truthMaes(reference, truths as Truth[], frames) : [];
  let trials = 0;
  const distancesWith = async (scales: Map<string, number>): Promise<number[]> => {
    trials++;
    const { model } = quantizeQdq(fp32, stats, { ...qdqOptions, rangeScale: scales });
    const out = await runAll(model);
    if (!withTruth) return groupDistances(reference, out, groups, dirs.length);
    return excessMae(referenceMaes, truthMaes(out, truths as Truth[], frames), groups, dirs.length);
  };

  const tensors = quantizeQdq(fp32, stats, qdqOptions).report.ownRanges;
  const { scales, first, best } = await descend(tensors, distancesWith, o.passes);
  const directories = dirs.map((dir, g) => ({
    dir,
    frames: groups.filter((x) => x === g).length,
    before: first[g],
    after: best[g],
  }));
  return {
    scales,
    before: Math.max(...first),
    after: Math.max(...best),
    directories,
    objective: withTruth ? 'excess-mae' : 'distance',
    trials,
  };
}
