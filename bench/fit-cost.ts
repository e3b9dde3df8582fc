/**
 * What the localisation fit (pipeline.postprocess.fit: gauss) costs next to the network, on one
 * sensor-size frame, side by side in one process: the tiled network (the daemon's engine, in
 * this thread), peak finding alone, and peak finding + fit (+ split test and residual search),
 * and the fit without the split test, each repeated. Reports medians and the ratio fit / network. Simulated frame: the sim camera's defaults
 * (Gaussian w = 2, 50 emitters per 50×50 px, 5000 photons, background 10).
 *
 *   npx tsx bench/fit-cost.ts [--width 1456] [--height 1088] [--rounds 3] [--model damn] [--max 2000] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { hostInfo } from '../src/commands/bench-host.ts';
import { loadSettings } from '../src/config/load.ts';
import { PEAK_DEFAULTS } from '../src/inference/peaks.ts';
import { createReconstructor } from '../src/inference/registry.ts';
import { createLogger } from '../src/log.ts';
import { Rng } from '../src/optics/random.ts';
import { randomScene } from '../src/optics/scene.ts';
import { renderFrame } from '../src/optics/simulate.ts';
import { fitLocalizations, postprocess } from '../src/pipeline/postprocess.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] as string) : dflt;
};
const W = Number(arg('--width', '1456'));
const H = Number(arg('--height', '1088'));
const rounds = Number(arg('--rounds', '3'));
const model = arg('--model', 'damn');
const out = process.argv.includes('--json') ? arg('--json', '') : '';

const rng = new Rng(424242);
const emitters = randomScene(rng, { width: W, height: H, density: 50, photons: 5000 });
const frame = renderFrame(emitters, { shape: 'gauss', width: 2 }, W, H, 10, rng);
const rec = await createReconstructor(model, loadSettings(undefined), createLogger('warn'), {});
// the daemon's default cap (pipeline.postprocess.maxLocalizations)
const post = { ...PEAK_DEFAULTS, maxLocalizations: Number(arg('--max', '2000')) };

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
const net: number[] = [];
const peaks: number[] = [];
const fit: number[] = [];
const fitNoSplit: number[] = [];
let found = 0;
let fitted = 0;
for (let r = 0; r < rounds; r++) {
  let t = performance.now();
  const map = await rec.reconstruct(frame);
  net.push(performance.now() - t);
  t = performance.now();
  const locs = postprocess(map, map.width / W, frame, post);
  peaks.push(performance.now() - t);
  t = performance.now();
  const f = fitLocalizations(frame, locs, undefined, post.maxLocalizations);
  fit.push(performance.now() - t);
  t = performance.now();
  fitLocalizations(frame, locs, undefined, post.maxLocalizations, undefined, Number.POSITIVE_INFINITY);
  fitNoSplit.push(performance.now() - t);
  found = locs.length;
  fitted = f.filter((q) => q.sigmaX > 0).length;
}
await rec.close();
const res = {
  command: `npx tsx bench/fit-cost.ts --width ${W} --height ${H} --rounds ${rounds} --model ${model} --max ${post.maxLocalizations}`,
  host: hostInfo(),
  loadAverage: (await import('node:os')).loadavg()[0],
  frame: { width: W, height: H, emitters: emitters.length },
  model,
  localizations: found,
  fittedOk: fitted,
  medianMs: { network: median(net), peaks: median(peaks), fit: median(fit), fitWithoutSplitTest: median(fitNoSplit) },
  fitOverNetwork: median(fit) / median(net),
  splitTestCost: median(fit) / median(fitNoSplit),
  fitMsPerLocalization: median(fit) / Math.max(found, 1),
};
process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
if (out) writeFileSync(out, `${JSON.stringify(res, null, 2)}\n`);
process.exit(0);
