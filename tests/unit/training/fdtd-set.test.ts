/**
 * The committed full-Maxwell (Meep FDTD) nanohole test set, training/fdtd/data/: format per the
 * nanohole contract (issue #16), hole geometry, cluster index, and that every intensity row belongs
 * to the holes listed for it. Needs neither Meep nor Python (the set is made by
 * training/fdtd/make_set.py; the FDTD itself never runs in CI).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeNpy } from '../../../src/io/npy.ts';
import { makeImage } from '../../../src/optics/image.ts';
import { pearson } from '../../../src/optics/metrics.ts';
import {
  diffractionIntensity,
  type Hole,
  largestSubRayleighCluster,
  NANOHOLE,
  NANOHOLE_RADIUS,
  PAIR_DISTANCE_RANGE,
} from '../../../src/optics/nanohole.ts';

const DATA = join(dirname(fileURLToPath(import.meta.url)), '../../../training/fdtd/data');
const N = NANOHOLE.inputSize;

interface FdtdSample {
  index: number;
  holes: [number, number][];
  kind: 'pair' | 'cluster';
  distance?: number;
  largestCluster: number;
  seconds: number;
}
interface FdtdSet {
  generator: string;
  cellsPerLambda: number;
  secondsPerSample: number;
  grid: Record<string, number | string>;
  samples: FdtdSample[];
}

const meta = JSON.parse(readFileSync(join(DATA, 'samples.json'), 'utf8')) as FdtdSet;
const rows = (file: string) => decodeNpy(gunzipSync(readFileSync(join(DATA, file))), file);
const intensity = rows('intensity.npy.gz');
const scattered = rows('intensity-scattered.npy.gz');
const holesOf = (s: FdtdSample): Hole[] => s.holes.map(([x, y]) => ({ x, y }));
const row = (img: typeof intensity, i: number) => makeImage(N, N, img.data.subarray(i * N * N, (i + 1) * N * N));

describe('FDTD nanohole test set (training/fdtd/data)', () => {
  it('has the contract metadata and grid', () => {
    expect(meta.generator).toMatch(/^\/usr\/bin\/python3 training\/fdtd\/make_set\.py --out training\/fdtd\/data /);
    expect(meta.cellsPerLambda).toBeGreaterThan(0);
    expect(meta.secondsPerSample).toBeGreaterThan(0);
    for (const key of ['holeDiameter', 'area', 'heightH', 'na', 'inputSize', 'inputExtent'] as const) {
      expect(meta.grid[key], key).toBeCloseTo(NANOHOLE[key], 9);
    }
    expect(meta.samples.length).toBeGreaterThanOrEqual(40);
    expect(new Set(meta.samples.map((s) => s.index)).size).toBe(meta.samples.length);
  });

  it('stores one uint16 row of 128×128 per sample, each scaled to a maximum of 65535', () => {
    for (const img of [intensity, scattered]) {
      expect(img.width).toBe(N * N);
      expect(img.height).toBe(meta.samples.length);
      for (let i = 0; i < img.height; i++) {
        const r = row(img, i).data;
        let max = 0;
        let min = Number.POSITIVE_INFINITY;
        for (const v of r) {
          max = Math.max(max, v);
          min = Math.min(min, v);
        }
        expect(max, `row ${i}`).toBe(65535);
        expect(min, `row ${i}`).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('places 2..10 non-overlapping holes inside the 2.2λ area with the right cluster index and pair distance', () => {
    const half = NANOHOLE.area / 2 - NANOHOLE_RADIUS + 1e-6;
    for (const s of meta.samples) {
      const h = holesOf(s);
      expect(h.length).toBeGreaterThanOrEqual(2);
      expect(h.length).toBeLessThanOrEqual(10);
      for (const p of h) expect(Math.max(Math.abs(p.x), Math.abs(p.y))).toBeLessThanOrEqual(half);
      for (let i = 0; i < h.length; i++) {
        for (let j = i + 1; j < h.length; j++) {
          expect(Math.hypot(h[i].x - h[j].x, h[i].y - h[j].y)).toBeGreaterThanOrEqual(NANOHOLE.holeDiameter - 1e-6);
        }
      }
      expect(s.largestCluster, `sample ${s.index}`).toBe(largestSubRayleighCluster(h));
      if (s.kind === 'pair') {
        expect(h.length).toBe(2);
        const d = s.distance ?? Number.NaN;
        expect(Math.hypot(h[0].x - h[1].x, h[0].y - h[1].y)).toBeCloseTo(d, 5);
        expect(d).toBeGreaterThanOrEqual(PAIR_DISTANCE_RANGE.min - 1e-9);
        expect(d).toBeLessThanOrEqual(PAIR_DISTANCE_RANGE.max + 1e-9);
      } else expect(s.kind).toBe('cluster');
    }
  });

  it('covers the two-hole sweep (≥ 8 distances) and largest clusters 2..10', () => {
    const distances = new Set(meta.samples.filter((s) => s.kind === 'pair').map((s) => s.distance));
    expect(distances.size).toBeGreaterThanOrEqual(8);
    const sizes = new Set(meta.samples.filter((s) => s.kind === 'cluster').map((s) => s.largestCluster));
    for (let k = 2; k <= 10; k++) expect(sizes.has(k), `cluster size ${k}`).toBe(true);
  });

  it("each row is its own holes' pattern: the scattered intensity matches the scalar model of those holes better than the next sample's", () => {
    const n = meta.samples.length;
    const scalar = meta.samples.map((s) => makeImage(N, N, diffractionIntensity(holesOf(s), NANOHOLE_RADIUS)));
    let worst = 1;
    let sum = 0;
    let beaten = 0;
    for (let i = 0; i < n; i++) {
      const own = pearson(row(scattered, i), scalar[i]);
      const other = pearson(row(scattered, i), scalar[(i + 1) % n]);
      worst = Math.min(worst, own);
      sum += own;
      if (own > other) beaten++;
    }
    // vector FDTD vs scalar Kirchhoff differ (polarisation, film, coupling) but share the geometry
    expect(worst).toBeGreaterThan(0.8);
    expect(sum / n).toBeGreaterThan(0.9);
    expect(beaten).toBe(n);
  });
});
