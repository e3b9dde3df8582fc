import { describe, expect, it } from 'vitest';
import { crlbForCamera, lateralCrlb, mortensenVariance } from '../../../src/eval/crlb.ts';
import { cameraPreset } from '../../../src/optics/camera.ts';

describe('Mortensen localisation bound', () => {
  it('gives ≈ 0.028 px per axis for 5000 photons, w = 2 px (σ = √2), background 10', () => {
    // s² = w²/2 = 2, s_a² = 2 + 1/12; Var = s_a²/N · (16/9 + 8π s_a² b²/N)
    const sa2 = 2 + 1 / 12;
    const want = (sa2 / 5000) * (16 / 9 + (8 * Math.PI * sa2 * 10) / 5000);
    expect(mortensenVariance({ photons: 5000, background: 10, width: 2 })).toBeCloseTo(want, 15);
    expect(Math.sqrt(want)).toBeCloseTo(0.028, 3);
    expect(lateralCrlb({ photons: 5000, background: 10, width: 2 })).toBeCloseTo(Math.sqrt(2 * want), 15);
  });

  it('scales as 1/N without background, doubles with F = 2, and grows with background', () => {
    const v1 = mortensenVariance({ photons: 1000, background: 0, width: 1.5 });
    const v4 = mortensenVariance({ photons: 4000, background: 0, width: 1.5 });
    expect(v1 / v4).toBeCloseTo(4, 12);
    expect(mortensenVariance({ photons: 1000, background: 5, width: 1.5, excess: 2 })).toBeCloseTo(
      2 * mortensenVariance({ photons: 1000, background: 5, width: 1.5 }),
      15,
    );
    expect(mortensenVariance({ photons: 1000, background: 50, width: 1.5 })).toBeGreaterThan(
      mortensenVariance({ photons: 1000, background: 5, width: 1.5 }),
    );
    expect(mortensenVariance({ photons: 0, background: 5, width: 1.5 })).toBe(Number.POSITIVE_INFINITY);
  });

  it('folds the camera in: QE on photons and background, read noise into the background, F = 2 for EMCCD', () => {
    const em = crlbForCamera(5000, 10, 2, cameraPreset('emccd'));
    expect(em.excess).toBe(2);
    expect(em.photons).toBeCloseTo(0.95 * 5000, 9);
    expect(em.background).toBeCloseTo(0.95 * 10 + (50 / 200) ** 2, 9);
    const sc = crlbForCamera(5000, 10, 2, cameraPreset('scmos'));
    expect(sc.excess).toBe(1);
    expect(sc.background).toBeCloseTo(0.8 * 10 + 1.5 ** 2, 9);
    expect(crlbForCamera(5000, 10, 2)).toEqual({ photons: 5000, background: 10, width: 2, excess: 1 });
  });
});
