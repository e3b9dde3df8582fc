import { describe, expect, it } from 'vitest';
import { baselinesFromJson, formatSummary, formatTable } from '../../../src/commands/eval.ts';
import { DAMN_CONDITIONS } from '../../../src/eval/conditions.ts';
import { DEFAULT_EVAL, drawTestSample, evaluateDamn } from '../../../src/eval/damn.ts';
import type { MapEngine } from '../../../src/inference/types.ts';
import type { Image } from '../../../src/optics/image.ts';

const key = (img: Image): string => Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength).toString('base64');

/**
 * Engines with known answers, looking the truth up by frame content (the evaluation draws the same
 * seeded frames): `perfect` returns it, `shifted` moves every emitter to the neighbouring sub-pixel
 * of the same camera pixel (right pixel, wrong quarter).
 */
function truthEngine(id: string, shift: boolean, truths: Map<string, Image>): MapEngine {
  return {
    id,
    scale: 4,
    fingerprint: id,
    provider: 'js',
    async reconstruct(frame: Image): Promise<Image> {
      const t = truths.get(key(frame));
      if (!t) throw new Error('frame not drawn by the test');
      const out = new Float32Array(t.data.length);
      for (let i = 0; i < t.data.length; i++) out[shift ? i ^ 1 : i] += t.data[i];
      return { width: t.width, height: t.height, data: out };
    },
    async close() {},
  };
}

describe('evaluateDamn', () => {
  const cond = DAMN_CONDITIONS.find((c) => c.name === 'sparse');
  if (!cond) throw new Error('no sparse condition');
  const opts = { ...DEFAULT_EVAL, samples: 2, rlSamples: 1, rlIterations: 5, oracleTrials: 60, conditions: [cond] };

  it('scores a perfect engine 0 and a wrong-sub-pixel engine at the disjoint-map MAE but a perfect camera grid', async () => {
    const truths = new Map<string, Image>();
    for (let i = 0; i < opts.samples; i++) {
      const t = drawTestSample(cond, opts.size, opts.scale, opts.seed + (cond.seedIndex ?? 0) * 100_000 + i);
      truths.set(key(t.frame), t.truthFine);
    }
    const [r] = await evaluateDamn([truthEngine('perfect', false, truths), truthEngine('shifted', true, truths)], opts);
    const fine = opts.size * opts.scale;
    expect(r.engines.perfect.maeFine).toBeLessThan(1e-9);
    expect(r.engines.perfect.maeCamera).toBeLessThan(1e-9);
    expect(r.engines.perfect.jaccard).toBeGreaterThan(0.95);
    // all mass one sub-pixel off: fine maps disjoint, camera maps identical
    expect(r.engines.shifted.maeFine).toBeCloseTo(2 / (fine * fine), 9);
    expect(r.engines.shifted.maeCamera).toBeLessThan(1e-9);
    // Richardson–Lucy and the raw frame lie in between
    expect(r.engines.rl.maeFine).toBeGreaterThan(0);
    expect(r.engines.raw.maeFine).toBeGreaterThan(r.engines.rl.maeFine * 0.5);
    expect(r.oracle?.neighboursKnown).toBe(true);
    expect(r.oracle?.accuracy).toBeGreaterThan(0.6);
    expect(r.oracle?.accuracy).toBeLessThan(1);
    expect(r.oracle?.maeFine).toBeCloseTo((2 * (1 - (r.oracle?.accuracy ?? 0))) / (fine * fine), 12);

    const table = formatTable([r], ['perfect', 'rl']);
    expect(table.split('\n')[0]).toContain('oracle MAE fine');
    expect(table.split('\n')[2]).toContain(r.oracle ? r.oracle.maeFine.toExponential(2) : 'missing');
  }, 60_000);

  it('reuses the RL and oracle figures of a run on the same frames, and refuses those of any other run', async () => {
    const first = await evaluateDamn([], opts);
    const saved = JSON.stringify({ options: { ...opts, onProgress: undefined }, results: first });
    const baselines = baselinesFromJson(saved, 'first.json', opts);
    const [again] = await evaluateDamn([], { ...opts, baselines });
    expect(again.engines.rl).toEqual(first[0].engines.rl);
    expect(again.oracle).toEqual(first[0].oracle);
    // what is always recomputed still is: the raw frame's score on the same frames
    expect(again.engines.raw.maeFine).toBe(first[0].engines.raw.maeFine);
    // RL really was skipped: its recorded seconds are the first run's, not measured again
    expect(again.engines.rl.secondsPerFrame).toBe(first[0].engines.rl.secondsPerFrame);

    expect(() => baselinesFromJson(saved, 'first.json', { ...opts, seed: opts.seed + 1 })).toThrow(/seed/);
    expect(() => baselinesFromJson(saved, 'first.json', { ...opts, rlSamples: 2 })).toThrow(/rlSamples/);
    const other = DAMN_CONDITIONS.find((c) => c.name === 'default');
    if (!other) throw new Error('no default condition');
    expect(() => baselinesFromJson(saved, 'first.json', { ...opts, conditions: [other] })).toThrow(
      /no Richardson–Lucy figures for condition "default"/,
    );
    const redefined = JSON.stringify({
      options: { ...opts, onProgress: undefined },
      results: [{ ...first[0], condition: { ...first[0].condition, density: 11 } }],
    });
    expect(() => baselinesFromJson(redefined, 'r.json', opts)).toThrow(/defined differently/);
    expect(() => baselinesFromJson('{"results": []}', 'x.json', opts)).toThrow(/no "options"/);
  }, 60_000);

  it('skips the oracle when asked', async () => {
    const [r] = await evaluateDamn([], { ...opts, samples: 1, oracleTrials: 0 });
    expect(r.oracle).toBeUndefined();
    expect(formatTable([r], ['rl'])).not.toContain('oracle');
  }, 60_000);

  it('compares with another model of a saved run when told which', async () => {
    const [r] = await evaluateDamn([], { ...opts, samples: 1, rlSamples: 1, oracleTrials: 0 });
    const score = (maeFine: number) => ({ ...r.engines.raw, maeFine });
    const now = { ...r, engines: { ...r.engines, 'new-int8': score(1e-5) } };
    const then = new Map([[r.condition.name, { ...r, engines: { ...r.engines, old: score(2e-5) } }]]);
    const table = formatSummary([now], 'new-int8', null, then, 'old').split('\n');
    expect(table[0]).toContain('old: INT8 fine / cam / Jaccard');
    expect(table[2]).toContain('2.00e-5 /');
    // without the name the column looks for the same model there, and has nothing
    expect(formatSummary([now], 'new-int8', null, then).split('\n')[2].endsWith('| - |')).toBe(true);
  }, 60_000);
});
