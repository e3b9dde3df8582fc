import { describe, expect, it } from 'vitest';
import { idealFineMae, idealSubpixel, logCellIntegral } from '../../../src/eval/ceiling.ts';
import { DAMN_CONDITIONS, type EvalCondition } from '../../../src/eval/conditions.ts';

function condition(name: string): EvalCondition {
  const c = DAMN_CONDITIONS.find((x) => x.name === name);
  if (!c) throw new Error(`no condition ${name}`);
  return c;
}

const gauss = (width: number, photons: number, background: number): EvalCondition => ({
  name: 'test',
  psf: { shape: 'gauss', width },
  density: 50,
  photons,
  background,
});

/** log of the cell integral by a fine midpoint sum */
function bruteLogCell(g: number, h: number): number {
  const n = 20000;
  const e = new Float64Array(n);
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const d = -0.5 + (i + 0.5) / n;
    e[i] = g * d + 0.5 * h * d * d;
    if (e[i] > max) max = e[i];
  }
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(e[i] - max);
  return max + Math.log(s / n);
}

describe('logCellIntegral', () => {
  it('matches quadrature from flat to peaks much narrower than the cell, inside and beyond it', () => {
    for (const g of [0, 0.003, 0.4, -3, 25, 300]) {
      for (const h of [0.5, 0, -0.05, -0.2, -4, -80, -2000]) {
        expect(Math.abs(logCellIntegral(g, h) - bruteLogCell(g, h))).toBeLessThan(2e-3);
      }
    }
    // a peak 1/300 of the cell wide sitting at 0.3 of the cell: Gaussian integral √(2π/a)
    const a = 300 * 300;
    expect(logCellIntegral(0.3 * a, -a) - (a * 0.09) / 2).toBeCloseTo(0.5 * Math.log((2 * Math.PI) / a), 6);
  });
});

describe('idealSubpixel', () => {
  it('is ~1 for a very bright narrow Gaussian', () => {
    const r = idealSubpixel(gauss(0.7, 1e6, 1), { trials: 100, seed: 3, grid: 16 });
    expect(r.accuracy).toBeGreaterThan(0.97);
    expect(r.hitRate).toBeGreaterThan(0.95);
  });

  it('is chance (1/16) without signal photons', () => {
    const r = idealSubpixel(gauss(2, 0, 10), { trials: 100, seed: 3, grid: 16 });
    expect(Math.abs(r.accuracy - 1 / 16)).toBeLessThan(0.03);
  });

  it('falls with fewer photons and with a wider PSF', () => {
    const opts = { trials: 150, seed: 5, grid: 16 };
    const def = idealSubpixel(condition('default'), opts);
    const low = idealSubpixel(condition('low-snr'), opts);
    const wide = idealSubpixel(condition('wide'), opts);
    expect(def.accuracy).toBeGreaterThan(low.accuracy + 3 * Math.hypot(def.stderr, low.stderr));
    expect(def.accuracy).toBeGreaterThan(wide.accuracy + 3 * Math.hypot(def.stderr, wide.stderr));
  });

  it('is reproducible for a seed and changes with it', () => {
    const c = condition('airy');
    const a = idealSubpixel(c, { trials: 40, seed: 9, grid: 16 });
    const b = idealSubpixel(c, { trials: 40, seed: 9, grid: 16 });
    const other = idealSubpixel(c, { trials: 40, seed: 10, grid: 16 });
    expect(b).toEqual(a);
    expect(other.accuracy).not.toBe(a.accuracy);
  });

  it('lands in the Cramér–Rao ballpark for the default condition', () => {
    // σ_CRLB ≈ 0.024 px per axis (Gaussian PSF exp(-r²/σ²), 5000 photons, background 10): about
    // 0.8–0.9 once the pixel edges (known to the oracle) are taken into account
    const r = idealSubpixel(gauss(2, 5000, 10), { trials: 200, seed: 1, grid: 16 });
    expect(r.accuracy).toBeGreaterThan(0.6);
    expect(r.accuracy).toBeLessThan(0.95);
    // the expected max posterior and the hit rate estimate the same probability
    const hitSe = Math.sqrt((r.hitRate * (1 - r.hitRate)) / r.trials);
    expect(Math.abs(r.accuracy - r.hitRate)).toBeLessThan(3 * Math.hypot(r.stderr, hitSe));
  });

  it('does not depend on the lattice once the posterior is integrated per cell', () => {
    const c = condition('narrow');
    const coarse = idealSubpixel(c, { trials: 60, seed: 2, grid: 8 });
    const fine = idealSubpixel(c, { trials: 60, seed: 2, grid: 32 });
    // same draws (the lattice does not touch the Rng): the difference is the integration error
    expect(Math.abs(coarse.accuracy - fine.accuracy)).toBeLessThan(0.005);
    // the cell-centre rule over-states the max-bin mass when the posterior is narrower than a cell
    const midpoint = idealSubpixel(c, { trials: 60, seed: 2, grid: 8, cellRule: 'midpoint' });
    expect(midpoint.accuracy).toBeGreaterThan(fine.accuracy + 0.01);
  });

  it('knowing the camera pixel helps', () => {
    const c = condition('default');
    const known = idealSubpixel(c, { trials: 100, seed: 4, grid: 16 });
    const unknown = idealSubpixel(c, { trials: 100, seed: 4, grid: 16, margin: 2 });
    expect(unknown.hitRate).toBeLessThanOrEqual(known.hitRate);
    expect(unknown.accuracy).toBeLessThan(known.accuracy);
  });

  it('rejects bad options', () => {
    const c = condition('default');
    expect(() => idealSubpixel(c, { grid: 10 })).toThrow();
    expect(() => idealSubpixel(c, { trials: 0 })).toThrow();
    expect(() => idealSubpixel({ ...c, photons: -1 })).toThrow();
    expect(() => idealSubpixel({ ...c, density: Number.NaN }, { neighbours: true })).toThrow();
  });
});

describe('idealSubpixel with known neighbours', () => {
  const opts = { trials: 200, seed: 6, grid: 16 };

  it('is the isolated oracle when there are none (same target and camera draws)', () => {
    for (const name of ['default', 'airy']) {
      const c = { ...condition(name), density: 0 };
      const isolated = idealSubpixel(c, { ...opts, trials: 40 });
      const known = idealSubpixel(c, { ...opts, trials: 40, neighbours: true });
      expect(isolated.neighboursKnown).toBe(false);
      expect(known.neighboursKnown).toBe(true);
      // the likelihoods differ only by candidate-independent terms and rounding
      expect(Math.abs(known.accuracy - isolated.accuracy)).toBeLessThan(1e-9);
      expect(known.hitRate).toBe(isolated.hitRate);
      expect(known.window).toBe(isolated.window);
    }
  });

  it('is reproducible for a seed', () => {
    const c = condition('dense');
    const a = idealSubpixel(c, { ...opts, trials: 20, neighbours: true });
    expect(idealSubpixel(c, { ...opts, trials: 20, neighbours: true })).toEqual(a);
  });

  it('falls as the frame gets more crowded', () => {
    const c = condition('default');
    const sparse = idealSubpixel({ ...c, density: 10 }, { ...opts, neighbours: true });
    const dense = idealSubpixel({ ...c, density: 200 }, { ...opts, neighbours: true });
    expect(sparse.accuracy).toBeGreaterThan(dense.accuracy + 3 * Math.hypot(sparse.stderr, dense.stderr));
  });

  it('is calibrated: its expected max-posterior mass matches its hit rate', () => {
    // a likelihood that left the neighbours' light out would be over-confident (≈ 0.98 vs 0.11)
    const r = idealSubpixel(condition('dense'), { ...opts, neighbours: true });
    const hitSe = Math.sqrt((r.hitRate * (1 - r.hitRate)) / r.trials);
    expect(Math.abs(r.accuracy - r.hitRate)).toBeLessThan(3 * Math.hypot(r.stderr, hitSe));
  });

  it('is below the isolated oracle in a crowded frame: known neighbours still add shot noise', () => {
    const c = condition('dense');
    const isolated = idealSubpixel(c, opts);
    const known = idealSubpixel(c, { ...opts, neighbours: true });
    expect(known.accuracy).toBeLessThan(isolated.accuracy - 3 * Math.hypot(known.stderr, isolated.stderr));
  });
});

describe('idealFineMae', () => {
  it('is 2(1 − accuracy) spread over the fine pixels', () => {
    expect(idealFineMae(1, 256, 256)).toBe(0);
    expect(idealFineMae(0.75, 4, 8)).toBeCloseTo(0.5 / 32, 15);
    expect(idealFineMae(0, 10, 10)).toBeCloseTo(0.02, 15);
    expect(() => idealFineMae(1.5, 4, 4)).toThrow();
  });
});
