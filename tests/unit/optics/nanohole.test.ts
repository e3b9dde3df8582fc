import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  diffractionIntensity,
  drawHoles,
  type Hole,
  holeMap,
  largestSubRayleighCluster,
  NANOHOLE,
  NANOHOLE_RADIUS,
  nanoholeInput,
  RAYLEIGH_LINK,
  recordIntensity,
  simulateNanohole,
} from '../../../src/optics/nanohole.ts';
import { Rng } from '../../../src/optics/random.ts';
import { besselJ0, besselJ1 } from '../../../src/optics/special.ts';

const A = NANOHOLE_RADIUS;
const N: number = NANOHOLE.inputSize;
const PITCH = NANOHOLE.inputExtent / N;

/** Simpson's rule of f on [a, b] with m (even) intervals */
function simpson(f: (x: number) => number, a: number, b: number, m: number): number {
  const h = (b - a) / m;
  let s = f(a) + f(b);
  for (let i = 1; i < m; i++) s += (i % 2 ? 4 : 2) * f(a + i * h);
  return (s * h) / 3;
}

/** disk spectrum by direct integration over the disk (not through J1): ∫_0^a 2πs J0(2πρs) ds */
function diskByIntegral(rho: number): number {
  return simpson((s) => 2 * Math.PI * s * besselJ0(2 * Math.PI * rho * s), 0, A, 40);
}

/**
 * |U(r)|² of one hole at the origin, by the Hankel transform of its angular spectrum:
 * U(r) = ∫_0^NA A(ρ) e^{i2πH√(1−ρ²)} J0(2πρr) 2πρ dρ
 */
function singleHoleIntensity(r: number): number {
  const re = simpson(
    (p) => diskByIntegral(p) * Math.cos(2 * Math.PI * Math.sqrt(1 - p * p)) * besselJ0(2 * Math.PI * p * r) * 2 * Math.PI * p,
    0,
    0.9,
    1200,
  );
  const im = simpson(
    (p) => diskByIntegral(p) * Math.sin(2 * Math.PI * Math.sqrt(1 - p * p)) * besselJ0(2 * Math.PI * p * r) * 2 * Math.PI * p,
    0,
    0.9,
    1200,
  );
  return re * re + im * im;
}

const at = (img: Float32Array, i: number, j: number, n = N): number => img[i * n + j];

describe('nanohole diffraction (scalar)', () => {
  const single = diffractionIntensity([{ x: 0, y: 0 }], A);

  it('a single hole at the origin gives a pattern symmetric under the square group', () => {
    let worst = 0;
    let peak = 0;
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) {
        const v = at(single, i, j);
        peak = Math.max(peak, v);
        worst = Math.max(
          worst,
          Math.abs(v - at(single, j, i)),
          Math.abs(v - at(single, N - 1 - i, j)),
          Math.abs(v - at(single, i, N - 1 - j)),
        );
      }
    }
    expect(peak).toBeGreaterThan(0);
    expect(worst / peak).toBeLessThan(1e-9);
  });

  it('is rotationally symmetric beyond the square group (pixels at equal radius)', () => {
    // offsets (0.5, 3.5) and (2.5, 2.5) pixels from the origin have the same radius; so do (0.5, 4.5)/(3.5, 3.0)…
    const c = N / 2;
    const a = at(single, c, c + 3);
    const b = at(single, c + 2, c + 2);
    expect(Math.abs(a - b) / Math.max(a, b)).toBeLessThan(0.02);
    // (1.5, 8.5) and (5.5, 6.5): r² = 74.5 both
    const d = at(single, c + 1, c + 8);
    const e = at(single, c + 5, c + 6);
    expect(Math.abs(d - e) / at(single, c, c)).toBeLessThan(0.01);
  });

  it('matches the Hankel-transform result of a disk aperture at a few radii', () => {
    const c = N / 2;
    const peak = singleHoleIntensity(Math.SQRT2 * 0.5 * PITCH);
    for (const [i, j] of [
      [0, 0],
      [0, 3],
      [2, 5],
      [0, 10],
      [7, 7],
    ]) {
      const r = Math.hypot((i + 0.5) * PITCH, (j + 0.5) * PITCH);
      const expected = singleHoleIntensity(r);
      const got = at(single, c + i, c + j);
      expect(Math.abs(got - expected) / peak).toBeLessThan(0.01);
    }
    // sanity of the reference itself: the on-axis intensity is of the order of (πa²/λH)²
    expect(peak).toBeGreaterThan(0.3 * (Math.PI * A * A) ** 2);
    expect(peak).toBeLessThan(3 * (Math.PI * A * A) ** 2);
  });

  it('conserves the power within the NA (Parseval over the full period)', () => {
    const n = 256;
    const full = diffractionIntensity([{ x: 0.3, y: -0.2 }], A, { size: n, extent: n * PITCH, fftSize: n });
    let power = 0;
    for (const v of full) power += v * PITCH * PITCH;
    const expected = simpson((p) => diskByIntegral(p) ** 2 * 2 * Math.PI * p, 0, 0.9, 400);
    expect(Math.abs(power - expected) / expected).toBeLessThan(0.01);
    // and the recorded 22λ field holds nearly all of it
    let recorded = 0;
    for (const v of diffractionIntensity([{ x: 0.3, y: -0.2 }], A)) recorded += v * PITCH * PITCH;
    expect(recorded / power).toBeGreaterThan(0.95);
    expect(recorded / power).toBeLessThan(1.0001);
  });

  it('puts +x to higher columns and +y to higher rows', () => {
    const img = diffractionIntensity([{ x: 2, y: -1 }], A);
    let best = 0;
    let bi = 0;
    let bj = 0;
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) if (at(img, i, j) > best) [best, bi, bj] = [at(img, i, j), i, j];
    expect((bj + 0.5 - N / 2) * PITCH).toBeCloseTo(2, 0);
    expect((bi + 0.5 - N / 2) * PITCH).toBeCloseTo(-1, 0);
  });

  it('shifts the pattern by one pixel when the holes move by one pitch', () => {
    const holes: Hole[] = [
      { x: 0.1, y: 0.2 },
      { x: -0.3, y: 0.45 },
    ];
    const a = diffractionIntensity(holes, A);
    const b = diffractionIntensity(
      holes.map((h) => ({ x: h.x + PITCH, y: h.y })),
      A,
    );
    let worst = 0;
    for (let i = 20; i < N - 20; i++) for (let j = 20; j < N - 21; j++) worst = Math.max(worst, Math.abs(at(a, i, j) - at(b, i, j + 1)));
    expect(worst).toBeLessThan(1e-4 * Math.max(...a));
  });

  it('two holes: swapping them changes nothing and a mirror pair gives a mirror-symmetric pattern', () => {
    const p: Hole = { x: 0.17, y: 0.05 };
    const q: Hole = { x: -0.17, y: 0.05 };
    const pq = diffractionIntensity([p, q], A);
    const qp = diffractionIntensity([q, p], A);
    let swap = 0;
    let mirror = 0;
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) {
        swap = Math.max(swap, Math.abs(at(pq, i, j) - at(qp, i, j)));
        mirror = Math.max(mirror, Math.abs(at(pq, i, j) - at(pq, i, N - 1 - j)));
      }
    }
    const peak = Math.max(...pq);
    expect(swap / peak).toBeLessThan(1e-9);
    expect(mirror / peak).toBeLessThan(1e-9);
    // coherent: two close holes peak at about 4× one hole, not 2× (in phase on the axis between them)
    expect(peak / Math.max(...single)).toBeGreaterThan(3);
  });

  it('pixel integration equals averaging a 4× finer sampling, and binning is a block mean', () => {
    const holes = [{ x: 0.4, y: -0.3 }];
    const integrated = diffractionIntensity(holes, A, { pixelIntegration: true });
    const fine = diffractionIntensity(holes, A, { size: 4 * N, extent: NANOHOLE.inputExtent, fftSize: 8 * N });
    const peak = Math.max(...integrated);
    let worst = 0;
    let moved = 0;
    for (let i = 40; i < 88; i++) {
      for (let j = 40; j < 88; j++) {
        let s = 0;
        for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) s += fine[(4 * i + a) * 4 * N + 4 * j + b];
        worst = Math.max(worst, Math.abs(s / 16 - at(integrated, i, j)));
      }
    }
    expect(worst / peak).toBeLessThan(0.005);
    const point = diffractionIntensity(holes, A);
    // integration over a 0.17λ pixel visibly lowers the peak of a 0.5λ-wide spot
    for (let k = 0; k < point.length; k++) moved = Math.max(moved, Math.abs(point[k] - integrated[k]));
    expect(moved / peak).toBeGreaterThan(0.02);
    const binned = diffractionIntensity(holes, A, { binning: 2 });
    expect(binned.length).toBe((N / 2) ** 2);
    const block = (i: number, j: number): number =>
      (at(point, 2 * i, 2 * j) + at(point, 2 * i + 1, 2 * j) + at(point, 2 * i, 2 * j + 1) + at(point, 2 * i + 1, 2 * j + 1)) / 4;
    expect(Math.abs(at(binned, 31, 33, N / 2) - block(31, 33)) / block(31, 33)).toBeLessThan(1e-6);
  });
});

describe('partially transmitting film', () => {
  it('adds the direct plane wave: |t|² with no holes, unchanged at t = 0, interference with holes', () => {
    const t = { amplitude: 0.022, phase: 1.1 };
    const bare = diffractionIntensity([], A, { film: t });
    expect(Math.max(...bare)).toBeCloseTo(t.amplitude ** 2, 9);
    expect(Math.min(...bare)).toBeCloseTo(t.amplitude ** 2, 9);
    const holes = [{ x: 0.2, y: -0.1 }];
    const opaque = diffractionIntensity(holes, A);
    const zero = diffractionIntensity(holes, A, { film: { amplitude: 0, phase: 0 } });
    expect(zero.every((v, k) => Math.abs(v - opaque[k]) < 1e-12)).toBe(true);
    // |t e^{iφ} + (1 − t) U|² − |t|² − |1 − t|²|U|² is the interference term: it changes sign with φ → φ + π
    const a = diffractionIntensity(holes, A, { film: t });
    const b = diffractionIntensity(holes, A, { film: { amplitude: t.amplitude, phase: t.phase + Math.PI } });
    const c = 64 * N + 64;
    const ta = Math.hypot(1 - t.amplitude * Math.cos(t.phase), t.amplitude * Math.sin(t.phase)) ** 2;
    const tb = Math.hypot(1 + t.amplitude * Math.cos(t.phase), t.amplitude * Math.sin(t.phase)) ** 2;
    const crossA = a[c] - t.amplitude ** 2 - ta * opaque[c];
    const crossB = b[c] - t.amplitude ** 2 - tb * opaque[c];
    expect(Math.abs(crossA)).toBeGreaterThan(0.1 * opaque[c]);
    expect(crossB / crossA).toBeLessThan(-0.9);
    expect(crossB / crossA).toBeGreaterThan(-1.1);
  });
});

/**
 * One x-polarised vector hole at the origin (η = 0, a magnetic dipole along y), by Hankel transforms:
 * E_x is the scalar field U0(r); E_z(f) = −(f_x/f_z)·E_x(f), whose transform is cos φ · U1(r) with
 * U1(r) = ∫_0^NA A(ρ) (ρ/√(1−ρ²)) e^{i2πH√(1−ρ²)} J1(2πρr) 2πρ dρ, so I = |U0|² + cos²φ·|U1|².
 */
function vectorHoleIntensity(r: number, cosPhi: number): number {
  const u1 = (part: (x: number) => number) =>
    simpson(
      (p) =>
        ((diskByIntegral(p) * p) / Math.sqrt(1 - p * p)) *
        part(2 * Math.PI * Math.sqrt(1 - p * p)) *
        besselJ1(2 * Math.PI * p * r) *
        2 *
        Math.PI *
        p,
      0,
      0.9,
      1200,
    );
  const re = u1(Math.cos);
  const im = u1(Math.sin);
  return singleHoleIntensity(r) + cosPhi * cosPhi * (re * re + im * im);
}

/** full width at half maximum of a profile, in pixels × pitch (training/fdtd/validate.py's definition) */
function fwhm(profile: number[], pitch: number): number {
  const peak = Math.max(...profile);
  const above = profile.flatMap((v, k) => (v >= peak / 2 ? [k] : []));
  return (above[above.length - 1] - above[0] + 1) * pitch;
}

describe('vector holes (x polarisation)', () => {
  const dipole = { ratio: 0, phase: 0 };

  it('matches the Hankel-transform result of a magnetic dipole at a few pixels, anisotropic along x', () => {
    const vec = diffractionIntensity([{ x: 0, y: 0 }], A, { dipoles: dipole });
    const c = N / 2;
    const peak = vectorHoleIntensity(Math.SQRT2 * 0.5 * PITCH, Math.SQRT1_2);
    for (const [i, j] of [
      [0, 0],
      [0, 3],
      [3, 0],
      [2, 5],
      [5, 2],
      [0, 8],
      [8, 0],
    ]) {
      const x = (j + 0.5) * PITCH;
      const y = (i + 0.5) * PITCH;
      const r = Math.hypot(x, y);
      const got = at(vec, c + i, c + j);
      expect(Math.abs(got - vectorHoleIntensity(r, x / r)) / peak).toBeLessThan(0.01);
    }
    // the E_z lobes lie along the polarisation: more light 3 px out along x than along y
    expect(at(vec, c, c + 3)).toBeGreaterThan(1.5 * at(vec, c + 3, c));
  });

  it('adds only E_z: equal to the scalar field on the line through the hole across the polarisation', () => {
    const holes = [{ x: PITCH / 2, y: -0.3 }];
    const scalar = diffractionIntensity(holes, A);
    const vec = diffractionIntensity(holes, A, { dipoles: dipole });
    const peak = Math.max(...scalar);
    const col = N / 2; // pixel centre x = pitch/2: E_z, odd in x about the hole, vanishes there
    let onLine = 0;
    let below = 0;
    let offLine = 0;
    for (let i = 0; i < N; i++) {
      onLine = Math.max(onLine, Math.abs(at(vec, i, col) - at(scalar, i, col)));
      for (let j = 0; j < N; j++) {
        below = Math.max(below, at(scalar, i, j) - at(vec, i, j));
        offLine = Math.max(offLine, at(vec, i, j) - at(scalar, i, j));
      }
    }
    expect(onLine / peak).toBeLessThan(1e-9);
    expect(below / peak).toBeLessThan(1e-9);
    expect(offLine / peak).toBeGreaterThan(0.1);
  });

  it('one hole has the widths the FDTD solver found (training/fdtd/validation.txt), the scalar model does not', () => {
    const text = readFileSync(new URL('../../../training/fdtd/validation.txt', import.meta.url), 'utf8');
    const m = /FDTD\s+FWHM along x = ([\d.]+) lambda, along y = ([\d.]+) lambda/.exec(text);
    expect(m).not.toBeNull();
    const [fdtdX, fdtdY] = [Number(m?.[1]), Number(m?.[2])];
    expect(fdtdX).toBeGreaterThan(1.3 * fdtdY); // the solver's own anisotropy
    const holes = [{ x: 0.3, y: -0.2 }]; // validate.py's hole
    const widths = (img: Float32Array): [number, number] => {
      let k = 0;
      for (let q = 1; q < img.length; q++) if (img[q] > img[k]) k = q;
      const [pi, pj] = [Math.floor(k / N), k % N];
      return [
        fwhm(
          Array.from({ length: N }, (_, j) => at(img, pi, j)),
          PITCH,
        ),
        fwhm(
          Array.from({ length: N }, (_, i) => at(img, i, pj)),
          PITCH,
        ),
      ];
    };
    const [vx, vy] = widths(diffractionIntensity(holes, A, { dipoles: dipole }));
    expect(Math.abs(vx - fdtdX)).toBeLessThan(PITCH * 0.99);
    expect(Math.abs(vy - fdtdY)).toBeLessThan(PITCH * 0.99);
    const [sx, sy] = widths(diffractionIntensity(holes, A));
    expect(Math.abs(sx - fdtdX)).toBeGreaterThan(PITCH * 1.5);
    expect(Math.abs(sy - fdtdY)).toBeLessThan(PITCH * 0.99);
  });

  it('radiates the dipole power within the NA, electric and magnetic alike (Parseval over the full period)', () => {
    // Σ_c |E_c(f)|² = |A|²·(1 − f_y²)/f_z² (magnetic, y) or |A|²·(1 − f_x²)/f_z² (electric, x): both average
    // over the angle to |A|²·(1 − ρ²/2)/(1 − ρ²), against |A|² for the scalar disk
    const n = 256;
    const power = (dipoles?: { ratio: number; phase: number }, scale = 1): number => {
      let sum = 0;
      for (const v of diffractionIntensity([{ x: 0.3, y: -0.2 }], A, { size: n, extent: n * PITCH, fftSize: n, dipoles }))
        sum += v * PITCH * PITCH;
      return sum / scale;
    };
    const expected = simpson((p) => ((diskByIntegral(p) ** 2 * (1 - (p * p) / 2)) / (1 - p * p)) * 2 * Math.PI * p, 0, 0.9, 400);
    const eta = 1e4;
    expect(Math.abs(power(dipole) - expected) / expected).toBeLessThan(0.01);
    expect(Math.abs(power({ ratio: eta, phase: 0.7 }, eta * eta) - expected) / expected).toBeLessThan(0.01);
    expect(power(dipole) / power()).toBeGreaterThan(1.5);
  });

  it("the film's direct wave stays uniform (polarised along x, no E_z)", () => {
    const t = { amplitude: 0.05, phase: 1.3 };
    const bare = diffractionIntensity([], A, { film: t, dipoles: { ratio: 0.2, phase: 1 } });
    expect(Math.max(...bare)).toBeCloseTo(t.amplitude ** 2, 9);
    expect(Math.min(...bare)).toBeCloseTo(t.amplitude ** 2, 9);
  });
});

describe('largest sub-Rayleigh cluster', () => {
  it('counts connected components under the 0.61λ/NA link', () => {
    expect(RAYLEIGH_LINK).toBeCloseTo(0.6778, 4);
    expect(largestSubRayleighCluster([])).toBe(0);
    expect(largestSubRayleighCluster([{ x: 0, y: 0 }])).toBe(1);
    expect(
      largestSubRayleighCluster([
        { x: 0, y: 0 },
        { x: 0.7, y: 0 },
      ]),
    ).toBe(1);
    expect(
      largestSubRayleighCluster([
        { x: 0, y: 0 },
        { x: 0.677, y: 0 },
      ]),
    ).toBe(2);
    // a chain links transitively even though its ends are 1.2λ apart; a separate pair stays separate
    const chain = [
      { x: -1, y: 1 },
      { x: -0.4, y: 1 },
      { x: 0.2, y: 1 },
      { x: -1, y: -1 },
      { x: -0.5, y: -1 },
      { x: 1, y: -1 },
    ];
    expect(largestSubRayleighCluster(chain)).toBe(3);
    expect(largestSubRayleighCluster(chain, 0.55)).toBe(2);
    expect(largestSubRayleighCluster(chain, 2.1)).toBe(6);
  });
});

describe('hole map', () => {
  it('has the area of the disks and the contract orientation', () => {
    const pitch = NANOHOLE.mapExtent / NANOHOLE.mapSize;
    const rng = new Rng(5);
    let ratio = 0;
    const trials = 20;
    for (let t = 0; t < trials; t++) {
      const map = holeMap([{ x: rng.range(-1, 1), y: rng.range(-1, 1) }], A);
      ratio += (map.reduce((s, v) => s + v, 0) * pitch * pitch) / (Math.PI * A * A) / trials;
    }
    expect(ratio).toBeGreaterThan(0.97);
    expect(ratio).toBeLessThan(1.03);
    const m = holeMap([{ x: 0.8, y: -0.6 }], A);
    for (let i = 0; i < NANOHOLE.mapSize; i++) {
      for (let j = 0; j < NANOHOLE.mapSize; j++) {
        if (!m[i * NANOHOLE.mapSize + j]) continue;
        expect(Math.hypot((j + 0.5 - 64) * pitch - 0.8, (i + 0.5 - 64) * pitch + 0.6)).toBeLessThanOrEqual(A);
      }
    }
    // a hole centred on the origin covers the four central pixels; one outside the map covers nothing
    const c = holeMap([{ x: 0, y: 0 }], A);
    expect([c[63 * 128 + 63], c[63 * 128 + 64], c[64 * 128 + 63], c[64 * 128 + 64]]).toEqual([1, 1, 1, 1]);
    expect(holeMap([{ x: 3, y: 0 }], A).some((v) => v)).toBe(false);
  });
});

describe('samples', () => {
  it('draws non-overlapping holes inside the area', () => {
    const rng = new Rng(3);
    for (let t = 0; t < 30; t++) {
      const h = drawHoles(10, A, rng);
      for (const p of h) expect(Math.max(Math.abs(p.x), Math.abs(p.y))).toBeLessThanOrEqual(NANOHOLE.area / 2 - A);
      for (let i = 0; i < h.length; i++)
        for (let j = i + 1; j < h.length; j++) expect(Math.hypot(h[i].x - h[j].x, h[i].y - h[j].y)).toBeGreaterThanOrEqual(2 * A);
    }
  });

  it('two-hole mode places the pair at the asked distance and reports it', () => {
    const rng = new Rng(4);
    for (const d of [0.677, 0.4, 2 * A]) {
      const s = simulateNanohole({ pairDistance: d }, rng);
      expect(s.holes).toHaveLength(2);
      expect(Math.hypot(s.holes[0].x - s.holes[1].x, s.holes[0].y - s.holes[1].y)).toBeCloseTo(d, 10);
      expect(s.distance).toBe(d);
      expect(s.largestCluster).toBe(2);
      expect(s.truth.reduce((a, v) => a + v, 0)).toBeGreaterThan(80);
    }
    expect(() => simulateNanohole({ pairDistance: 0.1 }, rng)).toThrow(/touching/);
  });

  it('hole counts span the asked range and the truth matches the holes', () => {
    const rng = new Rng(6);
    const seen = new Set<number>();
    for (let t = 0; t < 40; t++) {
      const s = simulateNanohole({ minHoles: 1, maxHoles: 10 }, rng);
      seen.add(s.holes.length);
      expect(s.intensity).toHaveLength(N * N);
      const map = holeMap(s.holes, A);
      expect(s.truth.every((v, k) => v === map[k])).toBe(true);
      expect(s.largestCluster).toBe(largestSubRayleighCluster(s.holes));
    }
    expect(seen.size).toBeGreaterThanOrEqual(9);
    expect(() => simulateNanohole({ holes: 11 }, rng)).toThrow();
  });

  it('shot and read noise: the frame holds the photon budget and the read-noise variance', () => {
    const rng = new Rng(7);
    const clean = diffractionIntensity([{ x: 0, y: 0 }], A);
    const shot = recordIntensity(clean, { photons: 1e5 }, rng);
    const total = shot.reduce((a, v) => a + v, 0);
    expect(Math.abs(total - 1e5)).toBeLessThan(5 * Math.sqrt(1e5));
    expect(shot.every((v) => Number.isInteger(v))).toBe(true);
    const dark = recordIntensity(new Float32Array(N * N).fill(1e-30), { photons: 1e-30 * N * N, readNoise: 3 }, rng);
    const variance = dark.reduce((a, v) => a + v * v, 0) / dark.length;
    expect(variance).toBeGreaterThan(9 * 0.95);
    expect(variance).toBeLessThan(9 * 1.05);
    const binned = simulateNanohole({ holes: 3, camera: { binning: 4 } }, rng);
    expect(binned.intensity[0]).toBe(binned.intensity[3 * N + 3]);
  });

  it('nanoholeInput removes offset and scale', () => {
    const rng = new Rng(8);
    const s = simulateNanohole({ holes: 4 }, rng);
    const x = nanoholeInput(s.intensity);
    const y = nanoholeInput(s.intensity.map((v) => 1000 + 5e7 * v));
    expect(Math.min(...x)).toBe(0);
    expect(Math.max(...x)).toBe(1);
    let worst = 0;
    for (let k = 0; k < x.length; k++) worst = Math.max(worst, Math.abs(x[k] - y[k]));
    expect(worst).toBeLessThan(1e-4);
    expect(nanoholeInput(new Float32Array(N * N).fill(2)).every((v) => v === 0)).toBe(true);
    expect(() => nanoholeInput(new Float32Array(10))).toThrow(/128/);
  });
});
