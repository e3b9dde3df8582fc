import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WorkerEngine } from '../../../src/inference/engine.ts';
import type { LoadedModel } from '../../../src/inference/manifest.ts';
import { findPeaks } from '../../../src/inference/peaks.ts';
import { planAxis, planTiles } from '../../../src/inference/tiling.ts';
import { imageSum } from '../../../src/optics/image.ts';
import { TINY_RECEPTIVE_FIELD, TINY_UNET_MULTIPLE, TINY_UNET_RECEPTIVE_FIELD } from '../../fixtures/tiny-model.ts';
import { loadedDamnModel, spotFrame } from './helpers.ts';

function fixtureModel(file: string, receptiveField: number, multiple: number): LoadedModel {
  const bytes = new Uint8Array(readFileSync(new URL(`../../fixtures/${file}`, import.meta.url)));
  return { ...loadedDamnModel(bytes, file.replace('.onnx', ''), receptiveField, multiple), path: file };
}

describe('tile planning', () => {
  it('covers every pixel exactly once with equal, aligned windows and full halos', () => {
    for (const [len, maxWindow, halo, multiple] of [
      [104, 40, 3, 8],
      [96, 40, 8, 8],
      [64, 64, 4, 1],
      [30, 12, 2, 2],
      [1088, 512, 70, 8],
      [3040, 512, 70, 8],
      [4056, 512, 70, 8],
    ]) {
      const axis = planAxis(len, maxWindow, halo, multiple);
      const covered = new Int32Array(len);
      for (const w of axis) {
        expect(w.size).toBe(axis[0].size);
        expect(w.size).toBeLessThanOrEqual(maxWindow);
        expect(w.start % multiple).toBe(0);
        expect(w.size % multiple).toBe(0);
        expect(w.start).toBeGreaterThanOrEqual(0);
        expect(w.start + w.size).toBeLessThanOrEqual(len);
        expect(w.coreStart - w.start >= halo || w.coreStart === 0).toBe(true);
        expect(w.start + w.size - w.coreEnd >= halo || w.coreEnd === len).toBe(true);
        for (let i = w.coreStart; i < w.coreEnd; i++) covered[i]++;
      }
      expect([...covered].every((c) => c === 1)).toBe(true);
      // the fewest windows: one fewer of the largest allowed size could not cover the axis
      const n = axis.length;
      if (n > 1) expect((n - 1) * Math.floor(maxWindow / multiple) * multiple - 2 * halo * (n - 2)).toBeLessThan(len);
    }
  });

  it('wastes little on sensor-sized frames: edge windows carry the larger cores', () => {
    const plan = planTiles(1456, 1088, { maxWindow: 512, halo: 70, multiple: 8 });
    // 4 × 3 windows; the old planner (equal cores of 256 + full halos) processed 2.5× the frame
    expect(plan.tiles).toHaveLength(12);
    expect(plan.overhead).toBeLessThan(1.7);
    const untiled = planTiles(1456, 1088, { maxWindow: 0, halo: 70, multiple: 8 });
    expect(untiled.tiles).toHaveLength(1);
    expect(untiled.overhead).toBe(1);
  });

  it('shrinks windows to the memory budget', () => {
    const free = planTiles(2048, 2048, { maxWindow: 1024, halo: 70, multiple: 8 });
    const tight = planTiles(2048, 2048, { maxWindow: 1024, halo: 70, multiple: 8, memoryBytes: 64 * 2 ** 20, bytesPerPixel: 512 });
    expect(free.windowWidth * free.windowHeight * 512).toBeGreaterThan(64 * 2 ** 20);
    expect(tight.windowWidth * tight.windowHeight * 512).toBeLessThanOrEqual(64 * 2 ** 20);
    expect(tight.tiles.length).toBeGreaterThan(free.tiles.length);
    // window 0 is "never tile", budget or not
    expect(
      planTiles(2048, 2048, { maxWindow: 0, halo: 70, multiple: 8, memoryBytes: 64 * 2 ** 20, bytesPerPixel: 512 }).tiles,
    ).toHaveLength(1);
  });

  it('refuses a window too small for its halo', () => {
    expect(() => planAxis(400, 100, 70, 8)).toThrow(/too small/);
  });
});

describe.each([
  ['tiny-fp32.onnx', TINY_RECEPTIVE_FIELD, 1],
  ['tiny-unet-fp32.onnx', TINY_UNET_RECEPTIVE_FIELD, TINY_UNET_MULTIPLE],
])('overlap-tile inference with %s', (file, rf, multiple) => {
  const model = fixtureModel(file, rf, multiple);
  const frame = spotFrame(75, 53, 7, 30);

  async function engine(window: number, halo: number, batch = 3) {
    return WorkerEngine.onnx(model, { provider: 'cpu', threads: 1, tile: { mode: 'windows', window, memoryMB: 1024, halo }, batch });
  }
  async function reconstructWith(window: number, halo: number, batch = 3) {
    const r = await engine(window, halo, batch);
    try {
      return await r.reconstruct(frame);
    } finally {
      await r.close();
    }
  }

  it('tiled output equals untiled output within float rounding when halo ≥ receptive field', async () => {
    const whole = await reconstructWith(0, 0);
    const tiled = await reconstructWith(2 * rf + 16, rf);
    expect(whole.width).toBe(75 * 4);
    expect(whole.height).toBe(53 * 4);
    expect(imageSum(whole)).toBeCloseTo(1, 4);
    let maxDiff = 0;
    let peak = 0;
    for (let i = 0; i < whole.data.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(whole.data[i] - tiled.data[i]));
      peak = Math.max(peak, whole.data[i]);
    }
    expect(maxDiff / peak).toBeLessThan(1e-5);
  });

  it('localisations collected tile by tile equal those of the untiled map', async () => {
    const whole = await reconstructWith(0, 0);
    const post = { threshold: 0.05, minDistance: 2, maxLocalizations: 1000 };
    const want = findPeaks(whole, 4, { threshold: post.threshold, minDistance: post.minDistance, maxPeaks: post.maxLocalizations });
    const r = await engine(2 * rf + 16, rf + 1);
    try {
      const out = await r.process({ image: frame, postprocess: post });
      expect(out.tiles).toBeGreaterThan(1);
      expect(out.map).toBeUndefined();
      expect(out.localizations.count).toBe(want.length);
      expect(want.length).toBeGreaterThan(3);
      for (let i = 0; i < want.length; i++) {
        expect(out.localizations.x[i]).toBeCloseTo(want[i].x, 4);
        expect(out.localizations.y[i]).toBeCloseTo(want[i].y, 4);
        expect(out.localizations.peak[i]).toBeCloseTo(want[i].peak, 6);
      }
    } finally {
      await r.close();
    }
  });

  it('without a halo the seams show (the comparison above can fail)', async () => {
    const whole = await reconstructWith(0, 0);
    const seams = await reconstructWith(24, 0);
    let maxDiff = 0;
    let peak = 0;
    for (let i = 0; i < whole.data.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(whole.data[i] - seams.data[i]));
      peak = Math.max(peak, whole.data[i]);
    }
    expect(maxDiff / peak).toBeGreaterThan(1e-3);
  });
});
