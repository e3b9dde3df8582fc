/** Activation statistics gathered over a calibration set, and the clipping ranges derived from them. */

/** Every range method, in the order the CLI lists them; the first is the default. */
export const RANGE_METHODS = ['percentile', 'mse', 'entropy', 'minmax'] as const;
export type RangeMethod = (typeof RANGE_METHODS)[number];

export const HISTOGRAM_BINS = 2048;

/**
 * Per-tensor statistics. Positive and negative values get separate magnitude histograms because
 * most activations here are one-sided (after ReLU) and their ranges are clipped per side.
 */
export class TensorStats {
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  count = 0;
  pos: Float64Array | undefined;
  neg: Float64Array | undefined;

  observeRange(data: ArrayLike<number>): void {
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
    this.count += data.length;
  }

  /** Second pass: histograms over [0, max] and [0, -min], fixed by the first pass. */
  observeHistogram(data: ArrayLike<number>): void {
    const bins = HISTOGRAM_BINS;
    this.pos ??= new Float64Array(bins);
    this.neg ??= new Float64Array(bins);
    const pw = this.max > 0 ? bins / this.max : 0;
    const nw = this.min < 0 ? bins / -this.min : 0;
    const pos = this.pos;
    const neg = this.neg;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v > 0) pos[Math.min(bins - 1, Math.floor(v * pw))]++;
      else if (v < 0) neg[Math.min(bins - 1, Math.floor(-v * nw))]++;
    }
  }
}

export interface RangeOptions {
  method: RangeMethod;
  /** percentile of the magnitudes on each side, 0..100 (method "percentile") */
  percentile: number;
  /** the clipping range is widened by this factor, so frames brighter than the calibration set saturate later */
  headroom: number;
}

/** Smallest magnitude below which `percentile` % of the histogram mass lies (upper bin edge). */
export function percentileOfHistogram(hist: Float64Array, top: number, percentile: number): number {
  let total = 0;
  for (const c of hist) total += c;
  if (total === 0 || top <= 0) return 0;
  const target = (percentile / 100) * total;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i];
    if (acc >= target) return ((i + 1) / hist.length) * top;
  }
  return top;
}

/**
 * KL-divergence (entropy) calibration: the clipping threshold whose `levels`-level quantization of
 * the histogram loses the least information. Outliers beyond a candidate threshold are folded into
 * its last bin, as in TensorRT's calibrator.
 */
export function entropyThreshold(hist: Float64Array, top: number, levels: number): number {
  const n = hist.length;
  let total = 0;
  for (const c of hist) total += c;
  if (total === 0 || top <= 0) return 0;
  if (n <= levels) return top;
  let best = n;
  let bestKl = Number.POSITIVE_INFINITY;
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  // candidates in steps keep this O(n²/step); the threshold resolution stays well under 1 %
  const step = Math.max(1, Math.floor(n / 512));
  for (let i = levels; i <= n; i += step) {
    let outliers = 0;
    for (let k = i; k < n; k++) outliers += hist[k];
    for (let k = 0; k < i; k++) p[k] = hist[k];
    p[i - 1] += outliers;
    // merge i bins into `levels` groups, then spread each group's mass over its non-empty bins
    q.fill(0, 0, i);
    const perLevel = i / levels;
    for (let j = 0; j < levels; j++) {
      const a = Math.floor(j * perLevel);
      const b = j === levels - 1 ? i : Math.floor((j + 1) * perLevel);
      let mass = 0;
      let nonEmpty = 0;
      for (let k = a; k < b; k++) {
        mass += hist[k];
        if (hist[k] > 0) nonEmpty++;
      }
      if (nonEmpty === 0) continue;
      for (let k = a; k < b; k++) if (hist[k] > 0) q[k] = mass / nonEmpty;
    }
    let pSum = 0;
    let qSum = 0;
    for (let k = 0; k < i; k++) {
      pSum += p[k];
      qSum += q[k];
    }
    if (qSum === 0) continue;
    let kl = 0;
    for (let k = 0; k < i; k++) {
      if (p[k] === 0) continue;
      const pk = p[k] / pSum;
      const qk = q[k] > 0 ? q[k] / qSum : 1e-12 / qSum;
      kl += pk * Math.log(pk / qk);
    }
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return (best / n) * top;
}

/**
 * The clipping threshold with the least expected squared error: values above it cost (v - t)², values
 * below it the rounding noise step²/12 with step = t / (levels - 1). Unlike a percentile it keeps the
 * rare bright peaks whose clipping costs more than the coarser step (emitter peaks in sparse frames).
 */
export function mseThreshold(hist: Float64Array, top: number, levels: number): number {
  const n = hist.length;
  if (top <= 0) return 0;
  const width = top / n;
  // Suffix sums of count and of count·centre and count·centre² make each candidate O(1).
  const c0 = new Float64Array(n + 1);
  const c1 = new Float64Array(n + 1);
  const c2 = new Float64Array(n + 1);
  for (let k = n - 1; k >= 0; k--) {
    const v = (k + 0.5) * width;
    c0[k] = c0[k + 1] + hist[k];
    c1[k] = c1[k + 1] + hist[k] * v;
    c2[k] = c2[k + 1] + hist[k] * v * v;
  }
  if (c0[0] === 0) return 0;
  let best = top;
  let bestErr = Number.POSITIVE_INFINITY;
  for (let i = 1; i <= n; i++) {
    const t = i * width;
    const step = t / (levels - 1);
    const clipped = c2[i] - 2 * t * c1[i] + t * t * c0[i];
    const err = clipped + ((c0[0] - c0[i]) * step * step) / 12;
    if (err < bestErr) {
      bestErr = err;
      best = t;
    }
  }
  return best;
}

function sideRange(hist: Float64Array | undefined, top: number, o: RangeOptions, levels: number): number {
  if (top <= 0) return 0;
  if (o.method === 'minmax' || !hist) return top;
  if (o.method === 'percentile') return percentileOfHistogram(hist, top, o.percentile);
  if (o.method === 'mse') return mseThreshold(hist, top, levels);
  return entropyThreshold(hist, top, levels);
}

/** Clipping range [lo, hi] for a tensor; `nonNegative` when a removed ReLU clamps it at zero. */
export function clipRange(s: TensorStats, o: RangeOptions, nonNegative: boolean): { lo: number; hi: number } {
  if (s.count === 0) throw new Error('tensor never observed during calibration');
  const twoSided = !nonNegative && s.min < 0 && s.max > 0;
  const levels = twoSided ? 128 : 256;
  const hi = sideRange(s.pos, Math.max(0, s.max), o, levels) * o.headroom;
  const lo = nonNegative || s.min >= 0 ? 0 : -sideRange(s.neg, -s.min, o, levels) * o.headroom;
  return { lo, hi };
}

export interface QParams {
  scale: number;
  zeroPoint: number;
}

/** Asymmetric uint8 parameters covering [lo, hi] and exactly representing 0 (zero padding must stay 0). */
export function uint8Params(lo: number, hi: number): QParams {
  const rmin = Math.min(0, lo);
  const rmax = Math.max(0, hi);
  if (rmax - rmin <= 0) return { scale: 1, zeroPoint: 0 };
  const scale = (rmax - rmin) / 255;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-rmin / scale)));
  return { scale, zeroPoint };
}
