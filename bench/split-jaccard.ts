/**
 * What the frame fit's split test (src/optics/gauss-fit.ts, splitPairs) does to the emitter
 * Jaccard: the eval's conditions on selection frames (seeds 5 700 000 + 1000·block + frame, neither
 * training nor test), one model, localisations from the map refined by the fit with and without
 * the test, side by side on the same frames.
 *
 *   npx tsx bench/split-jaccard.ts [--model damn-realism] [--conditions all] [--samples 20] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { loadSettings } from '../src/config/load.ts';
import { selectConditions } from '../src/eval/conditions.ts';
import { drawTestSample, EVAL_POSTPROCESS } from '../src/eval/damn.ts';
import { createReconstructor } from '../src/inference/registry.ts';
import { createLogger } from '../src/log.ts';
import { matchEmitters } from '../src/optics/metrics.ts';
import { fitLocalizations, postprocess } from '../src/pipeline/postprocess.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] as string) : dflt;
};
const model = arg('--model', 'damn-realism');
const spec = arg('--conditions', 'all');
const samples = Number(arg('--samples', '20'));
const out = arg('--json', '');
const SEED = 5_700_000;
const POST = EVAL_POSTPROCESS;

const rec = await createReconstructor(model, loadSettings(undefined), createLogger('warn'), {});
const rows: Array<{ condition: string; without: number; with: number }> = [];
for (const c of selectConditions(spec)) {
  const j = { without: 0, with: 0 };
  for (let i = 0; i < samples; i++) {
    const s = drawTestSample(c, 64, 4, SEED + i + 1000 * (c.seedIndex ?? 0));
    const map = await rec.reconstruct(s.frame);
    const locs = postprocess(map, map.width / s.frame.width, s.frame, POST, s.photometry);
    for (const [key, t] of [
      ['with', undefined],
      ['without', Number.POSITIVE_INFINITY],
    ] as const) {
      j[key] += matchEmitters(
        s.emitters,
        fitLocalizations(s.frame, locs, s.photometry, POST.maxLocalizations, s.readNoise, t),
        0.5,
      ).jaccard;
    }
  }
  rows.push({ condition: c.name, without: j.without / samples, with: j.with / samples });
  process.stdout.write(`${c.name}: Jaccard ${(j.without / samples).toFixed(3)} → ${(j.with / samples).toFixed(3)}\n`);
}
await rec.close();
if (out) writeFileSync(out, `${JSON.stringify({ command: process.argv.slice(1).join(' '), model, samples, seed: SEED, rows }, null, 2)}\n`);
process.exit(0);
