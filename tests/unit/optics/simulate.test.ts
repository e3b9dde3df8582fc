import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.ts';
import { imageSum } from '../../../src/optics/image.ts';
import { Rng } from '../../../src/optics/random.ts';
import { DEFAULT_DAMN_SPEC, drawDamnSample, parseLogRange, parsePsfShapes } from '../../../src/optics/sample.ts';
import { meanEmitterCount, randomScene } from '../../../src/optics/scene.ts';
import { renderExpected, renderFrame, renderTruth } from '../../../src/optics/simulate.ts';

describe('scene', () => {
  it('scales the density per 50×50 px by the frame area', () => {
    expect(meanEmitterCount(100, 50, 50)).toBe(100);
    expect(meanEmitterCount(100, 100, 50)).toBe(200);
    const counts: number[] = [];
    const rng = new Rng(4);
    for (let i = 0; i < 400; i++) counts.push(randomScene(rng, { width: 64, height: 64, density: 20, photons: 1 }).length);
    const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
    const expected = meanEmitterCount(20, 64, 64);
    expect(Math.abs(mean - expected)).toBeLessThan(5 * Math.sqrt(expected / counts.length));
  });

  it('places emitters inside the frame', () => {
    const e = randomScene(new Rng(5), {
      width: 30,
      height: 20,
      density: 0,
      photons: 3,
      count: 500,
    });
    expect(e).toHaveLength(500);
    expect(e.every((p) => p.x >= 0 && p.x < 30 && p.y >= 0 && p.y < 20 && p.photons === 3)).toBe(true);
  });
});

describe('forward model', () => {
  const emitters = [
    { x: 20.3, y: 18.9, photons: 1000 },
    { x: 31.7, y: 40.2, photons: 250 },
    { x: 44.05, y: 22.5, photons: 4000 },
  ];

  it('conserves photons: truth sum = camera integral for emitters away from the edges', () => {
    for (const shape of ['gauss', 'airy'] as const) {
      const expected = renderExpected(emitters, { shape, width: 1.2 }, 64, 64);
      let camera = 0;
      for (const v of expected) camera += v;
      const truth = renderTruth(emitters, 64, 64, 4);
      expect(imageSum(truth)).toBeCloseTo(5250, 3);
      // Gaussian: all light lands; Airy: ≤ 1 % beyond the render radius or the frame edge
      expect(Math.abs(camera / imageSum(truth) - 1)).toBeLessThan(shape === 'gauss' ? 1e-6 : 0.02);
    }
  });

  it('puts truth photons in fine pixel (floor(x·scale), floor(y·scale))', () => {
    const truth = renderTruth(emitters, 64, 64, 4);
    expect(truth.width).toBe(256);
    expect(truth.data[Math.floor(18.9 * 4) * 256 + Math.floor(20.3 * 4)]).toBe(1000);
    expect(truth.data[90 * 256 + 176]).toBe(4000);
    const t3 = renderTruth([{ x: 1.99, y: 0.5, photons: 7 }], 4, 4, 3);
    expect(t3.data[1 * 12 + 5]).toBe(7);
  });

  it('adds Poisson noise with mean signal + background', () => {
    const rng = new Rng(6);
    const psf = { shape: 'gauss' as const, width: 1 };
    const n = 300;
    let s = 0;
    let s2 = 0;
    const exp = renderExpected(emitters, psf, 64, 64);
    const idx = 19 * 64 + 20;
    const lam = exp[idx] + 12;
    for (let i = 0; i < n; i++) {
      const f = renderFrame(emitters, psf, 64, 64, 12, rng);
      const v = f.data[idx];
      s += v;
      s2 += v * v;
    }
    const mean = s / n;
    expect(Math.abs(mean - lam)).toBeLessThan(5 * Math.sqrt(lam / n));
    expect(Math.abs(s2 / n - mean * mean - lam)).toBeLessThan(5 * Math.sqrt((2 * lam * lam + lam) / n));
    const noiseless = renderFrame(emitters, psf, 64, 64, 12, null);
    expect(noiseless.data[idx]).toBeCloseTo(lam, 3);
  });
});

describe('samples', () => {
  it('draws parameters inside the requested ranges and consistent sizes', () => {
    const rng = new Rng(8);
    const spec = { ...DEFAULT_DAMN_SPEC, width: 32, height: 24, scale: 2 };
    for (let i = 0; i < 20; i++) {
      const s = drawDamnSample(rng, spec);
      expect(s.frame.width).toBe(32);
      expect(s.frame.height).toBe(24);
      expect(s.truth.width).toBe(64);
      expect(s.truth.height).toBe(48);
      expect(s.params.psf.width).toBeGreaterThanOrEqual(spec.psfWidth.min);
      expect(s.params.psf.width).toBeLessThanOrEqual(spec.psfWidth.max);
      expect(s.params.emitterCount).toBe(s.emitters.length);
      expect(imageSum(s.truth)).toBeCloseTo(s.emitters.length * s.params.photons, 0);
    }
  });

  it('parses ranges and rejects bad ones with UserError', () => {
    expect(parseLogRange('1:100', 'x')).toEqual({ min: 1, max: 100 });
    expect(parseLogRange('5', 'x')).toEqual({ min: 5, max: 5 });
    expect(parseLogRange('0', 'x', true)).toEqual({ min: 0, max: 0 });
    for (const bad of ['a', '1:2:3', '-1', '5:1', '0:4', '']) expect(() => parseLogRange(bad, 'x', bad === '0:4')).toThrow(UserError);
    expect(parsePsfShapes('gauss, airy')).toEqual(['gauss', 'airy']);
    expect(() => parsePsfShapes('lorentz')).toThrow(UserError);
  });
});
