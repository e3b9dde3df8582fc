import { describe, expect, it } from 'vitest';
import { besselJ0, besselJ1, erf, erfc } from '../../../src/optics/special.ts';

/** J_n(x) = (1/π) ∫_0^π cos(nτ − x sin τ) dτ, midpoint rule (spectrally accurate here) */
function besselByIntegral(n: number, x: number): number {
  const m = 2000;
  let s = 0;
  for (let i = 0; i < m; i++) {
    const t = ((i + 0.5) * Math.PI) / m;
    s += Math.cos(n * t - x * Math.sin(t));
  }
  return s / m;
}

/** erf by Simpson on 2/√π ∫ exp(-t²) */
function erfByIntegral(x: number): number {
  const m = 2000;
  const h = x / m;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < m; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
}

describe('special functions', () => {
  it('J0 and J1 match their integral representations', () => {
    for (let x = -25; x <= 25; x += 0.73) {
      expect(Math.abs(besselJ0(x) - besselByIntegral(0, x))).toBeLessThan(1e-7);
      expect(Math.abs(besselJ1(x) - besselByIntegral(1, x))).toBeLessThan(1e-7);
    }
  });

  it('erf matches its integral and erfc keeps tail precision', () => {
    for (const x of [-2.5, -1, -0.2, 0, 0.3, 1, 1.7, 3]) expect(Math.abs(erf(x) - erfByIntegral(x))).toBeLessThan(2e-7);
    // erfc(5) = 1.5374597944e-12
    expect(Math.abs(erfc(5) / 1.5374597944280349e-12 - 1)).toBeLessThan(1e-6);
  });
});
