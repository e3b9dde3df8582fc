/**
 * Where the emitter Jaccard is lost: the detector or the physics. On selection frames (seeds
 * 5 700 000 + 1000·block + frame, neither training nor test), one model, side by side:
 * - the daemon's localisations (map → peaks → frame fit with split test and residual search);
 * - the same fit started from the true positions and photons (a perfect detector);
 * - each true emitter's significance with every other one known: 2ΔlogL of the frame with and
 *   without it (ideal-camera conditions only; NaN otherwise);
 * and the daemon's misses by nearest-neighbour distance and brightness.
 *
 *   npx tsx bench/detection-misses.ts [--model damn-realism] [--conditions default-damn,sparse-damn] [--samples 20] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { loadSettings } from '../src/config/load.ts';
import { selectConditions } from '../src/eval/conditions.ts';
import { drawTestSample, EVAL_POSTPROCESS } from '../src/eval/damn.ts';
import { createReconstructor } from '../src/inference/registry.ts';
import { createLogger } from '../src/log.ts';
import { matchEmitters } from '../src/optics/metrics.ts';
import { renderExpected } from '../src/optics/simulate.ts';
import { fitLocalizations, postprocess } from '../src/pipeline/postprocess.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] as string) : dflt;
};
const model = arg('--model', 'damn-realism');
const samples = Number(arg('--samples', '20'));
const out = arg('--json', '');
const SEED = 5_700_000;
const POST = EVAL_POSTPROCESS;

/** 2ΔlogL (Poisson) of each emitter against the frame without it, all others and the background known */
function significance(s: ReturnType<typeof drawTestSample>, background: number): number[] {
  const { width: W, height: H } = s.frame;
  const full = renderExpected(s.emitters, s.psf, W, H);
  const d = s.electrons.data;
  return s.emitters.map((e) => {
    const own = renderExpected([e], s.psf, W, H);
    let t = 0;
    for (let p = 0; p < W * H; p++) {
      if (own[p] < 1e-9) continue;
      const with1 = full[p] + background;
      const without = with1 - own[p];
      t += d[p] * Math.log(with1 / without) - own[p];
    }
    return 2 * t;
  });
}

const rec = await createReconstructor(model, loadSettings(undefined), createLogger('warn'), {});
const rows = [];
for (const c of selectConditions(arg('--conditions', 'default-damn,sparse-damn'))) {
  const ideal = !c.camera || c.camera === 'ideal';
  let jDaemon = 0;
  let jTruth = 0;
  let minSig = Number.POSITIVE_INFINITY;
  const bins: Record<string, { emitters: number; missed: number }> = {};
  for (let i = 0; i < samples; i++) {
    const s = drawTestSample(c, 64, 4, SEED + i + 1000 * (c.seedIndex ?? 0));
    const map = await rec.reconstruct(s.frame);
    const locs = postprocess(map, map.width / s.frame.width, s.frame, POST, s.photometry);
    const found = fitLocalizations(s.frame, locs, s.photometry, POST.maxLocalizations, s.readNoise);
    const m = matchEmitters(s.emitters, found, 0.5);
    jDaemon += m.jaccard / samples;
    const truthStarts = s.emitters.map((e) => ({ x: e.x, y: e.y, photons: e.photons, peak: 1 }));
    jTruth +=
      matchEmitters(s.emitters, fitLocalizations(s.frame, truthStarts, s.photometry, POST.maxLocalizations, s.readNoise), 0.5).jaccard /
      samples;
    if (ideal && !c.structure) for (const v of significance(s, c.background)) minSig = Math.min(minSig, v);
    const matched = new Set(m.pairs.map(([t]) => t));
    s.emitters.forEach((e, q) => {
      let nn = Number.POSITIVE_INFINITY;
      for (const [r, o] of s.emitters.entries()) if (r !== q) nn = Math.min(nn, Math.hypot(o.x - e.x, o.y - e.y));
      const key = `${nn < 2 ? 'neighbour < 2 px' : nn < 4 ? 'neighbour 2-4 px' : 'neighbour > 4 px'}, ${e.photons < 0.3 * c.photons ? 'dim' : e.photons < 0.6 * c.photons ? 'mid' : 'bright'}`;
      bins[key] ??= { emitters: 0, missed: 0 };
      const b = bins[key];
      b.emitters++;
      if (!matched.has(q)) b.missed++;
    });
  }
  const row = {
    condition: c.name,
    daemon: jDaemon,
    fitFromTruth: jTruth,
    minSignificance: ideal && !c.structure ? minSig : null,
    misses: bins,
  };
  rows.push(row);
  process.stdout.write(
    `${c.name}: Jaccard ${jDaemon.toFixed(3)} (map → fit), ${jTruth.toFixed(3)} (fit from the true positions); least 2ΔlogL of an emitter ${row.minSignificance?.toFixed(0) ?? '-'}\n`,
  );
  for (const [k, b] of Object.entries(bins).sort())
    process.stdout.write(`  ${k.padEnd(26)} ${b.missed}/${b.emitters} missed (${((100 * b.missed) / b.emitters).toFixed(0)} %)\n`);
}
await rec.close();
if (out) writeFileSync(out, `${JSON.stringify({ command: process.argv.slice(1).join(' '), model, samples, seed: SEED, rows }, null, 2)}\n`);
process.exit(0);
