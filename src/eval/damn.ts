import type { MapEngine } from '../inference/types.ts';
import type { Emitter } from '../optics/emitter.ts';
import { type Image, normaliseUnitSum } from '../optics/image.ts';
import { binToCamera, mae, matchEmitters, upsampleUnitSum } from '../optics/metrics.ts';
import { Rng } from '../optics/random.ts';
import { RichardsonLucy } from '../optics/richardson-lucy.ts';
import { randomScene } from '../optics/scene.ts';
import { renderFrame, renderTruth } from '../optics/simulate.ts';
import { postprocess } from '../pipeline/postprocess.ts';
import { idealFineMae, idealSubpixel } from './ceiling.ts';
import { DAMN_CONDITIONS, type EvalCondition, TEST_SEED_BASE } from './conditions.ts';

export interface EngineScore {
  /** mean |output − truth| of unit-sum maps on the model's (fine) grid */
  maeFine: number;
  /** the same after sum-binning both to the camera grid */
  maeCamera: number;
  /** emitter Jaccard, matches within 0.5 camera px */
  jaccard: number;
  /** RMSE of matched emitters, camera px */
  rmse: number;
  /** mean seconds per frame */
  secondsPerFrame: number;
}

/**
 * What an ideal localizer could reach on the condition's emitters (see ceiling.ts): context for
 * the targets. It is told the PSF, the brightness, the emitter's camera pixel and every
 * neighbour's position, so no method beats its per-emitter accuracy on these frames, up to the
 * approximations listed in ceiling.ts (finite window, frame edges).
 */
export interface OracleScore {
  /** Bayes probability of the correct fine sub-pixel for an emitter among known neighbours */
  accuracy: number;
  stderr: number;
  /** the fine-grid MAE of unit-sum maps at that accuracy */
  maeFine: number;
  trials: number;
  /** true: the neighbours-known oracle (the condition's density); false: an isolated emitter */
  neighboursKnown: boolean;
}

export interface ConditionResult {
  condition: EvalCondition;
  samples: number;
  engines: Record<string, EngineScore>;
  oracle?: OracleScore;
}

export interface EvalOptions {
  samples: number;
  size: number;
  scale: number;
  seed: number;
  /** RL samples per condition (RL is slow; a subset of the same frames) */
  rlSamples: number;
  /** Monte-Carlo trials of the neighbours-known oracle per condition; 0 skips it */
  oracleTrials: number;
  rlIterations: number;
  conditions?: readonly EvalCondition[];
  onProgress?: (msg: string) => void;
}

export const DEFAULT_EVAL: EvalOptions = {
  samples: 40,
  size: 64,
  scale: 4,
  seed: TEST_SEED_BASE,
  rlSamples: 40,
  rlIterations: 100,
  oracleTrials: 400,
};

const POST = { threshold: 0.1, minDistance: 2, maxLocalizations: 5000 };

interface Sample {
  frame: Image;
  truthFine: Image;
  emitters: Emitter[];
}

export function drawTestSample(c: EvalCondition, size: number, scale: number, seed: number): Sample {
  const rng = new Rng(seed);
  const emitters = randomScene(rng, { width: size, height: size, density: c.density, photons: c.photons });
  const frame = renderFrame(emitters, c.psf, size, size, c.background, rng);
  const truthFine = normaliseUnitSum(renderTruth(emitters, size, size, scale));
  return { frame, truthFine, emitters };
}

class Accum {
  n = 0;
  maeFine = 0;
  maeCamera = 0;
  jaccard = 0;
  rmseSum = 0;
  rmseN = 0;
  seconds = 0;
  add(out: Image, s: Sample, scale: number, seconds: number): void {
    const truthCam = binToCamera(s.truthFine, scale);
    const fine = out.width === s.truthFine.width ? out : upsampleUnitSum(out, scale);
    const cam = out.width === s.truthFine.width ? binToCamera(out, scale) : out;
    this.maeFine += mae(fine, s.truthFine);
    this.maeCamera += mae(cam, truthCam);
    const outScale = out.width / s.frame.width;
    const locs = postprocess(out, outScale, s.frame, POST);
    const m = matchEmitters(s.emitters, locs, 0.5);
    this.jaccard += m.jaccard;
    if (m.tp > 0) {
      this.rmseSum += m.rmse;
      this.rmseN++;
    }
    this.seconds += seconds;
    this.n++;
  }
  score(): EngineScore {
    const n = Math.max(this.n, 1);
    return {
      maeFine: this.maeFine / n,
      maeCamera: this.maeCamera / n,
      jaccard: this.jaccard / n,
      rmse: this.rmseN ? this.rmseSum / this.rmseN : Number.NaN,
      secondsPerFrame: this.seconds / n,
    };
  }
}

/**
 * Accuracy of each engine on fresh seeded test frames per condition. Richardson–Lucy gets the
 * exact PSF of each condition (its best case); "raw" is the min-subtracted unit-sum camera frame,
 * spread evenly over each camera pixel's fine sub-pixels.
 */
export async function evaluateDamn(models: MapEngine[], o: EvalOptions): Promise<ConditionResult[]> {
  const results: ConditionResult[] = [];
  const conditions = o.conditions ?? DAMN_CONDITIONS;
  for (let ci = 0; ci < conditions.length; ci++) {
    const c = conditions[ci];
    const acc: Record<string, Accum> = { raw: new Accum(), rl: new Accum() };
    for (const m of models) acc[m.id] = new Accum();
    const rl = new RichardsonLucy(c.psf, { scale: o.scale, iterations: o.rlIterations, tolerance: 0 });
    for (let i = 0; i < o.samples; i++) {
      const s = drawTestSample(c, o.size, o.scale, o.seed + ci * 100_000 + i);
      acc.raw.add(normaliseUnitSum(s.frame), s, o.scale, 0);
      for (const m of models) {
        const t = performance.now();
        const out = await m.reconstruct(s.frame);
        acc[m.id].add(out, s, o.scale, (performance.now() - t) / 1000);
      }
      if (i < o.rlSamples) {
        const t = performance.now();
        const out = await rl.reconstruct(s.frame);
        acc.rl.add(out, s, o.scale, (performance.now() - t) / 1000);
      }
    }
    const engines: Record<string, EngineScore> = {};
    for (const [k, a] of Object.entries(acc)) engines[k] = a.score();
    let oracle: OracleScore | undefined;
    if (o.oracleTrials > 0) {
      const r = idealSubpixel(c, { trials: o.oracleTrials, seed: o.seed + ci, scale: o.scale, neighbours: true });
      oracle = {
        accuracy: r.accuracy,
        stderr: r.stderr,
        trials: r.trials,
        maeFine: idealFineMae(r.accuracy, o.size * o.scale, o.size * o.scale),
        neighboursKnown: r.neighboursKnown,
      };
    }
    results.push({ condition: c, samples: o.samples, engines, ...(oracle ? { oracle } : {}) });
    o.onProgress?.(`${c.name}: done`);
  }
  return results;
}
