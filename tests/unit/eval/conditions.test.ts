import { describe, expect, it } from 'vitest';
import { idealSubpixel } from '../../../src/eval/ceiling.ts';
import { DAMN_CONDITIONS, selectConditions } from '../../../src/eval/conditions.ts';
import { drawTestSample } from '../../../src/eval/damn.ts';
import { cameraPreset } from '../../../src/optics/camera.ts';
import { normaliseUnitSum } from '../../../src/optics/image.ts';
import { Rng } from '../../../src/optics/random.ts';
import { randomScene } from '../../../src/optics/scene.ts';
import { renderFrame, renderTruth } from '../../../src/optics/simulate.ts';

const byName = (n: string) => {
  const c = DAMN_CONDITIONS.find((x) => x.name === n);
  if (!c) throw new Error(`no condition ${n}`);
  return c;
};

describe('eval conditions', () => {
  it('keeps the seven original conditions and their seed blocks; adds their DAMN-spread twins and the realism rows', () => {
    const seven = ['default', 'sparse', 'dense', 'narrow', 'wide', 'airy', 'low-snr'];
    expect(selectConditions('equal').map((c) => c.name)).toEqual(seven);
    expect(selectConditions('spread').map((c) => c.name)).toEqual(seven.map((n) => `${n}-damn`));
    expect(selectConditions('realism').map((c) => c.name)).toEqual([
      'wide-spread',
      'scmos',
      'emccd',
      'aberrated',
      'structured-bg',
      'undersampled',
    ]);
    expect(selectConditions('all')).toHaveLength(DAMN_CONDITIONS.length);
    expect(new Set(DAMN_CONDITIONS.map((c) => c.name)).size).toBe(DAMN_CONDITIONS.length);
    seven.forEach((n, i) => {
      expect(byName(n).seedIndex).toBe(i);
      expect(byName(`${n}-damn`).seedIndex).toBe(i);
    });
    expect(byName('default')).toMatchObject({ psf: { shape: 'gauss', width: 2 }, density: 50, photons: 5000, background: 10 });
    expect(() => selectConditions('default,bogus')).toThrow(/bogus/);
    expect(selectConditions('isolated,default').map((c) => c.name)).toEqual(['default', 'isolated']);
  });

  it('draws the original frames for the original conditions, bit for bit', () => {
    const c = byName('dense');
    const s = drawTestSample(c, 64, 4, 1_200_003);
    const rng = new Rng(1_200_003);
    const em = randomScene(rng, { width: 64, height: 64, density: c.density, photons: c.photons });
    const f = renderFrame(em, c.psf, 64, 64, c.background, rng);
    expect(Buffer.from(s.frame.data.buffer).equals(Buffer.from(f.data.buffer))).toBe(true);
    expect(s.electrons).toBe(s.frame);
    expect(Buffer.from(s.truthFine.data.buffer).equals(Buffer.from(normaliseUnitSum(renderTruth(em, 64, 64, 4)).data.buffer))).toBe(true);
  });

  it('spread twins share positions; camera rows are ADU with calibrated electrons for RL', () => {
    const eq = drawTestSample(byName('default'), 64, 4, 1_000_005);
    const sp = drawTestSample(byName('default-damn'), 64, 4, 1_000_005);
    expect(sp.emitters.map((e) => e.x)).toEqual(eq.emitters.map((e) => e.x));
    expect(new Set(sp.emitters.map((e) => e.photons)).size).toBe(sp.emitters.length);
    const em = drawTestSample(byName('emccd'), 64, 4, 1_000_005);
    const cam = cameraPreset('emccd');
    expect(Math.min(...em.frame.data)).toBeGreaterThan(cam.offset - 40);
    let sum = 0;
    let sumE = 0;
    for (let i = 0; i < em.frame.data.length; i++) {
      sum += em.electrons.data[i];
      sumE += (em.frame.data[i] - cam.offset) * (cam.gain / cam.emGain);
    }
    expect(sum).toBeGreaterThanOrEqual(sumE);
    // total e⁻ ≈ QE × (signal + background) photons
    const photons = em.emitters.reduce((a, e) => a + e.photons, 0) + 10 * 64 * 64;
    expect(Math.abs(sumE / (cam.qe * photons) - 1)).toBeLessThan(0.1);
  });

  it('isolated scenes: a jittered grid, photons 500–20 000, one σ in 1–2.5 per frame, a CRLB per isolated emitter', () => {
    const s = drawTestSample(byName('isolated'), 64, 4, 1_300_000);
    expect(s.emitters).toHaveLength(16);
    expect(s.psf.width).toBeGreaterThanOrEqual(1);
    expect(s.psf.width).toBeLessThanOrEqual(2.5);
    for (const e of s.emitters) {
      expect(e.photons).toBeGreaterThanOrEqual(500);
      expect(e.photons).toBeLessThanOrEqual(20_000);
    }
    const finite = Array.from(s.crlbVar).filter((v) => Number.isFinite(v));
    expect(finite.length).toBeGreaterThan(0);
    // Airy and aberrated PSFs have no Gaussian bound
    expect(Array.from(drawTestSample(byName('airy'), 64, 4, 1).crlbVar).every((v) => Number.isNaN(v))).toBe(true);
  });

  it('the told-brightness oracle: equal brightness is unchanged, the DAMN spread is harder', () => {
    const eq = byName('narrow');
    const a = idealSubpixel(eq, { trials: 300, seed: 5, neighbours: true });
    const b = idealSubpixel({ ...eq, brightness: 'equal' }, { trials: 300, seed: 5, neighbours: true });
    expect(b).toEqual(a);
    // an isolated faint emitter: the spread only takes photons away (mean 0.55·P), so the Bayes
    // accuracy must drop (told or not); with neighbours, fainter neighbours partly make up for it
    const faint = { ...eq, photons: 300 };
    const e = idealSubpixel(faint, { trials: 300, seed: 6 });
    const d = idealSubpixel({ ...faint, brightness: 'damn' }, { trials: 300, seed: 6 });
    expect(d.accuracy).toBeLessThan(e.accuracy - 3 * Math.hypot(e.stderr, d.stderr));
  }, 60_000);
});
