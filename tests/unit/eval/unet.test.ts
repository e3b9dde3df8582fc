import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../../src/config/load.ts';
import {
  aggregate,
  CLUSTER_SIZES,
  evaluateSet,
  evaluateUnet,
  formatUnetReport,
  loadFdtdSet,
  PAIR_DISTANCES,
  PUBLISHED,
  type SampleScore,
  scalarTestSet,
  scoreSample,
} from '../../../src/eval/unet.ts';
import { createReconstructor } from '../../../src/inference/registry.ts';
import type { Reconstructor } from '../../../src/inference/types.ts';
import { holeMap, largestSubRayleighCluster, NANOHOLE_RADIUS, nanoholeInput } from '../../../src/optics/nanohole.ts';
import { tinyNanoholeReference } from '../../fixtures/tiny-model.ts';
import { tinyUnetModelsDir } from '../../helpers/nanohole-models.ts';

const M = 128 * 128;

/** Pearson correlation in float64, written out here so the eval's figure is checked against an independent sum. */
function pearson64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < n; i++) {
    sa += a[i];
    sb += b[i];
  }
  const ma = sa / n;
  const mb = sb / n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

describe('scoreSample on known maps', () => {
  const holes = [
    { x: -0.5, y: 0.1 },
    { x: 0.5, y: 0.1 },
  ];
  const truth = Float32Array.from(holeMap(holes, NANOHOLE_RADIUS));

  it('the truth itself: Pearson 1, two blobs, both holes found at their centres', () => {
    const s = scoreSample(truth, holes);
    expect(s.pearson).toBeCloseTo(1, 6);
    expect(s.components).toBe(2);
    expect(s.found).toBe(2);
    expect(s.matched).toBe(2);
    expect(Math.sqrt(s.sqErr / 2)).toBeLessThan(0.005);
  });

  it('one of two equal disks: Pearson equals the closed form (A − 2A²/N) / √((2A − 4A²/N)(A − A²/N))', () => {
    const one = Float32Array.from(holeMap([holes[0]], NANOHOLE_RADIUS));
    let A = 0;
    for (const v of one) A += v;
    const expected = (A - (2 * A * A) / M) / Math.sqrt((2 * A - (4 * A * A) / M) * (A - (A * A) / M));
    const s = scoreSample(one, holes);
    expect(s.pearson).toBeCloseTo(expected, 6);
    expect(s.pearson).toBeGreaterThan(0.69);
    expect(s.pearson).toBeLessThan(0.72);
    expect(s.found).toBe(1);
    expect(s.matched).toBe(1);
  });

  it('Pearson ignores an affine change but the hole count does not; the inverse map correlates −1', () => {
    const dim = truth.map((v) => 0.25 * v + 0.2);
    const s = scoreSample(dim, holes);
    expect(s.pearson).toBeCloseTo(1, 6);
    expect(s.components).toBe(0);
    expect(s.found).toBe(0);
    expect(
      scoreSample(
        truth.map((v) => 1 - v),
        holes,
      ).pearson,
    ).toBeCloseTo(-1, 6);
  });

  it('a map shifted by 3 map pixels: matched, with that centre error', () => {
    const p = 2.5 / 128;
    const shifted = Float32Array.from(
      holeMap(
        holes.map((h) => ({ x: h.x + 3 * p, y: h.y })),
        NANOHOLE_RADIUS,
      ),
    );
    const s = scoreSample(shifted, holes);
    expect(s.matched).toBe(2);
    expect(Math.sqrt(s.sqErr / 2)).toBeCloseTo(3 * p, 2);
    expect(s.pearson).toBeCloseTo(pearson64(shifted, truth), 6);
  });
});

describe('aggregate', () => {
  it('means, fractions and the RMSE over matched holes', () => {
    const s = (pearson: number, components: number, found: number, truth: number, matched: number, sqErr: number): SampleScore => ({
      pearson,
      components,
      found,
      truth,
      matched,
      sqErr,
    });
    const g = aggregate([s(0.9, 2, 2, 2, 2, 0.02), s(0.5, 1, 1, 2, 1, 0.01), s(0.7, 2, 3, 2, 1, 0)]);
    expect(g.n).toBe(3);
    expect(g.pearson).toBeCloseTo(0.7, 12);
    expect(g.separated).toBeCloseTo(2 / 3, 12);
    expect(g.countAccuracy).toBeCloseTo(1 / 3, 12);
    expect(g.rmse).toBeCloseTo(Math.sqrt(0.03 / 4), 12);
    expect(g.recall).toBeCloseTo(4 / 6, 12);
    expect(aggregate([]).rmse).toBeNull();
  });
});

describe('scalar test set', () => {
  it('is seeded and has the cluster sizes and pair distances it claims', () => {
    const a = scalarTestSet({ perCluster: 1, perDistance: 1, seed: 7 });
    const b = scalarTestSet({ perCluster: 1, perDistance: 1, seed: 7 });
    const c = scalarTestSet({ perCluster: 1, perDistance: 1, seed: 8 });
    expect(a.length).toBe(CLUSTER_SIZES.length + PAIR_DISTANCES.length);
    expect(b.map((s) => s.holes)).toEqual(a.map((s) => s.holes));
    expect(c[0].holes).not.toEqual(a[0].holes);
    expect(a.filter((s) => s.kind === 'cluster').map((s) => s.largestCluster)).toEqual([...CLUSTER_SIZES]);
    for (const s of a) expect(largestSubRayleighCluster(s.holes)).toBe(s.largestCluster);
    for (const [i, s] of a.filter((x) => x.kind === 'pair').entries()) {
      expect(Math.hypot(s.holes[0].x - s.holes[1].x, s.holes[0].y - s.holes[1].y)).toBeCloseTo(PAIR_DISTANCES[i], 9);
    }
  });
});

describe('evaluateUnet with tiny ONNX models in the engine worker', () => {
  const models = [
    { id: 'u8', precision: 'int8' as const, gain: 12, bias: -6 },
    { id: 'u32', precision: 'fp32' as const, gain: 20, bias: -12 },
  ];
  let engines: Reconstructor[] = [];
  let fdtdDir: string;

  beforeAll(async () => {
    const dir = tinyUnetModelsDir(models);
    const settings = parseSettings({ inference: { modelsDir: dir, threads: 1 } });
    engines = [await createReconstructor('u8', settings), await createReconstructor('u32', settings)];
    // a two-sample "FDTD" set in the committed format: uint16 (S, 128·128), max 65535
    fdtdDir = mkdtempSync(join(tmpdir(), 'rayleigh-fdtd-'));
    const set = scalarTestSet({ perCluster: 1, perDistance: 1, seed: 11 }).filter((_, i) => i === 1 || i === 12);
    const rows = new Uint16Array(set.length * M);
    set.forEach((s, k) => {
      let max = 0;
      for (const v of s.intensity) max = Math.max(max, v);
      for (let i = 0; i < M; i++) rows[k * M + i] = Math.round((s.intensity[i] / max) * 65535);
    });
    let header = `{'descr': '<u2', 'fortran_order': False, 'shape': (${set.length}, ${M}), }`;
    header += ' '.repeat(64 - ((10 + header.length + 1) % 64));
    header += '\n';
    const pre = Buffer.alloc(10);
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(pre);
    pre.writeUInt16LE(header.length, 8);
    const npyGz = gzipSync(Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(rows.buffer)]));
    writeFileSync(join(fdtdDir, 'intensity.npy.gz'), npyGz);
    writeFileSync(join(fdtdDir, 'intensity-scattered.npy.gz'), npyGz);
    writeFileSync(
      join(fdtdDir, 'samples.json'),
      JSON.stringify({
        generator: 'test',
        samples: set.map((s) => ({
          holes: s.holes.map((h) => [h.x, h.y]),
          kind: s.kind,
          distance: s.distance,
          largestCluster: s.largestCluster,
        })),
      }),
    );
  }, 60_000);

  afterAll(async () => {
    for (const e of engines) await e.close();
  });

  it('per-group Pearson equals the closed-form model output correlated in float64', async () => {
    const samples = scalarTestSet({ perCluster: 1, perDistance: 1, seed: 3 });
    const r = await evaluateSet(engines, samples);
    expect(r.samples).toBe(samples.length);
    for (const m of models) {
      for (const s of samples) {
        const pred = tinyNanoholeReference(nanoholeInput(s.intensity), m.gain, m.bias);
        const expected = pearson64(pred, holeMap(s.holes, NANOHOLE_RADIUS));
        const g = s.kind === 'pair' ? r.byDistance[m.id][(s.distance as number).toFixed(3)] : r.byCluster[m.id][String(s.largestCluster)];
        // one sample per group: the group mean is that sample's Pearson
        expect(g.n).toBe(1);
        expect(g.pearson).toBeCloseTo(expected, 4);
      }
    }
    // the two models differ, so the figures are not copied between them
    expect(r.byCluster.u8['3'].pearson).not.toBeCloseTo(r.byCluster.u32['3'].pearson, 4);
  }, 60_000);

  it('reports INT8 and FP32 side by side, the FDTD set when present, and skips it with a message when absent', async () => {
    const said: string[] = [];
    const rep = await evaluateUnet(
      engines,
      { int8: 'u8', fp32: 'u32' },
      { perCluster: 1, perDistance: 1, seed: 3, fdtdDir, onProgress: (m) => said.push(m) },
    );
    expect(Object.keys(rep.pearson_by_cluster)).toEqual(CLUSTER_SIZES.map(String));
    expect(rep.pearson_by_cluster['2']).toBe(rep.scalar.byCluster.u8['2'].pearson);
    expect(rep.pearson_by_cluster_fp32?.['2']).toBe(rep.scalar.byCluster.u32['2'].pearson);
    expect(Object.keys(rep.pearson_by_distance)).toEqual(PAIR_DISTANCES.map((d) => d.toFixed(3)));
    expect(rep.count_accuracy).toBe(rep.scalar.clusters.u8.countAccuracy);
    // the truth map through the same post-processing: perfect Pearson, touching holes one blob yet counted right
    expect(rep.scalar.ideal.byCluster['5'].pearson).toBeCloseTo(1, 6);
    expect(rep.scalar.ideal.byDistance['0.158'].separated).toBe(0);
    expect(rep.scalar.ideal.byDistance['0.158'].countAccuracy).toBe(1);
    expect(rep.fdtd?.samples).toBe(2);
    // this "FDTD" set is the scalar intensity itself (quantised to uint16): it agrees with the simulator
    expect(rep.fdtd_vs_scalar_intensity?.total).toBeGreaterThan(0.9999);
    expect(rep.fdtd_vs_scalar_intensity?.samples).toBe(2);
    // …and the vector holes' pattern (E_z lobes along x) is not the scalar one it was made from
    const vec = rep.fdtd_vs_scalar_intensity?.scattered_vector ?? Number.NaN;
    expect(vec).toBeLessThan((rep.fdtd_vs_scalar_intensity?.scattered ?? 0) - 0.005);
    expect(vec).toBeGreaterThan(0.5);
    expect(rep.fdtd_scattered?.byCluster.u8['3'].pearson).toBeCloseTo(rep.fdtd?.byCluster.u8['3'].pearson ?? Number.NaN, 9);
    expect(Object.keys(rep.pearson_by_cluster_fdtd ?? {})).toEqual(['3']);
    expect(said.some((m) => m.includes('FDTD test set: 2 samples'))).toBe(true);
    const md = formatUnetReport(rep, 'npx rayleigh eval --task unet');
    expect(md).toContain('scalar simulator');
    expect(md).toContain('FDTD (Meep), recorded intensity');
    expect(md).toContain("FDTD (Meep), holes' scattered field only");
    expect(md).toContain('## FDTD against the scalar simulator');
    expect(md).toContain("against the simulator's vector holes");
    expect(md).toMatch(/\| 2 \| 1 \| .* \| 0\.82 \|/);
    expect(md).toMatch(/\| 4 \| 1 \| .* \| – \|/);
    expect(PUBLISHED.pearsonByCluster[10]).toBe(0.71);

    const none: string[] = [];
    const rep2 = await evaluateUnet(
      engines.slice(0, 1),
      { int8: 'u8', fp32: null },
      { perCluster: 1, perDistance: 1, seed: 3, fdtdDir: join(fdtdDir, 'missing'), onProgress: (m) => none.push(m) },
    );
    expect(rep2.fdtd).toBeNull();
    expect(rep2.pearson_by_cluster_fdtd).toBeNull();
    expect(none.some((m) => /no FDTD test set .* skipped/.test(m))).toBe(true);
    expect(await loadFdtdSet(join(fdtdDir, 'missing'))).toBeNull();
  }, 60_000);
});
