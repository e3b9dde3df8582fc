import { describe, expect, it } from 'vitest';
import { hardwareSchema } from '../../../src/config/hardware.ts';
import { UserError } from '../../../src/errors.ts';
import { openDmd } from '../../../src/hardware/dmd/open.ts';
import {
  countLit,
  dotGrid,
  gridPoints,
  mapMirrorToCamera,
  maskToEmitters,
  pairs,
  parsePatternSpec,
  randomPoints,
  renderPattern,
} from '../../../src/hardware/patterns.ts';

function minDistance(points: { x: number; y: number }[]): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      best = Math.min(best, Math.hypot(points[i].x - points[j].x, points[i].y - points[j].y));
    }
  }
  return best;
}

describe('pattern generators', () => {
  it('random points: exact count, minimum spacing respected, reproducible per seed', () => {
    const a = randomPoints(200, 120, { count: 150, minSpacing: 6, seed: 42 });
    expect(a.points.length).toBe(150);
    expect(countLit(a)).toBe(150);
    expect(minDistance(a.points)).toBeGreaterThanOrEqual(6);
    const b = randomPoints(200, 120, { count: 150, minSpacing: 6, seed: 42 });
    expect(b.points).toEqual(a.points);
    const c = randomPoints(200, 120, { count: 150, minSpacing: 6, seed: 43 });
    expect(c.points).not.toEqual(a.points);
  });

  it('random points honour the margin and refuse impossible densities clearly', () => {
    const m = randomPoints(100, 100, { count: 50, minSpacing: 3, seed: 1, margin: 10 });
    expect(m.points.every((p) => p.x >= 10 && p.x < 90 && p.y >= 10 && p.y < 90)).toBe(true);
    expect(() => randomPoints(20, 20, { count: 100, minSpacing: 5 })).toThrow(UserError);
    expect(() => randomPoints(20, 20, { count: 100, minSpacing: 5 })).toThrow(/cannot place 100 points/);
  });

  it('grid: one mirror per lattice site', () => {
    const g = gridPoints(64, 32, 16);
    expect(g.points.length).toBe(4 * 2);
    expect(countLit(g)).toBe(8);
    expect(g.points[0]).toEqual({ x: 8, y: 8 });
  });

  it('pairs: the two points of each pair are exactly the set distance apart', () => {
    const m = pairs(256, 256, { distance: 3, count: 10, seed: 2 });
    expect(m.points.length).toBe(20);
    for (let i = 0; i < 20; i += 2) {
      expect(Math.hypot(m.points[i].x - m.points[i + 1].x, m.points[i].y - m.points[i + 1].y)).toBe(3);
    }
    expect(countLit(m)).toBe(20);
  });

  it('dots: discs on a lattice with their centres as ground truth', () => {
    const m = dotGrid(64, 64, 32, 1);
    expect(m.points).toEqual([
      { x: 16, y: 16 },
      { x: 48, y: 16 },
      { x: 16, y: 48 },
      { x: 48, y: 48 },
    ]);
    expect(countLit(m)).toBe(4 * 5); // radius 1: centre plus 4 neighbours
  });
});

describe('parsePatternSpec', () => {
  it('accepts the documented examples and fills defaults', () => {
    expect(parsePatternSpec({ kind: 'random', count: 50, minSpacing: 4, seed: 1 })).toEqual({
      kind: 'random',
      count: 50,
      minSpacing: 4,
      seed: 1,
      margin: 0,
    });
    expect(parsePatternSpec('{"kind":"grid","pitch":16}')).toEqual({ kind: 'grid', pitch: 16 });
    expect(parsePatternSpec({ kind: 'pairs', distance: 3, count: 10 })).toMatchObject({ seed: 1, orientation: 'horizontal' });
    expect(parsePatternSpec({ kind: 'dots', pitch: 32 })).toEqual({ kind: 'dots', pitch: 32, radius: 1 });
    const m = renderPattern(parsePatternSpec({ kind: 'pairs', distance: 3, count: 10 }), 128, 128);
    expect(m.points.length).toBe(20);
  });

  it('rejects bad specs with UserErrors that name the field', () => {
    const msg = (v: unknown) => {
      try {
        parsePatternSpec(v);
        return 'no error';
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        return (e as Error).message;
      }
    };
    expect(msg({ kind: 'spiral' })).toMatch(/kind/);
    expect(msg({ kind: 'random', count: -5 })).toMatch(/count/);
    expect(msg({ kind: 'grid', pitch: 16, colour: 'red' })).toMatch(/colour|unrecognized/i);
    expect(msg({ kind: 'pairs', count: 3 })).toMatch(/distance/);
    expect(msg('{not json')).toMatch(/not valid JSON/);
    expect(msg(42)).toMatch(/invalid pattern spec/);
  });
});

describe('DMD → camera mapping', () => {
  it('maps mirror centres affinely and emits one emitter per lit mirror', () => {
    const m = gridPoints(16, 16, 8); // mirrors (4,4), (12,4), (4,12), (12,12)
    const e = maskToEmitters(m, { scale: 0.5, offsetX: 10, offsetY: 20, photons: 500 });
    expect(e.length).toBe(4);
    expect(e[0]).toEqual({ x: 10 + 0.5 * 4.5, y: 20 + 0.5 * 4.5, photons: 500 });
    // a 90° rotation through the full matrix
    expect(mapMirrorToCamera(2, 0, { matrix: [0, -1, 1, 0] })).toEqual({ x: -0.5, y: 2.5 });
  });

  it('dmdScene follows what the simulated controller shows', async () => {
    const cfg = hardwareSchema.parse({ dmd: { type: 'dlpc900', width: 64, height: 48 } }).dmd;
    const opened = await openDmd(cfg);
    expect(opened?.sim).toBeDefined();
    if (!opened?.sim) return;
    const scene = opened.sim.scene({ scale: 0.25, photons: 200 });
    expect(scene()).toBeNull();
    await opened.dmd.setLeds(true);
    await opened.dmd.showMask(gridPoints(64, 48, 16));
    expect(scene()?.emitters.length).toBe(12);
    await opened.dmd.setLeds(false);
    expect(scene()).toBeNull();
  });

  it('the simulated DLPC347x rig feeds the scene through its framebuffer', async () => {
    const cfg = hardwareSchema.parse({ dmd: { type: 'dlpc347x', width: 40, height: 30 } }).dmd;
    const opened = await openDmd(cfg);
    if (!opened?.sim) throw new Error('expected a simulated DMD');
    await opened.dmd.setLeds(true);
    await opened.dmd.showMask(gridPoints(40, 30, 10));
    expect(opened.sim.scene()()?.emitters.length).toBe(12);
  });
});
