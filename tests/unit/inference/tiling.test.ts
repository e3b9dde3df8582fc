import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OnnxReconstructor } from '../../../src/inference/onnx-reconstructor.ts';
import type { LoadedModel } from '../../../src/inference/registry.ts';
import { sha256Hex } from '../../../src/inference/registry.ts';
import { planAxis, planTiles } from '../../../src/inference/tiling.ts';
import { imageSum } from '../../../src/optics/image.ts';
import { TINY_RECEPTIVE_FIELD, TINY_UNET_MULTIPLE, TINY_UNET_RECEPTIVE_FIELD } from '../../fixtures/tiny-model.ts';
import { spotFrame } from './helpers.ts';

function fixtureModel(file: string, receptiveField: number, multiple: number): LoadedModel {
  const bytes = new Uint8Array(readFileSync(new URL(`../../fixtures/${file}`, import.meta.url)));
  return {
    path: file,
    bytes,
    sha256: sha256Hex(bytes),
    entry: {
      id: file.replace('.onnx', ''),
      file,
      sha256: sha256Hex(bytes),
      task: 'damn',
      precision: 'fp32',
      input: { name: 'input', layout: 'NCHW', normalisation: 'min-sub-unit-sum-x-hw/2500', multiple },
      output: { name: 'output', scale: 4, meaning: 'test' },
      opset: 13,
      macsPerPixel: 0,
      receptiveField,
      trainedBy: 'tests',
    },
  };
}

describe('tile planning', () => {
  it('covers every pixel exactly once with equal, aligned windows and full halos', () => {
    for (const [len, size, halo, multiple] of [
      [100, 16, 3, 1],
      [96, 20, 8, 8],
      [64, 64, 4, 1],
      [30, 7, 2, 2],
    ]) {
      const axis = planAxis(len, { size, halo, multiple });
      const covered = new Int32Array(len);
      for (const w of axis) {
        expect(w.size).toBe(axis[0].size);
        expect(w.start % multiple).toBe(0);
        expect(w.start).toBeGreaterThanOrEqual(0);
        expect(w.start + w.size).toBeLessThanOrEqual(len);
        expect(w.coreStart - w.start >= halo || w.start === 0).toBe(true);
        expect(w.start + w.size - w.coreEnd >= halo || w.start + w.size === len).toBe(true);
        for (let i = w.coreStart; i < w.coreEnd; i++) covered[i]++;
      }
      expect([...covered].every((c) => c === 1)).toBe(true);
    }
    expect(planTiles(100, 40, { size: 16, halo: 3, multiple: 1 })).toHaveLength(7 * 3);
    expect(planTiles(100, 40, { size: 0, halo: 3, multiple: 1 })).toHaveLength(1);
  });
});

describe.each([
  ['tiny-fp32.onnx', TINY_RECEPTIVE_FIELD, 1],
  ['tiny-unet-fp32.onnx', TINY_UNET_RECEPTIVE_FIELD, TINY_UNET_MULTIPLE],
])('overlap-tile inference with %s', (file, rf, multiple) => {
  const model = fixtureModel(file, rf, multiple);
  const frame = spotFrame(75, 53, 7, 30);

  async function reconstructWith(size: number, halo: number, batch = 3) {
    const r = await OnnxReconstructor.create(model, { provider: 'cpu', threads: 1, tile: { size, halo }, batch });
    try {
      return await r.reconstruct(frame);
    } finally {
      await r.close();
    }
  }

  it('tiled output equals untiled output within float rounding when halo ≥ receptive field', async () => {
    const whole = await reconstructWith(0, 0);
    const tiled = await reconstructWith(16, rf);
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

  it('without a halo the seams show (the comparison above can fail)', async () => {
    const whole = await reconstructWith(0, 0);
    const seams = await reconstructWith(16, 0);
    let maxDiff = 0;
    let peak = 0;
    for (let i = 0; i < whole.data.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(whole.data[i] - seams.data[i]));
      peak = Math.max(peak, whole.data[i]);
    }
    expect(maxDiff / peak).toBeGreaterThan(1e-3);
  });
});
