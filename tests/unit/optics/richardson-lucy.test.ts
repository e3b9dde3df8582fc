import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.ts';
import { imageSum, normaliseUnitSum } from '../../../src/optics/image.ts';
import { mae, pearson, upsampleUnitSum } from '../../../src/optics/metrics.ts';
import { Rng } from '../../../src/optics/random.ts';
import { estimateBackground, parsePsfSpec, RichardsonLucy } from '../../../src/optics/richardson-lucy.ts';
import { randomScene } from '../../../src/optics/scene.ts';
import { renderFrame, renderTruth } from '../../../src/optics/simulate.ts';

describe('parsePsfSpec', () => {
  it('parses shape:width and rejects bad specs', () => {
    expect(parsePsfSpec('gauss:2')).toEqual({ shape: 'gauss', width: 2 });
    expect(parsePsfSpec('airy:1.5')).toEqual({ shape: 'airy', width: 1.5 });
    for (const bad of ['gauss', 'lorentz:2', 'gauss:-1', 'gauss:abc', 'airy:0', ''])
      expect(() => parsePsfSpec(bad)).toThrow(UserError);
  });
});

describe('RichardsonLucy', () => {
  for (const shape of ['gauss', 'airy'] as const) {
    it(`improves on the raw frame (${shape})`, async () => {
      const rng = new Rng(21);
      const psf = { shape, width: 1.5 };
      const emitters = randomScene(rng, {
        width: 24,
        height: 24,
        density: 40,
        photons: 5000,
        count: 6,
      });
      const frame = renderFrame(emitters, psf, 24, 24, 10, rng);
      const truth = normaliseUnitSum(renderTruth(emitters, 24, 24, 4));
      const rl = new RichardsonLucy(`${shape}:1.5`, {
        scale: 4,
        iterations: 40,
      });
      const out = await rl.reconstruct(frame);
      expect(out.width).toBe(96);
      expect(imageSum(out)).toBeCloseTo(1, 4);
      expect(out.data.every((v) => v >= 0)).toBe(true);
      const raw = upsampleUnitSum(normaliseUnitSum(frame), 4);
      expect(mae(out, truth)).toBeLessThan(mae(raw, truth));
      expect(pearson(out, truth)).toBeGreaterThan(pearson(raw, truth) + 0.1);
      // Airy rings add a halo on top of the true background of 10
      expect(Math.abs((rl.lastResult?.background ?? 0) - 10)).toBeLessThan(shape === 'gauss' ? 2 : 4);
      await rl.close();
    }, 60000);
  }

  it('stops early on the relative-change tolerance', () => {
    const rng = new Rng(2);
    const psf = { shape: 'gauss' as const, width: 1 };
    const frame = renderFrame([{ x: 8.2, y: 7.7, photons: 1e4 }], psf, 16, 16, 2, rng);
    const rl = new RichardsonLucy(psf, {
      scale: 2,
      iterations: 500,
      tolerance: 1e-2,
    });
    const r = rl.run(frame);
    expect(r.iterations).toBeLessThan(500);
  });

  it('estimates a Poisson background from the clipped median', () => {
    const rng = new Rng(5);
    const data = Float32Array.from({ length: 4096 }, (_, i) => (i % 50 === 0 ? 5000 : rng.poisson(30)));
    expect(Math.abs(estimateBackground(data) - 30)).toBeLessThan(1.5);
  });
});
