import { describe, expect, it } from 'vitest';
import { BACKGROUND_PRESETS } from '../../../src/optics/background.ts';
import { cameraPreset } from '../../../src/optics/camera.ts';
import type { Image } from '../../../src/optics/image.ts';
import { compareWithTrainedRanges, estimateFrameStats, FrameStatsEstimator, type TrainedRanges } from '../../../src/optics/ood.ts';
import type { Psf } from '../../../src/optics/psf.ts';
import { Rng } from '../../../src/optics/random.ts';
import { randomScene } from '../../../src/optics/scene.ts';
import { type RealismOptions, renderCameraFrame } from '../../../src/optics/simulate.ts';

function frame(psf: Psf, seed: number, o: Partial<RealismOptions> = {}, photons = 5000, size = 192, density = 3): Image {
  const rng = new Rng(seed);
  const em = randomScene(rng, { width: size, height: size, density, photons });
  return renderCameraFrame(em, psf, size, size, { background: 10, ...o }, rng);
}

const TRAINED: TrainedRanges = { psfWidth: [1, 4], background: [1, 100], photons: [100, 1e5] };

describe('frame statistics estimator', () => {
  it('recovers σ within 10 % for σ 1–3 px at 5000 photons (and the undersampled σ 0.5)', () => {
    for (const width of [0.5, 1, 1.5, 2, 2.5, 3]) {
      const s = estimateFrameStats(frame({ shape: 'gauss', width }, 10 + width * 10));
      expect(s.isolated).toBeGreaterThanOrEqual(10);
      expect(Math.abs((s.psfWidth as number) / width - 1)).toBeLessThan(0.1);
      // photon counts: the shot-noise scale is 1, so equivalent photons are photons
      expect(Math.abs(s.background / 10 - 1)).toBeLessThan(0.1);
      expect(Math.abs((s.photons as number) / 5000 - 1)).toBeLessThan(0.1);
    }
  });

  it('a crowded frame (50 emitters per 50×50 px, the eval default): σ and photons of single emitters, not of blends', () => {
    // most "isolated" maxima here are blends; their median was σ 4.9 and 7 500 photons
    for (const seed of [61, 62]) {
      const s = estimateFrameStats(frame({ shape: 'gauss', width: 2 }, seed, {}, 5000, 512, 50));
      expect(Math.abs((s.psfWidth as number) / 2 - 1)).toBeLessThan(0.1);
      expect(Math.abs((s.photons as number) / 5000 - 1)).toBeLessThan(0.15);
      expect(compareWithTrainedRanges(s, TRAINED).inRange).toBe(true);
    }
  });

  it('recovers a wide σ = 6 px (binned search) and flags it against a 1–4 px range, with a reason', () => {
    const s = estimateFrameStats(frame({ shape: 'gauss', width: 6 }, 3, {}, 5000, 256));
    expect(Math.abs((s.psfWidth as number) / 6 - 1)).toBeLessThan(0.15);
    const v = compareWithTrainedRanges(s, TRAINED);
    expect(v.inRange).toBe(false);
    expect(v.flags.map((f) => f.quantity)).toEqual(['psfWidth']);
    expect(v.flags[0].side).toBe('above');
    expect(v.flags[0].reason).toMatch(/PSF width σ \d\.\d+ px from \d+ isolated peaks is above the trained 1\.00–4\.00 px/);
    // an in-range frame is not flagged
    const ok = compareWithTrainedRanges(estimateFrameStats(frame({ shape: 'gauss', width: 2 }, 4)), TRAINED);
    expect(ok.inRange).toBe(true);
    expect(ok.flags).toEqual([]);
  });

  it('works in ADU: with the photometry it reports photo-electrons; σ needs none', () => {
    for (const name of ['scmos', 'emccd', 'cmos-astro'] as const) {
      const c = cameraPreset(name);
      const f = frame({ shape: 'gauss', width: 2 }, 7, { camera: c });
      const s = estimateFrameStats(f, { offset: c.offset, gain: c.gain, emGain: c.emGain });
      expect(s.units).toBe('electrons');
      expect(Math.abs((s.psfWidth as number) / 2 - 1)).toBeLessThan(0.1);
      expect(Math.abs(s.background / (10 * c.qe) - 1)).toBeLessThan(0.15);
      expect(Math.abs((s.photons as number) / (5000 * c.qe) - 1)).toBeLessThan(0.1);
      // without it σ and the scale-free signal-to-background still hold
      const raw = estimateFrameStats(f, { offset: c.offset });
      expect(raw.units).toBe('equivalent-photons');
      expect(raw.psfWidth).toBeCloseTo(s.psfWidth as number, 9);
      expect(Math.abs((raw.signalToBackground as number) / 500 - 1)).toBeLessThan(0.15);
    }
  });

  it('flags a dim, high-background frame below and above the ranges, and says when it cannot tell', () => {
    const s = estimateFrameStats(frame({ shape: 'gauss', width: 1.5 }, 9, { background: 400 }, 60_000));
    const v = compareWithTrainedRanges(s, { ...TRAINED, photons: [100, 20_000] });
    expect(v.flags.map((f) => `${f.quantity}:${f.side}`).sort()).toEqual(['background:above', 'photons:above']);
    const blank = estimateFrameStats(frame({ shape: 'gauss', width: 2 }, 1, {}, 5000, 64, 0));
    expect(blank.psfWidth).toBeNull();
    const u = compareWithTrainedRanges(blank, TRAINED);
    expect(u.inRange).toBe(true);
    expect(u.unknown.map((x) => x.quantity).sort()).toEqual(['photons', 'psfWidth']);
    expect(u.unknown[0].reason).toMatch(/too few isolated peaks/);
  });

  it('holds σ on a structured background and on an elliptical PSF reports the axis ratio', () => {
    const s = estimateFrameStats(frame({ shape: 'gauss', width: 2 }, 5, { structure: BACKGROUND_PRESETS.both }));
    expect(Math.abs((s.psfWidth as number) / 2 - 1)).toBeLessThan(0.1);
    const e = estimateFrameStats(frame({ shape: 'gauss', width: 2.4, widthY: 1.2 }, 6));
    expect(e.psfAxisRatio as number).toBeGreaterThan(1.8);
    expect(e.psfAxisRatio as number).toBeLessThan(2.2);
    // the reusable estimator gives the same answer on the second frame of a size
    const est = new FrameStatsEstimator();
    const f = frame({ shape: 'gauss', width: 2 }, 8);
    const a = est.estimate(f);
    est.estimate(frame({ shape: 'gauss', width: 1 }, 2));
    expect(est.estimate(f)).toEqual(a);
  });
});
