import { describe, expect, it } from 'vitest';
import { makeImage } from '../../../src/optics/image.ts';
import { binToCamera, mae, matchEmitters, pearson, psnr, upsampleUnitSum } from '../../../src/optics/metrics.ts';

const img = (w: number, h: number, v: number[]) => makeImage(w, h, Float32Array.from(v));

describe('metrics', () => {
  it('MAE, Pearson and PSNR on hand-computed cases', () => {
    const a = img(2, 2, [0, 1, 2, 3]);
    const b = img(2, 2, [1, 1, 2, 5]);
    expect(mae(a, b)).toBeCloseTo(0.75, 12);
    expect(pearson(a, img(2, 2, [1, 3, 5, 7]))).toBeCloseTo(1, 12);
    expect(pearson(a, img(2, 2, [3, 2, 1, 0]))).toBeCloseTo(-1, 12);
    // Σdxdy = 6.5, Σdx² = 5, Σdy² = 10.75
    expect(pearson(a, b)).toBeCloseTo(6.5 / Math.sqrt(5 * 10.75), 10);
    expect(pearson(a, img(2, 2, [4, 4, 4, 4]))).toBe(0);
    // MSE = (1 + 0 + 0 + 4)/4 = 1.25, peak 3 → 10 log10(9 / 1.25)
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10(9 / 1.25), 10);
    expect(psnr(a, a)).toBe(Number.POSITIVE_INFINITY);
    expect(() => mae(a, img(1, 4, [0, 0, 0, 0]))).toThrow();
  });

  it('binToCamera sums blocks and upsampleUnitSum conserves the sum', () => {
    const fine = img(4, 2, [1, 2, 3, 4, 5, 6, 7, 8]);
    const cam = binToCamera(fine, 2);
    expect(cam.width).toBe(2);
    expect(Array.from(cam.data)).toEqual([14, 22]);
    const up = upsampleUnitSum(cam, 2);
    expect(Array.from(up.data)).toEqual([3.5, 3.5, 5.5, 5.5, 3.5, 3.5, 5.5, 5.5]);
    expect(() => binToCamera(img(3, 2, [0, 0, 0, 0, 0, 0]), 2)).toThrow();
  });

  it('matches emitters one-to-one within the max distance', () => {
    const truth = [
      { x: 1, y: 1 },
      { x: 5, y: 5 },
      { x: 9, y: 9 },
    ];
    const found = [
      { x: 1.3, y: 1.4 }, // 0.5 from truth 0
      { x: 5.1, y: 5 }, // 0.1 from truth 1
      { x: 5.2, y: 5 }, // duplicate → FP
      { x: 20, y: 20 }, // FP
    ];
    const m = matchEmitters(truth, found, 0.5);
    expect(m.tp).toBe(2);
    expect(m.fp).toBe(2);
    expect(m.fn).toBe(1);
    expect(m.jaccard).toBeCloseTo(2 / 5, 12);
    expect(m.rmse).toBeCloseTo(Math.sqrt((0.25 + 0.01) / 2), 6);
    expect(m.pairs).toContainEqual([1, 1]);
    expect(matchEmitters([], []).jaccard).toBe(1);
    expect(Number.isNaN(matchEmitters(truth, []).rmse)).toBe(true);
  });
});
