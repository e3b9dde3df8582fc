import { describe, expect, it } from 'vitest';
import { logFactorial, Rng } from '../../../src/optics/random.ts';

describe('Rng', () => {
  it('is reproducible per seed and differs between seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 5 }, () => a.uniform());
    const sb = Array.from({ length: 5 }, () => b.uniform());
    const sc = Array.from({ length: 5 }, () => c.uniform());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it('uniform has mean 1/2 and variance 1/12', () => {
    const r = new Rng(1);
    const n = 50000;
    let s = 0;
    let s2 = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      if (u < 0 || u >= 1) outside++;
      s += u;
      s2 += u * u;
    }
    expect(outside).toBe(0);
    const mean = s / n;
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(s2 / n - mean * mean - 1 / 12)).toBeLessThan(0.003);
  });

  it('normal has mean 0 and variance 1', () => {
    const r = new Rng(2);
    const n = 50000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = r.normal();
      s += v;
      s2 += v * v;
    }
    expect(Math.abs(s / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(s2 / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
  });

  it('logUniform stays in range and is uniform in log', () => {
    const r = new Rng(3);
    const n = 20000;
    let below = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const v = r.logUniform(1, 1e4);
      if (v < 1 || v > 1e4) outside++;
      if (v < 100) below++;
    }
    expect(outside).toBe(0);
    // half the log-range lies below 100
    expect(Math.abs(below / n - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / n));
  });

  for (const lambda of [0.3, 2.5, 9.5, 10, 25, 300, 1e5]) {
    it(`poisson(${lambda}) has mean and variance λ`, () => {
      const r = new Rng(Math.round(lambda * 7) + 1);
      const n = 40000;
      let s = 0;
      let s2 = 0;
      let invalid = 0;
      for (let i = 0; i < n; i++) {
        const k = r.poisson(lambda);
        if (!Number.isInteger(k) || k < 0) invalid++;
        s += k;
        s2 += k * k;
      }
      expect(invalid).toBe(0);
      const mean = s / n;
      const variance = s2 / n - mean * mean;
      expect(Math.abs(mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / n));
      // SE of the sample variance of a Poisson ≈ sqrt((2λ² + λ)/n)
      expect(Math.abs(variance - lambda)).toBeLessThan(5 * Math.sqrt((2 * lambda * lambda + lambda) / n));
    });
  }

  it('poisson(15) (rejection sampler) matches the exact pmf', () => {
    const r = new Rng(9);
    const lambda = 15;
    const n = 60000;
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const k = r.poisson(lambda);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    for (let k = 8; k <= 24; k++) {
      const p = Math.exp(-lambda + k * Math.log(lambda) - logFactorial(k));
      const expected = n * p;
      expect(Math.abs((counts.get(k) ?? 0) - expected)).toBeLessThan(5 * Math.sqrt(expected));
    }
  });

  it('poisson(0) is 0', () => {
    expect(new Rng(1).poisson(0)).toBe(0);
  });

  it('logFactorial is continuous across the table/Stirling switch', () => {
    let exact = 0;
    for (let k = 2; k <= 300; k++) exact += Math.log(k);
    expect(logFactorial(300)).toBeCloseTo(exact, 8);
    expect(logFactorial(255) + Math.log(256)).toBeCloseTo(logFactorial(256), 8);
  });
});
