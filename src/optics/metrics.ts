/** Image and localisation metrics used by eval, bench and the closed-loop self-test. */
import { type Image, makeImage } from './image.ts';

function assertSameSize(a: Image, b: Image): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`image sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  }
}

/** mean absolute error */
export function mae(a: Image, b: Image): number {
  assertSameSize(a, b);
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(a.data[i] - b.data[i]);
  return s / a.data.length;
}

/** Pearson correlation coefficient; 0 when either image is constant */
export function pearson(a: Image, b: Image): number {
  assertSameSize(a, b);
  const n = a.data.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a.data[i];
    mb += b.data[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a.data[i] - ma;
    const db = b.data[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

/**
 * Peak signal-to-noise ratio in dB of `test` against `reference`; the peak is the reference's
 * maximum unless given. Identical images give +Infinity.
 */
export function psnr(reference: Image, test: Image, peak?: number): number {
  assertSameSize(reference, test);
  let mse = 0;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < reference.data.length; i++) {
    const d = reference.data[i] - test.data[i];
    mse += d * d;
    if (reference.data[i] > max) max = reference.data[i];
  }
  mse /= reference.data.length;
  const p = peak ?? max;
  if (mse === 0) return Number.POSITIVE_INFINITY;
  return 10 * Math.log10((p * p) / mse);
}

/** Sum scale×scale blocks: a fine-grid map back to camera pixels (photons are conserved). */
export function binToCamera(fine: Image, scale: number): Image {
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`invalid scale ${scale}`);
  if (fine.width % scale !== 0 || fine.height % scale !== 0) {
    throw new Error(`${fine.width}x${fine.height} is not divisible by scale ${scale}`);
  }
  const w = fine.width / scale;
  const h = fine.height / scale;
  const out = new Float32Array(w * h);
  for (let y = 0; y < fine.height; y++) {
    const row = ((y / scale) | 0) * w;
    for (let x = 0; x < fine.width; x++) out[row + ((x / scale) | 0)] += fine.data[y * fine.width + x];
  }
  return makeImage(w, h, out);
}

/** Nearest-neighbour upsampling that keeps the sum (each camera pixel split evenly). */
export function upsampleUnitSum(img: Image, scale: number): Image {
  const w = img.width * scale;
  const h = img.height * scale;
  const out = new Float32Array(w * h);
  const k = 1 / (scale * scale);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out[y * w + x] = img.data[((y / scale) | 0) * img.width + ((x / scale) | 0)] * k;
  }
  return makeImage(w, h, out);
}

export interface Point {
  x: number;
  y: number;
}

export interface MatchResult {
  tp: number;
  fp: number;
  fn: number;
  /** TP / (TP + FP + FN); 1 when both sets are empty */
  jaccard: number;
  /** root mean square distance of matched pairs (NaN when none matched) */
  rmse: number;
  /** [truthIndex, foundIndex] */
  pairs: Array<[number, number]>;
}

/**
 * One-to-one matching of found positions to true ones within `maxDistance` (camera px),
 * greedily by increasing distance — equal to the optimal assignment whenever emitters are
 * further apart than 2·maxDistance, which is the regime where Jaccard is meaningful.
 */
export function matchEmitters(truth: ReadonlyArray<Point>, found: ReadonlyArray<Point>, maxDistance = 0.5): MatchResult {
  const cand: Array<[number, number, number]> = [];
  const md2 = maxDistance * maxDistance;
  for (let i = 0; i < truth.length; i++) {
    for (let j = 0; j < found.length; j++) {
      const dx = truth[i].x - found[j].x;
      const dy = truth[i].y - found[j].y;
      const d2 = dx * dx + dy * dy;
      if (d2 <= md2) cand.push([d2, i, j]);
    }
  }
  cand.sort((a, b) => a[0] - b[0]);
  const usedT = new Uint8Array(truth.length);
  const usedF = new Uint8Array(found.length);
  const pairs: Array<[number, number]> = [];
  let se = 0;
  for (const [d2, i, j] of cand) {
    if (usedT[i] || usedF[j]) continue;
    usedT[i] = 1;
    usedF[j] = 1;
    pairs.push([i, j]);
    se += d2;
  }
  const tp = pairs.length;
  const fp = found.length - tp;
  const fn = truth.length - tp;
  const denom = tp + fp + fn;
  return {
    tp,
    fp,
    fn,
    jaccard: denom === 0 ? 1 : tp / denom,
    rmse: tp > 0 ? Math.sqrt(se / tp) : Number.NaN,
    pairs,
  };
}
