import { describe, expect, it } from 'vitest';
import { connectedComponents, countComponents, findHoles } from '../../../src/inference/holes.ts';

const N = 128;
const EXTENT = 2.5;
const P = EXTENT / N;
const A = 0.079; // hole radius, λ
const grid = { size: N, extent: EXTENT };

/** Paints disks of radius r (λ) on the contract grid; `soft` > 0 blurs the edge linearly over that many λ (network-like output). */
function paint(centres: Array<[number, number]>, r = A, soft = 0): Float32Array {
  const m = new Float32Array(N * N);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      const x = (j + 0.5 - N / 2) * P;
      const y = (i + 0.5 - N / 2) * P;
      for (const [cx, cy] of centres) {
        const d = Math.hypot(x - cx, y - cy);
        const v = soft > 0 ? Math.min(1, Math.max(0, 0.5 + (r - d) / soft)) : d <= r ? 1 : 0;
        m[i * N + j] = Math.max(m[i * N + j], v);
      }
    }
  }
  return m;
}

describe('connectedComponents', () => {
  it('labels 4-connected blobs and does not join diagonal neighbours', () => {
    // 1 1 0 0
    // 0 0 1 0   ← diagonal to the first blob: separate under 4-connectivity
    // 0 0 1 1
    const mask = Uint8Array.from([1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1]);
    const { labels, count } = connectedComponents(mask, 4, 3);
    expect(count).toBe(2);
    expect(labels[0]).toBe(labels[1]);
    expect(labels[6]).toBe(labels[10]);
    expect(labels[6]).toBe(labels[11]);
    expect(labels[0]).not.toBe(labels[6]);
    expect(labels[2]).toBe(0);
  });
});

describe('findHoles', () => {
  it('finds one off-grid disk: centre, radius, camera pixels', () => {
    const map = paint([[0.3137, -0.2219]]);
    const camera = { pitch: 22 / 128, centre: { x: 64, y: 64 } };
    const r = findHoles(map, grid, { holeRadius: A }, camera);
    expect(r.count).toBe(1);
    const h = r.holes[0];
    expect(Math.abs(h.x - 0.3137)).toBeLessThan(0.005);
    expect(Math.abs(h.y + 0.2219)).toBeLessThan(0.005);
    expect(Math.abs(h.radius - A)).toBeLessThan(0.005);
    expect(h.peak).toBe(1);
    // 0.3137 λ / (22/128 λ/px) = 1.825 px right of the frame centre
    expect(h.px).toBeCloseTo(64 + h.x / (22 / 128), 6);
    expect(h.px as number).toBeGreaterThan(65.8);
    expect(h.px as number).toBeLessThan(65.86);
    expect(h.py as number).toBeCloseTo(64 - 0.2219 / (22 / 128), 1);
  });

  it('two touching disks form one blob and are split into two holes at their centres', () => {
    const d = 2 * A; // touching
    const c: Array<[number, number]> = [
      [-0.2 - (d / 2) * Math.cos(0.6), 0.1 - (d / 2) * Math.sin(0.6)],
      [-0.2 + (d / 2) * Math.cos(0.6), 0.1 + (d / 2) * Math.sin(0.6)],
    ];
    const map = paint(c);
    expect(countComponents(map, N)).toBe(1);
    const unsplit = findHoles(map, grid, { holeRadius: A, split: false });
    expect(unsplit.count).toBe(1);
    const r = findHoles(map, grid, { holeRadius: A });
    expect(r.components).toBe(1);
    expect(r.count).toBe(2);
    for (const [cx, cy] of c) {
      const nearest = Math.min(...r.holes.map((h) => Math.hypot(h.x - cx, h.y - cy)));
      // the two halves of the blob: each centroid within a quarter radius of its disk's centre
      expect(nearest).toBeLessThan(A / 4);
    }
  });

  it('three touching disks in a row give three holes; soft edges do not change the count', () => {
    const c: Array<[number, number]> = [
      [-2 * A, 0.5],
      [0, 0.5],
      [2 * A, 0.5],
    ];
    for (const soft of [0, 0.03]) {
      const r = findHoles(paint(c, A, soft), grid, { holeRadius: A });
      expect(r.count).toBe(3);
      const xs = r.holes.map((h) => h.x).sort((a, b) => a - b);
      for (const [i, x] of xs.entries()) expect(Math.abs(x - c[i][0])).toBeLessThan(A / 3);
    }
  });

  it('separate disks are separate components; specks below a quarter disk are dropped', () => {
    const map = paint([
      [-0.8, -0.8],
      [0.8, 0.8],
      [0, 0],
    ]);
    // a 2×2-pixel speck far from the disks
    for (const i of [10 * N + 100, 10 * N + 101, 11 * N + 100, 11 * N + 101]) map[i] = 0.9;
    const r = findHoles(map, grid, { holeRadius: A });
    expect(r.components).toBe(4);
    expect(r.count).toBe(3);
  });

  it('an empty map has no holes; a threshold above the map has none either', () => {
    expect(findHoles(new Float32Array(N * N), grid, { holeRadius: A }).count).toBe(0);
    const map = paint([[0, 0]]).map((v) => v * 0.4);
    expect(findHoles(map, grid, { holeRadius: A }).count).toBe(0);
    expect(findHoles(map, grid, { holeRadius: A, threshold: 0.3 }).count).toBe(1);
  });

  it('refuses a map that is not the grid size', () => {
    expect(() => findHoles(new Float32Array(10), grid, { holeRadius: A })).toThrow(/128×128/);
  });
});
