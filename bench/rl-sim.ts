/**
 * Micro-benchmark of the two CPU hot spots of the optics code: Richardson–Lucy onto the 4× grid
 * and the frame simulator.
 *
 *   npx tsx bench/rl-sim.ts [--reps 3] [--samples 60] [--only rl|sim] [--baseline DIR]
 *
 * --baseline points at a copy of an older src/optics (e.g. a snapshot taken before a change, with
 * ../errors.ts beside it): the same workload is then timed on both and the outputs compared, so a
 * speed-up can be checked not to have moved the numbers. Timings on a loaded machine are noisy —
 * the best of --reps is reported.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Emitter } from '../src/optics/emitter.ts';
import type { Image } from '../src/optics/image.ts';
import type { Psf } from '../src/optics/psf.ts';
import * as randomNow from '../src/optics/random.ts';
import * as rlNow from '../src/optics/richardson-lucy.ts';
import * as sampleNow from '../src/optics/sample.ts';
import * as sceneNow from '../src/optics/scene.ts';
import * as simNow from '../src/optics/simulate.ts';

interface Impl {
  name: string;
  rl: typeof rlNow;
  sim: typeof simNow;
  sample: typeof sampleNow;
}

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    samples: { type: 'string', default: '60' },
    only: { type: 'string' },
    baseline: { type: 'string' },
  },
});
const reps = Math.max(1, Number(args.reps));
const nSamples = Math.max(1, Number(args.samples));

async function loadBaseline(dir: string): Promise<Impl> {
  const url = (f: string): string => pathToFileURL(resolve(dir, f)).href;
  return {
    name: 'baseline',
    rl: (await import(url('richardson-lucy.ts'))) as typeof rlNow,
    sim: (await import(url('simulate.ts'))) as typeof simNow,
    sample: (await import(url('sample.ts'))) as typeof sampleNow,
  };
}

function bestOf(fn: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** max |a-b| / max|b| and Σ|a-b| / Σ|b| */
function diff(a: ArrayLike<number>, b: ArrayLike<number>): { maxRel: number; l1: number } {
  let peak = 0;
  let d = 0;
  let s = 0;
  let dmax = 0;
  for (let i = 0; i < b.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    peak = Math.max(peak, Math.abs(b[i]));
    dmax = Math.max(dmax, e);
    d += e;
    s += Math.abs(b[i]);
  }
  return { maxRel: dmax / (peak || 1), l1: d / (s || 1) };
}

/** per-pixel relative difference over pixels holding ≥ 1e-3 of the peak */
function pixelRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let peak = 0;
  for (let i = 0; i < b.length; i++) peak = Math.max(peak, b[i]);
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] < 1e-3 * peak) continue;
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / b[i]);
  }
  return worst;
}

function sceneFor(seed: number, density: number): Emitter[] {
  return sceneNow.randomScene(new randomNow.Rng(seed), { width: 64, height: 64, density, photons: 2000 });
}

function fmt(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}

const RL_CASES: Psf[] = [
  { shape: 'gauss', width: 1 },
  { shape: 'gauss', width: 2 },
  { shape: 'gauss', width: 6 },
  { shape: 'airy', width: 1 },
  { shape: 'airy', width: 2 },
  { shape: 'airy', width: 4 },
];

function benchRl(impls: Impl[]): void {
  console.log('\nRichardson–Lucy, 64×64 → 256×256, 50 iterations, tolerance 0 (fixed work), best of', reps);
  for (const psf of RL_CASES) {
    const frame: Image = simNow.renderFrame(sceneFor(7, 60), psf, 64, 64, 20, new randomNow.Rng(3));
    const outs: Float32Array[] = [];
    const cols: string[] = [];
    const times: number[] = [];
    for (const impl of impls) {
      const rl = new impl.rl.RichardsonLucy(psf, { iterations: 50, tolerance: 0 });
      const t0 = performance.now();
      rl.run(frame); // first call builds the plan
      const first = performance.now() - t0;
      let out: Float32Array = new Float32Array(0);
      const ms = bestOf(() => {
        out = rl.run(frame).image.data;
      });
      outs.push(out);
      times.push(ms);
      cols.push(`${impl.name} ${fmt(ms)} (first ${fmt(first)})`);
    }
    let cmp = '';
    if (outs.length === 2) {
      const d = diff(outs[0], outs[1]);
      cmp = `  speed-up ×${(times[1] / times[0]).toFixed(1)}  max|Δ|/peak ${d.maxRel.toExponential(1)}  L1 ${d.l1.toExponential(1)}`;
    }
    console.log(`  ${psf.shape}:${psf.width}`.padEnd(12), cols.join('  |  '), cmp);
  }
}

const SIM_CASES: Array<{ psf: Psf; density: number }> = [
  { psf: { shape: 'gauss', width: 1 }, density: 200 },
  { psf: { shape: 'gauss', width: 6 }, density: 200 },
  { psf: { shape: 'airy', width: 0.7 }, density: 200 },
  { psf: { shape: 'airy', width: 2 }, density: 200 },
  { psf: { shape: 'airy', width: 4 }, density: 200 },
  { psf: { shape: 'airy', width: 6 }, density: 200 },
];

function benchSim(impls: Impl[]): void {
  console.log('\nSimulator: renderExpected on 64×64, density 200 per 50×50 (≈330 emitters), best of', reps);
  for (const { psf, density } of SIM_CASES) {
    const emitters = sceneFor(11, density);
    const outs: Float64Array[] = [];
    const cols: string[] = [];
    const times: number[] = [];
    for (const impl of impls) {
      let out: Float64Array = new Float64Array(0);
      const ms = bestOf(() => {
        out = impl.sim.renderExpected(emitters, psf, 64, 64);
      });
      outs.push(out);
      times.push(ms);
      cols.push(`${impl.name} ${fmt(ms)}`);
    }
    let cmp = '';
    if (outs.length === 2) {
      const d = diff(outs[0], outs[1]);
      cmp = `  speed-up ×${(times[1] / times[0]).toFixed(1)}  max|Δ|/peak ${d.maxRel.toExponential(1)}  worst pixel rel ${pixelRel(outs[0], outs[1]).toExponential(1)}  L1 ${d.l1.toExponential(1)}`;
    }
    console.log(`  ${psf.shape}:${psf.width}`.padEnd(12), cols.join('  |  '), cmp);
  }
  console.log(`\nSimulator: drawDamnSample, default training ranges, ${nSamples} samples, seed 1`);
  for (const impl of impls) {
    const rng = new randomNow.Rng(1);
    const t0 = performance.now();
    for (let i = 0; i < nSamples; i++) impl.sample.drawDamnSample(rng, impl.sample.DEFAULT_DAMN_SPEC);
    const s = (performance.now() - t0) / 1000;
    console.log(`  ${impl.name}: ${(nSamples / s).toFixed(1)} samples/s`);
  }
}

const impls: Impl[] = [{ name: 'current', rl: rlNow, sim: simNow, sample: sampleNow }];
if (args.baseline) impls.push(await loadBaseline(args.baseline));
if (args.only !== 'sim') benchRl(impls);
if (args.only !== 'rl') benchSim(impls);
