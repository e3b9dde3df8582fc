import { describe, expect, it } from 'vitest';
import { type Psf, PsfRenderer, psfKernel } from '../../../src/optics/psf.ts';
import { pupilPhaseWaves, pupilPsfTable, zernikeRms } from '../../../src/optics/pupil.ts';

const N = 64;
const C = 32;

function render(psf: Psf, x = C + 0.3, y = C - 0.2, exact = false): Float64Array {
  const t = new Float64Array(N * N);
  new PsfRenderer(psf, 1, exact).addEmitter(t, N, N, x, y, 1);
  return t;
}

/** centroid and second central moments of a rendered PSF */
function moments(t: Float64Array): { sum: number; mx: number; my: number; xx: number; yy: number; xy: number } {
  let sum = 0;
  let mx = 0;
  let my = 0;
  for (let j = 0; j < N; j++)
    for (let i = 0; i < N; i++) {
      const v = t[j * N + i];
      sum += v;
      mx += v * (i + 0.5);
      my += v * (j + 0.5);
    }
  mx /= sum;
  my /= sum;
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (let j = 0; j < N; j++)
    for (let i = 0; i < N; i++) {
      const v = t[j * N + i] / sum;
      xx += v * (i + 0.5 - mx) ** 2;
      yy += v * (j + 0.5 - my) ** 2;
      xy += v * (i + 0.5 - mx) * (j + 0.5 - my);
    }
  return { sum, mx, my, xx, yy, xy };
}

describe('elliptical Gaussian', () => {
  it('axis-aligned: per-axis variance σ²/2 + 1/12 (pixel box), unit energy, centred', () => {
    const m = moments(render({ shape: 'gauss', width: 3, widthY: 1.2 }));
    expect(m.sum).toBeCloseTo(1, 6);
    expect(m.mx).toBeCloseTo(C + 0.3, 6);
    expect(m.xx).toBeCloseTo(9 / 2 + 1 / 12, 4);
    expect(m.yy).toBeCloseTo(1.44 / 2 + 1 / 12, 4);
    expect(Math.abs(m.xy)).toBeLessThan(1e-9);
  });

  it('rotated by 90° equals the axes swapped; rotated by 45° has the covariance of the rotated ellipse', () => {
    const a = render({ shape: 'gauss', width: 2.5, widthY: 1.1, angle: Math.PI / 2 });
    const b = render({ shape: 'gauss', width: 1.1, widthY: 2.5 });
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 12);
    const m = moments(render({ shape: 'gauss', width: 2.5, widthY: 1.1, angle: Math.PI / 4 }));
    // covariance of exp(−u²/σ1² − v²/σ2²) is diag(σ²/2) rotated: xy = (σ1² − σ2²)/4 at 45°
    expect(m.sum).toBeCloseTo(1, 3);
    expect(m.xy).toBeCloseTo((2.5 ** 2 - 1.1 ** 2) / 4, 2);
    expect(m.xx).toBeCloseTo(m.yy, 3);
  });

  it('the quadrature path agrees with the exact separable path at a tiny angle', () => {
    const q = render({ shape: 'gauss', width: 1.8, widthY: 0.9, angle: 1e-9 });
    const e = render({ shape: 'gauss', width: 1.8, widthY: 0.9 });
    let max = 0;
    let peak = 0;
    for (let i = 0; i < q.length; i++) {
      max = Math.max(max, Math.abs(q[i] - e[i]));
      peak = Math.max(peak, e[i]);
    }
    expect(max / peak).toBeLessThan(2e-3);
  });
});

describe('aberrated pupil PSF', () => {
  it('the unaberrated pupil reproduces the analytic Airy pattern, also undersampled', () => {
    for (const width of [0.5, 2]) {
      const pupil = pupilPsfTable(width, {});
      let s = 0;
      for (const v of pupil.data) s += v;
      expect(s * pupil.step * pupil.step).toBeGreaterThan(0.98);
      const airy = render({ shape: 'airy', width }, C + 0.3, C - 0.2, true);
      const tab = render({ shape: 'airy', width, aberration: { defocus: 1e-12 } });
      let max = 0;
      let peak = 0;
      for (let i = 0; i < airy.length; i++) {
        max = Math.max(max, Math.abs(airy[i] - tab[i]));
        peak = Math.max(peak, airy[i]);
      }
      expect(max / peak).toBeLessThan(5e-3);
    }
  });

  it('defocus lowers the peak and widens the core; its sign does not matter', () => {
    const focus = render({ shape: 'airy', width: 1.5 });
    const plus = render({ shape: 'airy', width: 1.5, aberration: { defocus: 0.25 } });
    const minus = render({ shape: 'airy', width: 1.5, aberration: { defocus: -0.25 } });
    expect(Math.max(...plus)).toBeLessThan(0.75 * Math.max(...focus));
    for (let i = 0; i < plus.length; i++) expect(plus[i]).toBeCloseTo(minus[i], 4);
    const core = (t: Float64Array): number => {
      // light within 2σ of the emitter
      let s = 0;
      for (let j = 0; j < N; j++)
        for (let i = 0; i < N; i++) if ((i + 0.5 - C - 0.3) ** 2 + (j + 0.5 - C + 0.2) ** 2 < 9) s += t[j * N + i];
      return s;
    };
    expect(core(plus)).toBeLessThan(core(focus) - 0.05);
  });

  it('astigmatism elongates along x or y by its sign; coma shifts the light along its axis', () => {
    const ax = moments(render({ shape: 'airy', width: 1.5, aberration: { astigmatism: 0.15, defocus: 0.1 } }));
    const ay = moments(render({ shape: 'airy', width: 1.5, aberration: { astigmatism: -0.15, defocus: 0.1 } }));
    expect(Math.abs(ax.xx - ax.yy)).toBeGreaterThan(0.2);
    expect(Math.sign(ax.xx - ax.yy)).toBe(-Math.sign(ay.xx - ay.yy));
    const round = moments(render({ shape: 'airy', width: 1.5 }));
    const cx = moments(render({ shape: 'airy', width: 1.5, aberration: { comaX: 0.2 } }));
    const cy = moments(render({ shape: 'airy', width: 1.5, aberration: { comaY: 0.2 } }));
    // the peak moves while the energy centroid stays (a pure phase has no net tilt): look at the peak
    const argmax = (t: Float64Array): [number, number] => {
      let k = 0;
      for (let i = 1; i < t.length; i++) if (t[i] > t[k]) k = i;
      return [k % N, Math.floor(k / N)];
    };
    const pc = argmax(render({ shape: 'airy', width: 1.5, aberration: { comaX: 0.3 } }));
    const p0 = argmax(render({ shape: 'airy', width: 1.5 }));
    expect(pc[0]).not.toBe(p0[0]);
    expect(pc[1]).toBe(p0[1]);
    expect(cx.xx).toBeGreaterThan(round.xx);
    expect(cy.yy).toBeGreaterThan(round.yy);
    expect(Math.abs(cx.yy - round.yy)).toBeLessThan(Math.abs(cx.xx - round.xx));
  });

  it('Zernike terms are RMS-normalised over the pupil (Noll)', () => {
    // mean of Z² over the unit disc is 1 for each term (numerical quadrature)
    for (const k of ['defocus', 'astigmatism', 'comaX', 'spherical'] as const) {
      let s = 0;
      let n = 0;
      for (let y = -1; y <= 1; y += 0.01)
        for (let x = -1; x <= 1; x += 0.01) {
          const r = Math.hypot(x, y);
          if (r > 1) continue;
          s += pupilPhaseWaves({ [k]: 1 }, r, Math.atan2(y, x)) ** 2;
          n++;
        }
      expect(s / n).toBeCloseTo(1, 2);
    }
    expect(zernikeRms({ defocus: 0.3, comaX: 0.4 })).toBeCloseTo(0.5, 12);
  });

  it('psfKernel of an aberrated PSF is a unit-sum kernel (for Richardson–Lucy)', () => {
    const k = psfKernel({ shape: 'airy', width: 1, aberration: { spherical: 0.1 } }, 0.25);
    let s = 0;
    for (const v of k.data) s += v;
    expect(s).toBeGreaterThan(0.9);
    expect(s).toBeLessThan(1.01);
  });
});
