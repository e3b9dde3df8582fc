/**
 * Does the emitter network depend on the frame's size? One 512 × 512 test frame (default
 * condition unless --condition), its localisations from the map alone (no fit) two ways on the
 * same pixels: the network on the whole frame (untiled), and on each 64-px crop alone as a frame
 * of its own (zero padding round it, as in training). Scored on the emitters ≥ 8 px inside a crop.
 *
 *   npx tsx bench/frame-size.ts [--model damn] [--condition default] [--crop 64] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { loadSettings } from '../src/config/load.ts';
import { selectConditions } from '../src/eval/conditions.ts';
import { drawTestSample, EVAL_POSTPROCESS } from '../src/eval/damn.ts';
import { createReconstructor } from '../src/inference/registry.ts';
import { createLogger } from '../src/log.ts';
import { makeImage } from '../src/optics/image.ts';
import { matchEmitters } from '../src/optics/metrics.ts';
import { postprocess } from '../src/pipeline/postprocess.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] as string) : dflt;
};
const model = arg('--model', 'damn');
const [c] = selectConditions(arg('--condition', 'default'));
const T = Number(arg('--crop', '64'));
const out = arg('--json', '');
const S = 512;
const MARGIN = 8;
const SEED = 5_700_000;
const POST = EVAL_POSTPROCESS;

const settings = loadSettings(undefined);
settings.inference.tile.window = 0; // the whole frame in one run: no tiling of any kind
const rec = await createReconstructor(model, settings, createLogger('warn'), {});
const s = drawTestSample(c, S, 4, SEED);
const whole = postprocess(await rec.reconstruct(s.frame), 4, s.frame, POST, s.photometry);
const crops: Array<{ x: number; y: number }> = [];
for (let ty = 0; ty + T <= S; ty += T) {
  for (let tx = 0; tx + T <= S; tx += T) {
    const d = new Float32Array(T * T);
    for (let y = 0; y < T; y++) for (let x = 0; x < T; x++) d[y * T + x] = s.frame.data[(ty + y) * S + tx + x];
    const crop = makeImage(T, T, d);
    for (const l of postprocess(await rec.reconstruct(crop), 4, crop, POST, s.photometry)) crops.push({ x: l.x + tx, y: l.y + ty });
  }
}
await rec.close();
const inside = (p: { x: number; y: number }) => {
  const u = p.x % T;
  const v = p.y % T;
  return u >= MARGIN && v >= MARGIN && u < T - MARGIN && v < T - MARGIN && p.x < S - (S % T) && p.y < S - (S % T);
};
const truth = s.emitters.filter(inside);
const result = {
  command: process.argv.slice(1).join(' '),
  model,
  condition: c.name,
  frame: `${S}x${S}`,
  crop: T,
  emitters: truth.length,
  jaccardWholeFrame: matchEmitters(truth, whole.filter(inside), 0.5).jaccard,
  jaccardCrops: matchEmitters(truth, crops.filter(inside), 0.5).jaccard,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
