import { describe, expect, it } from 'vitest';
import { findPeaks } from '../../../src/inference/peaks.ts';
import { makeImage } from '../../../src/optics/image.ts';
import { matchEmitters } from '../../../src/optics/metrics.ts';
import { PsfRenderer } from '../../../src/optics/psf.ts';

describe('findPeaks', () => {
  it('recovers emitter positions to sub-pixel accuracy from a blurred fine map', () => {
    const scale = 4;
    const w = 40 * scale;
    const h = 30 * scale;
    const emitters = [
      { x: 5.3, y: 6.8, photons: 1000 },
      { x: 20.71, y: 14.2, photons: 600 },
      { x: 33.05, y: 25.5, photons: 1500 },
      { x: 12.4, y: 22.9, photons: 800 },
    ];
    const data = new Float64Array(w * h);
    new PsfRenderer({ shape: 'gauss', width: 0.4 }, 1 / scale).render(data, w, h, emitters);
    const map = makeImage(w, h, Float32Array.from(data));
    const locs = findPeaks(map, scale, {
      threshold: 0.2,
      window: 3,
      totalPhotons: 3900,
    });
    expect(locs).toHaveLength(4);
    const m = matchEmitters(emitters, locs, 0.5);
    expect(m.tp).toBe(4);
    expect(m.rmse).toBeLessThan(0.05);
    for (const [ti, fi] of m.pairs) expect(locs[fi].photons / emitters[ti].photons).toBeGreaterThan(0.8);
  });

  it('maps a single bright fine pixel j to camera (j + 0.5) / scale', () => {
    const map = makeImage(8, 8, new Float32Array(64));
    map.data[3 * 8 + 5] = 1;
    const [p] = findPeaks(map, 2);
    expect(p.x).toBeCloseTo(2.75, 12);
    expect(p.y).toBeCloseTo(1.75, 12);
    expect(p.peak).toBe(1);
  });

  it('suppresses neighbours closer than minDistance and respects the threshold', () => {
    const map = makeImage(20, 1, new Float32Array(20));
    map.data[5] = 1;
    map.data[7] = 0.9;
    map.data[15] = 0.05;
    expect(findPeaks(map, 1, { minDistance: 3, threshold: 0.1, window: 0 }).map((p) => p.peak)).toEqual([1]);
    expect(findPeaks(map, 1, { minDistance: 1, threshold: 0.01, window: 0 })).toHaveLength(3);
    expect(findPeaks(makeImage(4, 4, new Float32Array(16)), 1)).toEqual([]);
  });
});
