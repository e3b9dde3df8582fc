import { describe, expect, it } from 'vitest';
import { calibrateDmd, makeFlat, stackFrames } from '../../../src/commands/calibrate.ts';
import { parseSettings } from '../../../src/config/load.ts';
import { FaultRegistry } from '../../../src/hardware/faults.ts';
import { fitAffine } from '../../../src/hardware/registration.ts';
import { openInstrument } from '../../../src/instrument.ts';
import { silentLogger } from '../../../src/log.ts';
import { makeImage } from '../../../src/optics/image.ts';

describe('DMD↔camera registration', () => {
  it('fitAffine recovers an exact affine map from three or more pairs', () => {
    const A = [0.05, 0.01, -0.008, 0.049];
    const pts = [
      { x: 10, y: 20 },
      { x: 400, y: 30 },
      { x: 200, y: 700 },
      { x: 900, y: 500 },
    ];
    const pairs = pts.map((m) => ({
      m,
      c: { x: A[0] * (m.x + 0.5) + A[1] * (m.y + 0.5) + 3, y: A[2] * (m.x + 0.5) + A[3] * (m.y + 0.5) - 2 },
    }));
    const f = fitAffine(pairs);
    for (const [i, v] of f.matrix.entries()) expect(v).toBeCloseTo(A[i], 9);
    expect(f.offsetX).toBeCloseTo(3, 6);
    expect(f.offsetY).toBeCloseTo(-2, 6);
    expect(() => fitAffine(pairs.slice(0, 2))).toThrow(/at least 3/);
  });

  it('finds a rotated, shifted DMD through the simulated camera, from a rough initial guess', async () => {
    const theta = 0.03;
    const s = 0.034;
    const truth = {
      matrix: [s * Math.cos(theta), -s * Math.sin(theta), s * Math.sin(theta), s * Math.cos(theta)] as [number, number, number, number],
      offsetX: 1.2,
      offsetY: 12.5,
    };
    const settings = parseSettings({
      camera: { type: 'sim', width: 64, height: 64, background: 5, psf: { shape: 'gauss', width: 1.2 } },
      hardware: { dmd: { type: 'dlpc900', bus: 'sim', mapping: truth, photonsPerMirror: 8000 } },
    });
    const inst = await openInstrument(settings, silentLogger, new FaultRegistry());
    try {
      // the guess a user would start from: unrotated, fitted, off by a pixel or so
      const guess = { scale: 64 / 1920, offsetX: 0, offsetY: 14 };
      const r = await calibrateDmd(inst, guess, { spacingPx: 5, density: 10, seed: 3 });
      expect(r.matched).toBeGreaterThan(0.8 * r.shown);
      for (const [i, v] of r.mapping.matrix.entries()) expect(Math.abs(v - truth.matrix[i])).toBeLessThan(0.002);
      expect(Math.abs(r.mapping.offsetX - truth.offsetX)).toBeLessThan(0.5);
      expect(Math.abs(r.mapping.offsetY - truth.offsetY)).toBeLessThan(0.5);
      expect(r.rmsPx).toBeLessThan(0.5);
    } finally {
      await inst.close();
    }
  });
});

describe('dark and flat frames', () => {
  it('stacks captured frames: per-pixel mean and standard deviation of a flat background approach Poisson(40)', async () => {
    const settings = parseSettings({
      camera: { type: 'sim', width: 16, height: 16, density: 0, background: 40 },
      hardware: { dmd: { type: 'none' } },
    });
    const inst = await openInstrument(settings, silentLogger, new FaultRegistry());
    const { mean: dark, std } = await stackFrames(inst, 16);
    let sum = 0;
    for (const v of dark.data) sum += v;
    // Poisson(40) over 16×16×16 samples: the mean is within a few standard errors of 40
    expect(Math.abs(sum / dark.data.length - 40)).toBeLessThan(5 * Math.sqrt(40 / (256 * 16)));
    // each pixel's spread over the 16 frames is its noise: √40 ≈ 6.3 ADU, ~18% scatter per pixel
    const sorted = Float32Array.from(std.data).sort();
    expect(sorted[128]).toBeGreaterThan(0.9 * Math.sqrt(40));
    expect(sorted[128]).toBeLessThan(1.1 * Math.sqrt(40));
    expect(sorted[0]).toBeGreaterThan(0.3 * Math.sqrt(40));
    await inst.close();
  });

  it('normalises a flat to mean 1 after the dark, and refuses a blocked one', () => {
    const mean = makeImage(2, 2, Float32Array.from([135, 135, 85, 85]));
    const dark = makeImage(2, 2, Float32Array.from([10, 10, 10, 10]));
    const flat = makeFlat(mean, dark);
    expect(Array.from(flat.data)).toEqual([1.25, 1.25, 0.75, 0.75]);
    expect(() => makeFlat(makeImage(2, 2, Float32Array.from([100, 100, 100, 10])), dark)).toThrow(/below 5%/);
    expect(() => makeFlat(dark, dark)).toThrow(/no signal/);
  });
});
