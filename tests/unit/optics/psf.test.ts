import { describe, expect, it } from 'vitest';
import { encircledEnergy, type Psf, PsfRenderer, psfDensity, psfKernel } from '../../../src/optics/psf.ts';
import { besselJ0 } from '../../../src/optics/special.ts';

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** brute-force pixel integral: fine midpoint grid over one pixel */
function bruteForcePixel(psf: Psf, col: number, row: number, x: number, y: number, m = 40): number {
  let acc = 0;
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < m; i++) acc += psfDensity(psf, Math.hypot(col + (i + 0.5) / m - x, row + (j + 0.5) / m - y));
  }
  return acc / (m * m);
}

describe('PSF', () => {
  it('both shapes integrate to 1 over the plane (analytic encircled energy → 1)', () => {
    for (const shape of ['gauss', 'airy'] as const) {
      expect(encircledEnergy({ shape, width: 1.3 }, 1e6, besselJ0)).toBeCloseTo(1, 5);
      // radial quadrature of the density itself
      let e = 0;
      const dr = 0.001;
      for (let r = dr / 2; r < 30; r += dr) e += psfDensity({ shape, width: 1.3 }, r) * 2 * Math.PI * r * dr;
      expect(e).toBeCloseTo(encircledEnergy({ shape, width: 1.3 }, 30, besselJ0), 4);
    }
  });

  it('Gaussian pixel sums are 1 on a large grid for any width and sub-pixel position', () => {
    for (const width of [0.3, 0.56, 2, 7.5]) {
      const n = 81;
      const t = new Float64Array(n * n);
      new PsfRenderer({ shape: 'gauss', width }).addEmitter(t, n, n, 40.37, 39.81, 1);
      expect(sum(t)).toBeCloseTo(1, 6);
    }
  });

  it('Airy pixel sums equal the analytic energy inside the render radius', () => {
    for (const width of [0.4, 1, 2.5]) {
      const n = 2 * Math.ceil(32 * width + 4) + 1;
      const t = new Float64Array(n * n);
      const c = (n - 1) / 2;
      new PsfRenderer({ shape: 'airy', width }).addEmitter(t, n, n, c + 0.21, c + 0.64, 1);
      const analytic = encircledEnergy({ shape: 'airy', width }, Math.max(32 * width, 8), besselJ0);
      expect(Math.abs(sum(t) - analytic)).toBeLessThan(2e-3);
      expect(analytic).toBeGreaterThan(0.985);
    }
  });

  it('light outside the frame is lost, not renormalised', () => {
    const t = new Float64Array(20 * 20);
    new PsfRenderer({ shape: 'gauss', width: 2 }).addEmitter(t, 20, 20, 0, 10, 1000);
    // emitter on the left edge: half of the light misses the sensor
    expect(sum(t)).toBeCloseTo(500, 1);
  });

  it('pixel values match brute-force integration', () => {
    for (const psf of [
      { shape: 'gauss', width: 0.56 },
      { shape: 'airy', width: 0.56 },
      { shape: 'airy', width: 1.7 },
      { shape: 'airy', width: 5 },
    ] as Psf[]) {
      const n = 31;
      const t = new Float64Array(n * n);
      new PsfRenderer(psf).addEmitter(t, n, n, 15.3, 15.8, 1);
      let l1 = 0;
      let tot = 0;
      for (let row = 10; row <= 20; row++) {
        for (let col = 10; col <= 20; col++) {
          const ref = bruteForcePixel(psf, col, row, 15.3, 15.8);
          l1 += Math.abs(ref - t[row * n + col]);
          tot += ref;
        }
      }
      expect(l1 / tot).toBeLessThan(0.01);
      expect(t[15 * n + 15]).toBeGreaterThan(t[15 * n + 10]);
    }
  });

  it('renders on a finer grid with the same total (pixel size 1/4)', () => {
    const n = 128;
    const t = new Float64Array(n * n);
    new PsfRenderer({ shape: 'gauss', width: 1.5 }, 0.25).addEmitter(t, n, n, 16.1, 15.9, 1);
    expect(sum(t)).toBeCloseTo(1, 5);
    // peak lands in fine pixel (floor(16.1·4), floor(15.9·4))
    let best = 0;
    for (let i = 1; i < t.length; i++) if (t[i] > t[best]) best = i;
    expect(best % n).toBe(64);
    expect(Math.floor(best / n)).toBe(63);
  });

  it('psfKernel is centred, symmetric and sums to ~1', () => {
    const k = psfKernel({ shape: 'gauss', width: 1 }, 0.25);
    expect(k.size % 2).toBe(1);
    const c = (k.size - 1) / 2;
    let best = 0;
    for (let i = 1; i < k.data.length; i++) if (k.data[i] > k.data[best]) best = i;
    expect(best).toBe(c * k.size + c);
    expect(k.data[c * k.size + c - 3]).toBeCloseTo(k.data[c * k.size + c + 3], 10);
    expect(sum(k.data)).toBeCloseTo(1, 4);
  });
});

describe('Airy pixel tables', () => {
  it('stay within 1 % per pixel of the per-pixel quadrature and keep the total', () => {
    for (const width of [0.56, 0.7, 1, 1.5, 2.5, 5]) {
      const psf: Psf = { shape: 'airy', width };
      const n = 48;
      for (const [x, y] of [
        [20.13, 25.71],
        [3.5, 40.02],
        [31.97, 8.4],
      ]) {
        const fast = new Float64Array(n * n);
        const exact = new Float64Array(n * n);
        new PsfRenderer(psf).addEmitter(fast, n, n, x, y, 1);
        new PsfRenderer(psf, 1, true).addEmitter(exact, n, n, x, y, 1);
        let peak = 0;
        for (const v of exact) peak = Math.max(peak, v);
        for (let i = 0; i < exact.length; i++) {
          if (exact[i] < 1e-3 * peak) continue;
          expect(Math.abs(fast[i] - exact[i])).toBeLessThan(0.01 * exact[i]);
        }
        expect(Math.abs(sum(fast) - sum(exact))).toBeLessThan(1e-3 * sum(exact));
      }
    }
  });

  it('renders the same values whatever the renderer drew before (tables only grow)', () => {
    const psf: Psf = { shape: 'airy', width: 1.3 };
    const reused = new PsfRenderer(psf);
    reused.addEmitter(new Float64Array(16 * 16), 16, 16, 8.2, 7.9, 1);
    const a = new Float64Array(60 * 50);
    const b = new Float64Array(60 * 50);
    reused.addEmitter(a, 60, 50, 41.3, 12.8, 100);
    new PsfRenderer(psf).addEmitter(b, 60, 50, 41.3, 12.8, 100);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(sum(a)).toBeGreaterThan(90);
  });
});
