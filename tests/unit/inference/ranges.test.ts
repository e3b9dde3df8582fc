import { describe, expect, it } from 'vitest';
import {
  clipRange,
  entropyThreshold,
  HISTOGRAM_BINS,
  mseThreshold,
  percentileOfHistogram,
  TensorStats,
  uint8Params,
} from '../../../src/inference/quantize/ranges.ts';

function statsOf(values: number[]): TensorStats {
  const s = new TensorStats();
  s.observeRange(values);
  s.observeHistogram(values);
  return s;
}

describe('calibration ranges', () => {
  it('percentile clips rare outliers, minmax keeps them', () => {
    const values = Array.from({ length: 100_000 }, (_, i) => (i % 1000) / 1000);
    values.push(50);
    const s = statsOf(values);
    const opts = { percentile: 99.9, headroom: 1 };
    expect(clipRange(s, { ...opts, method: 'minmax' }, false).hi).toBe(50);
    const p = clipRange(s, { ...opts, method: 'percentile' }, false);
    expect(p.hi).toBeGreaterThan(0.99);
    expect(p.hi).toBeLessThan(1.1);
    expect(p.lo).toBe(0);
  });

  it('headroom widens both sides; nonNegative pins the low end at 0', () => {
    const s = statsOf([-2, -1, 0, 1, 2, 4]);
    const r = clipRange(s, { method: 'minmax', percentile: 100, headroom: 1.5 }, false);
    expect(r.lo).toBeCloseTo(-3);
    expect(r.hi).toBeCloseTo(6);
    expect(clipRange(s, { method: 'minmax', percentile: 100, headroom: 1 }, true).lo).toBe(0);
  });

  it('percentile of a uniform histogram is linear', () => {
    const h = new Float64Array(HISTOGRAM_BINS).fill(1);
    expect(percentileOfHistogram(h, 10, 50)).toBeCloseTo(5, 1);
    expect(percentileOfHistogram(h, 10, 100)).toBe(10);
  });

  it('entropy threshold cuts a long sparse tail but keeps a dense body', () => {
    const h = new Float64Array(HISTOGRAM_BINS);
    for (let i = 0; i < 256; i++) h[i] = 1000 * Math.exp(-i / 40);
    h[HISTOGRAM_BINS - 1] = 1;
    const t = entropyThreshold(h, 100, 128);
    expect(t).toBeLessThan(50);
    expect(t).toBeGreaterThan((128 / HISTOGRAM_BINS) * 100 - 1e-9);
  });

  it('mse threshold is the one with the least squared error of clipping plus rounding', () => {
    // an exponential body with a heavy tail, quantized to 256 levels on [0, t]
    const values: number[] = [];
    let seed = 7;
    const rand = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 4294967296;
    };
    for (let i = 0; i < 50_000; i++) values.push(-Math.log(1 - rand()) * (rand() < 0.01 ? 20 : 1));
    const s = statsOf(values);
    const squaredError = (t: number) => {
      const step = t / 255;
      let e = 0;
      for (const v of values) e += v > t ? (v - t) ** 2 : step ** 2 / 12;
      return e;
    };
    const t = mseThreshold(s.pos ?? new Float64Array(0), s.max, 256);
    let best = Number.POSITIVE_INFINITY;
    for (let k = 1; k <= 400; k++) best = Math.min(best, squaredError((k / 400) * s.max));
    expect(squaredError(t)).toBeLessThan(best * 1.02);
    // the rare bright tail costs more clipped than the coarser step does, so mse keeps most of it,
    // where a 99.9 percentile cuts it off
    expect(t).toBeGreaterThan(s.max * 0.5);
    expect(clipRange(s, { method: 'percentile', percentile: 99.9, headroom: 1 }, false).hi).toBeLessThan(s.max * 0.5);
    expect(clipRange(s, { method: 'mse', percentile: 100, headroom: 1 }, false).hi).toBeCloseTo(t);
  });

  it('uint8 parameters represent zero exactly', () => {
    for (const [lo, hi] of [
      [0, 5],
      [-1, 3],
      [-0.3, 0.01],
    ]) {
      const p = uint8Params(lo, hi);
      expect(Number.isInteger(p.zeroPoint)).toBe(true);
      expect(p.zeroPoint).toBeGreaterThanOrEqual(0);
      expect(p.zeroPoint).toBeLessThanOrEqual(255);
      expect((0 - p.zeroPoint) * p.scale + p.zeroPoint * p.scale).toBe(0);
      expect(p.scale * 255).toBeCloseTo(Math.max(0, hi) - Math.min(0, lo));
    }
    expect(uint8Params(0, 5).zeroPoint).toBe(0);
  });
});
