import { describe, expect, it } from 'vitest';
import { addBackground, BACKGROUND_PRESETS } from '../../../src/optics/background.ts';
import { brightnessRange, drawBrightness } from '../../../src/optics/brightness.ts';
import { aduToElectrons, cameraMaps, cameraPreset, exposeFrame, saturationAdu } from '../../../src/optics/camera.ts';
import { Rng } from '../../../src/optics/random.ts';
import { DEFAULT_DAMN_SPEC, drawDamnSample } from '../../../src/optics/sample.ts';
import { randomScene } from '../../../src/optics/scene.ts';
import { renderCameraFrame, renderFrame } from '../../../src/optics/simulate.ts';

const meanVar = (v: ArrayLike<number>): [number, number] => {
  let m = 0;
  for (let i = 0; i < v.length; i++) m += v[i];
  m /= v.length;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - m) ** 2;
  return [m, s / (v.length - 1)];
};

describe('Rng.gamma', () => {
  it('has mean k and variance k for shapes below and above 1', () => {
    for (const k of [0.4, 1, 3.5, 40]) {
      const rng = new Rng(11);
      const v = Float64Array.from({ length: 40_000 }, () => rng.gamma(k));
      const [m, s2] = meanVar(v);
      expect(Math.abs(m - k)).toBeLessThan(5 * Math.sqrt(k / v.length));
      expect(Math.abs(s2 / k - 1)).toBeLessThan(0.05);
    }
  });
});

describe('brightness models', () => {
  it('equal draws nothing: same scene and same Rng state as before the option existed', () => {
    const a = new Rng(3);
    const b = new Rng(3);
    const e1 = randomScene(a, { width: 64, height: 64, density: 50, photons: 700 });
    const e2 = randomScene(b, { width: 64, height: 64, density: 50, photons: 700, brightness: 'equal' });
    expect(e2).toEqual(e1);
    expect(a.nextU32()).toBe(b.nextU32());
  });

  it('keeps positions across models and spreads brightness as documented', () => {
    const P = 5000;
    const eq = randomScene(new Rng(8), { width: 64, height: 64, density: 0, count: 20_000, photons: P });
    const damn = randomScene(new Rng(8), { width: 64, height: 64, density: 0, count: 20_000, photons: P, brightness: 'damn' });
    const wide = randomScene(new Rng(8), { width: 64, height: 64, density: 0, count: 20_000, photons: P, brightness: 'wide' });
    expect(damn.map((e) => e.x)).toEqual(eq.map((e) => e.x));
    // DAMN: Poisson(P)·U(0.1, 1) has mean 0.55·P and lies in [0.1, 1]·P up to Poisson scatter
    const [md] = meanVar(damn.map((e) => e.photons));
    expect(md / P).toBeGreaterThan(0.54);
    expect(md / P).toBeLessThan(0.56);
    const [lo, hi] = brightnessRange('damn', P);
    expect(Math.min(...damn.map((e) => e.photons))).toBeGreaterThan(0.95 * lo);
    expect(Math.max(...damn.map((e) => e.photons))).toBeLessThan(1.05 * hi);
    // wide: log10(photons/P) uniform on [−2, 0]: mean −1, variance 4/12
    const l = wide.map((e) => Math.log10(e.photons / P));
    const [ml, vl] = meanVar(l);
    expect(Math.abs(ml + 1)).toBeLessThan(0.02);
    expect(Math.abs(vl - 1 / 3)).toBeLessThan(0.02);
    expect(Math.min(...l)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...l)).toBeLessThanOrEqual(0);
    expect(drawBrightness(new Rng(1), 'equal', 42)).toBe(42);
  });
});

describe('camera model', () => {
  const flat = (n: number, v: number): Float64Array => new Float64Array(n).fill(v);

  it('ideal camera through renderCameraFrame is renderFrame, bit for bit', () => {
    const em = [
      { x: 10.2, y: 11.7, photons: 3000 },
      { x: 20.5, y: 5.1, photons: 800 },
    ];
    const a = renderFrame(em, { shape: 'gauss', width: 1.7 }, 32, 24, 9, new Rng(5));
    const b = renderCameraFrame(em, { shape: 'gauss', width: 1.7 }, 32, 24, { background: 9, camera: cameraPreset('ideal') }, new Rng(5));
    expect(Buffer.from(b.data.buffer).equals(Buffer.from(a.data.buffer))).toBe(true);
  });

  it('sCMOS: mean = offset + QE·λ/gain, variance = (QE·λ + σ_read²)/gain² (+ quantisation), integer ADU', () => {
    const c = { ...cameraPreset('scmos'), readNoiseSpread: 0, hotFraction: 0 };
    const n = 50_000;
    const lam = 40;
    const maps = cameraMaps(c, n, 1);
    const out = exposeFrame(flat(n, lam), c, maps, new Rng(2));
    expect(out.every((v) => Number.isInteger(v))).toBe(true);
    const [m, v] = meanVar(out);
    expect(Math.abs(m - (c.offset + (c.qe * lam) / c.gain))).toBeLessThan(0.3);
    const want = (c.qe * lam + c.readNoise ** 2) / c.gain ** 2 + 1 / 12;
    expect(Math.abs(v / want - 1)).toBeLessThan(0.03);
  });

  it('EMCCD: the EM register doubles the shot-noise variance (excess noise F = √2)', () => {
    const c = { ...cameraPreset('emccd'), hotFraction: 0, readNoise: 0 };
    const n = 50_000;
    const lam = 30;
    const out = exposeFrame(flat(n, lam), c, cameraMaps(c, n, 1), new Rng(9));
    const e = aduToElectrons(out, c);
    const [m, v] = meanVar(e);
    expect(Math.abs(m / (c.qe * lam) - 1)).toBeLessThan(0.01);
    // Var(e/G) = 2·QE·λ for Gamma(n, G) output of Poisson(QE·λ) input (+ tiny quantisation)
    expect(v / (c.qe * lam)).toBeGreaterThan(1.9);
    expect(v / (c.qe * lam)).toBeLessThan(2.1);
    // and a camera without the register has F² = 1
    const plain = { ...c, emGain: 1, gain: 1, bits: 0 };
    const [, v1] = meanVar(exposeFrame(flat(n, lam), plain, cameraMaps(plain, n, 1), new Rng(9)));
    expect(Math.abs(v1 / (c.qe * lam) - 1)).toBeLessThan(0.05);
  });

  it('saturates at 2^bits − 1, clips at 0, and puts hot pixels at fixed places', () => {
    const c = cameraPreset('cmos-astro');
    const n = 20_000;
    const maps = cameraMaps(c, 200, 100);
    expect(maps.hotIndex.length).toBe(Math.round(c.hotFraction * n));
    const bright = exposeFrame(flat(n, 1e6), c, maps, new Rng(1));
    expect(Math.max(...bright)).toBe(saturationAdu(c));
    expect(saturationAdu(c)).toBe(4095);
    // full well 8000 e⁻ / 2 e⁻/ADU + 256 = 4256 > 4095: the ADC clips first
    expect(bright.every((v) => v === 4095)).toBe(true);
    const dark = exposeFrame(flat(n, 0), c, maps, new Rng(1));
    expect(Math.min(...dark)).toBeGreaterThanOrEqual(0);
    // hot pixels stand out of the dark frame, at the same places in another frame
    const dark2 = exposeFrame(flat(n, 0), c, maps, new Rng(2));
    let hotMean = 0;
    for (const i of maps.hotIndex) hotMean += (dark[i] + dark2[i]) / 2 - c.offset;
    hotMean /= maps.hotIndex.length;
    expect(hotMean).toBeGreaterThan(50);
    expect(cameraMaps(c, 200, 100).hotIndex).toEqual(maps.hotIndex);
  });

  it('sCMOS read-noise map is right-skewed around its median and fixed by mapSeed', () => {
    const c = cameraPreset('scmos');
    const m = cameraMaps(c, 100, 100).readNoise;
    if (!m) throw new Error('no map');
    const sorted = Float32Array.from(m).sort();
    expect(Math.abs(sorted[5000] / c.readNoise - 1)).toBeLessThan(0.03);
    const [mean] = meanVar(m);
    expect(mean).toBeGreaterThan(sorted[5000]);
    expect(cameraMaps({ ...c, mapSeed: 99 }, 100, 100).readNoise?.[0]).not.toBe(m[0]);
  });
});

describe('structured background', () => {
  it('flat adds the level and draws nothing', () => {
    const t = new Float64Array(16);
    const rng = new Rng(4);
    addBackground(t, 4, 4, 7, BACKGROUND_PRESETS.none, rng);
    expect(Array.from(t)).toEqual(new Array(16).fill(7));
    expect(rng.nextU32()).toBe(new Rng(4).nextU32());
  });

  it('a gradient keeps the mean level and tilts the frame; blobs add light in smooth patches', () => {
    const w = 64;
    const h = 64;
    let tilted = 0;
    for (let s = 0; s < 20; s++) {
      const g = new Float64Array(w * h);
      addBackground(g, w, h, 10, BACKGROUND_PRESETS.gradient, new Rng(s));
      const [m] = meanVar(g);
      expect(Math.abs(m - 10)).toBeLessThan(1e-9);
      if (Math.max(...g) - Math.min(...g) > 2) tilted++;
      expect(Math.min(...g)).toBeGreaterThanOrEqual(10 * 0.4 - 1e-9);
    }
    expect(tilted).toBeGreaterThan(15);
    const b = new Float64Array(w * h);
    addBackground(b, w, h, 10, { gradient: 0, blobs: 6 }, new Rng(2));
    const [mb] = meanVar(b);
    expect(mb).toBeGreaterThan(10);
    // smooth: neighbouring pixels differ by far less than the structure's range
    let maxStep = 0;
    for (let i = 1; i < w; i++) maxStep = Math.max(maxStep, Math.abs(b[32 * w + i] - b[32 * w + i - 1]));
    expect(maxStep).toBeLessThan(0.25 * (Math.max(...b) - 10) + 1e-9);
  });
});

describe('realism in training samples', () => {
  it('camera presets make ADU frames whose minimum sits near the offset', () => {
    const spec = { ...DEFAULT_DAMN_SPEC, cameras: ['cmos-astro' as const], background: { min: 20, max: 20 } };
    const s = drawDamnSample(new Rng(3), spec);
    expect(s.params.camera).toBe('cmos-astro');
    const min = Math.min(...s.frame.data);
    expect(min).toBeGreaterThan(200);
    expect(s.frame.data.every((v) => Number.isInteger(v) && v <= 4095)).toBe(true);
  });
});
