import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.ts';
import { type Image, imageSum, normaliseUnitSum } from '../../../src/optics/image.ts';
import { mae, pearson, upsampleUnitSum } from '../../../src/optics/metrics.ts';
import { type Psf, psfKernel } from '../../../src/optics/psf.ts';
import { Rng } from '../../../src/optics/random.ts';
import { estimateBackground, parsePsfSpec, RichardsonLucy } from '../../../src/optics/richardson-lucy.ts';
import { randomScene } from '../../../src/optics/scene.ts';
import { renderFrame, renderTruth } from '../../../src/optics/simulate.ts';

describe('parsePsfSpec', () => {
  it('parses shape:width and rejects bad specs', () => {
    expect(parsePsfSpec('gauss:2')).toEqual({ shape: 'gauss', width: 2 });
    expect(parsePsfSpec('airy:1.5')).toEqual({ shape: 'airy', width: 1.5 });
    for (const bad of ['gauss', 'lorentz:2', 'gauss:-1', 'gauss:abc', 'airy:0', '']) expect(() => parsePsfSpec(bad)).toThrow(UserError);
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
      expect(Math.abs((rl.lastResult?.background ?? 0) - 10)).toBeLessThanOrEqual(shape === 'gauss' ? 2 : 4);
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

/**
 * The textbook algorithm with a direct 2-D convolution (the implementation before the FFT and
 * separable operators): x ← x · H Bᵀ(y / (B H x + b)) / H Bᵀ 1.
 */
function referenceRl(frame: Image, psf: Psf, scale: number, iterations: number, bg: number): Float64Array {
  const { width: w, height: h } = frame;
  const fw = w * scale;
  const fh = h * scale;
  const sg = psf.width * scale;
  const radius = Math.min(psf.shape === 'gauss' ? 4 * sg + 1 : Math.max(8 * sg, 4), Math.max(fw, fh));
  const k = psfKernel(psf, 1 / scale, radius);
  const half = (k.size - 1) / 2;
  const conv = (src: Float64Array): Float64Array => {
    const out = new Float64Array(fw * fh);
    for (let y = 0; y < fh; y++) {
      for (let x = 0; x < fw; x++) {
        let acc = 0;
        for (let j = Math.max(0, y + half - fh + 1); j < Math.min(k.size, y + half + 1); j++) {
          const yy = y - (j - half);
          for (let i = Math.max(0, x + half - fw + 1); i < Math.min(k.size, x + half + 1); i++)
            acc += k.data[j * k.size + i] * src[yy * fw + x - (i - half)];
        }
        out[y * fw + x] = acc;
      }
    }
    return out;
  };
  const cam = (fy: number, fx: number): number => Math.floor(fy / scale) * w + Math.floor(fx / scale);
  const norm = conv(new Float64Array(fw * fh).fill(1));
  let sum = 0;
  for (const v of frame.data) sum += v;
  let x = new Float64Array(fw * fh).fill((sum - bg * w * h) / (fw * fh));
  for (let it = 0; it < iterations; it++) {
    const hx = conv(x);
    const ratio = new Float64Array(w * h);
    for (let fy = 0; fy < fh; fy++) for (let fx = 0; fx < fw; fx++) ratio[cam(fy, fx)] += hx[fy * fw + fx];
    for (let i = 0; i < ratio.length; i++) ratio[i] = frame.data[i] / (ratio[i] + bg);
    const up = new Float64Array(fw * fh);
    for (let fy = 0; fy < fh; fy++) for (let fx = 0; fx < fw; fx++) up[fy * fw + fx] = ratio[cam(fy, fx)];
    const hu = conv(up);
    x = x.map((v, i) => (v * Math.max(hu[i], 0)) / Math.max(norm[i], 1e-12));
  }
  const total = x.reduce((a, b) => a + b, 0);
  return x.map((v) => v / total);
}

describe('RichardsonLucy against the direct-convolution reference', () => {
  for (const psf of [
    { shape: 'gauss', width: 0.8 },
    { shape: 'gauss', width: 3 },
    { shape: 'airy', width: 0.9 },
  ] as Psf[]) {
    it(`agrees to 1e-5 (${psf.shape}:${psf.width})`, () => {
      const rng = new Rng(17);
      const emitters = randomScene(rng, { width: 10, height: 8, density: 0, photons: 3000, count: 4 });
      const frame = renderFrame(emitters, psf, 10, 8, 6, rng);
      const rl = new RichardsonLucy(psf, { scale: 3, iterations: 15, tolerance: 0, background: 6 });
      const out = rl.run(frame).image.data;
      const ref = referenceRl(frame, psf, 3, 15, 6);
      let d = 0;
      let peak = 0;
      for (let i = 0; i < ref.length; i++) {
        d = Math.max(d, Math.abs(out[i] - ref[i]));
        peak = Math.max(peak, ref[i]);
      }
      expect(d / peak).toBeLessThan(1e-5);
      expect(rl.lastResult?.iterations).toBe(15);
    });
  }
});
