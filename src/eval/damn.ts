import { PEAK_DEFAULTS } from '../inference/peaks.ts';
import type { MapEngine } from '../inference/types.ts';
import { BACKGROUND_PRESETS } from '../optics/background.ts';
import { aduToElectrons, type CameraModel, cameraMaps, cameraPreset, isIdealCamera } from '../optics/camera.ts';
import type { Emitter, Localization } from '../optics/emitter.ts';
import { type Image, makeImage, normaliseUnitSum } from '../optics/image.ts';
import { binToCamera, mae, matchEmitters, upsampleUnitSum } from '../optics/metrics.ts';
import type { Photometry } from '../optics/ood.ts';
import { isCircularGauss, type Psf } from '../optics/psf.ts';
import { Rng } from '../optics/random.ts';
import { RichardsonLucy } from '../optics/richardson-lucy.ts';
import { randomScene } from '../optics/scene.ts';
import { renderCameraFrame, renderTruth } from '../optics/simulate.ts';
import { fitLocalizations, postprocess } from '../pipeline/postprocess.ts';
import { idealFineMae, idealSubpixel } from './ceiling.ts';
import { DAMN_CONDITIONS, type EvalCondition, TEST_SEED_BASE } from './conditions.ts';
import { crlbForCamera, mortensenVariance } from './crlb.ts';

export interface EngineScore {
  /** mean |output − truth| of unit-sum maps on the model's (fine) grid */
  maeFine: number;
  /** the same after sum-binning both to the camera grid */
  maeCamera: number;
  /** emitter Jaccard, matches within 0.5 camera px */
  jaccard: number;
  /** RMSE of matched emitters, camera px */
  rmse: number;
  /**
   * Isolated emitters (no other true emitter within 3·w + 2 px, Gaussian PSFs only): matched
   * count, their lateral RMSE (px), the lateral CRLB over the same emitters √(mean 2·Var) (px),
   * and the efficiency √(mean d²/(2·Var)) — RMSE/CRLB emitter by emitter (1 = at the bound).
   * NaN where there is no Gaussian bound (Airy, aberrated) or no isolated match.
   */
  isolatedMatched: number;
  isolatedRmse: number;
  crlb: number;
  rmseOverCrlb: number;
  /**
   * With the frame fit (`fit: gauss`): the isolated emitters' RMSE/CRLB from the map's centroids
   * alone (matched on their own; what the fit improved on), and the calibration of the reported σ: the
   * standard deviation of error/σ over both axes (1 = calibrated). NaN without the fit.
   */
  rmseOverCrlbMap?: number;
  zStd?: number;
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
  /** localisations from the map alone, or refined by the frame fit as the daemon does (default gauss) */
  fit?: 'gauss' | 'none';
  conditions?: readonly EvalCondition[];
  /**
   * Richardson–Lucy and oracle scores per condition name from an earlier run on the same seeds,
   * samples and trials (they do not depend on the models): reused instead of recomputed, which
   * is most of an evaluation's time (RL ~6 s per 64×64 frame).
   */
  baselines?: ReadonlyMap<string, Pick<ConditionResult, 'engines' | 'oracle'>>;
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

/**
 * How the eval (and the benches that score like it) picks localisations from a map: the daemon's
 * peak threshold and spacing, and no cap, so that every emitter is scored (a 512 × 512 default
 * frame holds ~5 200)
 */
export const EVAL_POSTPROCESS = { ...PEAK_DEFAULTS, maxLocalizations: 1_000_000 };

/** What a calibrated daemon would be configured with for this camera (`camera.photometry`). */
function photometryOf(camera: CameraModel | null): Photometry | undefined {
  if (!camera || isIdealCamera(camera)) return undefined;
  return { offset: camera.offset, gain: camera.gain, emGain: camera.emGain, readNoise: camera.readNoise };
}

export interface TestSample {
  /** what the camera delivers: photon counts (ideal camera) or ADU */
  frame: Image;
  /** photo-electrons for photon-counting methods (RL): the frame calibrated with the photometry */
  electrons: Image;
  truthFine: Image;
  emitters: Emitter[];
  /** this frame's PSF (the condition's, or drawn for isolated scenes) */
  psf: Psf;
  /** per-emitter lateral CRLB variance (2·Var, px²) where isolated and Gaussian, else NaN */
  crlbVar: Float64Array;
  /** the camera's photometry (undefined: photon counts) */
  photometry?: Photometry;
  /**
   * sCMOS: the sensor's read noise per pixel in ADU rms, as `calibrate dark --read-noise` measures
   * it (here the simulated camera's own map, so without that stack's sampling error)
   */
  readNoise?: Float32Array;
}

/** A camera at one frame size: its fixed patterns and the read-noise map a calibrated daemon has, made once. */
interface EvalCamera {
  camera: CameraModel;
  maps: ReturnType<typeof cameraMaps>;
  readNoise: Float32Array | undefined;
}

const cameraCache = new Map<string, EvalCamera>();

function cameraFor(c: EvalCondition, size: number): EvalCamera | null {
  if (!c.camera || c.camera === 'ideal') return null;
  const key = `${c.camera}:${size}`;
  let v = cameraCache.get(key);
  if (!v) {
    const camera = cameraPreset(c.camera);
    const maps = cameraMaps(camera, size, size);
    v = { camera, maps, readNoise: readNoiseAdu(camera, maps) };
    cameraCache.set(key, v);
  }
  return v;
}

/** isolated scenes: a jittered grid, photons log-uniform, one PSF width per frame */
function isolatedScene(rng: Rng, c: EvalCondition, size: number): { emitters: Emitter[]; psf: Psf } {
  const iso = c.isolated as NonNullable<EvalCondition['isolated']>;
  const psf: Psf = { ...c.psf, width: rng.range(iso.psfWidth[0], iso.psfWidth[1]) };
  const n = Math.floor(size / iso.spacing);
  const jitter = iso.spacing / 4;
  const emitters: Emitter[] = [];
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      emitters.push({
        x: (i + 0.5) * iso.spacing + rng.range(-jitter, jitter),
        y: (j + 0.5) * iso.spacing + rng.range(-jitter, jitter),
        photons: rng.logUniform(iso.photons[0], iso.photons[1]),
      });
    }
  }
  return { emitters, psf };
}

/** 2·Var (lateral) for every emitter with no other within 3·w + 2 px; NaN otherwise */
function isolatedCrlb(emitters: Emitter[], psf: Psf, c: EvalCondition, camera: CameraModel | null, size: number): Float64Array {
  const out = new Float64Array(emitters.length).fill(Number.NaN);
  if (!isCircularGauss(psf)) return out;
  const r = 3 * psf.width + 2;
  for (let i = 0; i < emitters.length; i++) {
    const e = emitters[i];
    if (e.x < r || e.y < r || e.x > size - r || e.y > size - r) continue;
    let alone = true;
    for (let j = 0; j < emitters.length && alone; j++) {
      if (j !== i && (emitters[j].x - e.x) ** 2 + (emitters[j].y - e.y) ** 2 < r * r) alone = false;
    }
    if (!alone) continue;
    out[i] = 2 * mortensenVariance(crlbForCamera(e.photons, c.background, psf.width, camera ?? undefined));
  }
  return out;
}

export function drawTestSample(c: EvalCondition, size: number, scale: number, seed: number): TestSample {
  const rng = new Rng(seed);
  let emitters: Emitter[];
  let psf = c.psf;
  if (c.isolated) ({ emitters, psf } = isolatedScene(rng, c, size));
  else emitters = randomScene(rng, { width: size, height: size, density: c.density, photons: c.photons, brightness: c.brightness });
  const cam = cameraFor(c, size);
  const structure = BACKGROUND_PRESETS[c.structure ?? 'none'];
  // the default condition's frames are renderFrame()'s, bit for bit (renderCameraFrame delegates)
  const frame = renderCameraFrame(
    emitters,
    psf,
    size,
    size,
    { background: c.background, structure, camera: cam?.camera, maps: cam?.maps },
    rng,
  );
  // a calibrated daemon subtracts a dark frame (pipeline.preprocess.dark): the hot pixels' mean
  // dark signal goes, their shot noise stays (it is in the read-noise map below); the offset is
  // left for the photometry to remove, which is the same
  const hot = cam?.maps.hotDense;
  // (hot electrons pass the EM register like photo-electrons: emGain of them per electron)
  if (cam && hot) for (let i = 0; i < frame.data.length; i++) frame.data[i] -= (hot[i] * cam.camera.emGain) / cam.camera.gain;
  let electrons = frame;
  if (cam && !isIdealCamera(cam.camera)) {
    const e = aduToElectrons(frame.data, cam.camera);
    for (let i = 0; i < e.length; i++) if (e[i] < 0) e[i] = 0;
    electrons = makeImage(size, size, e);
  }
  const truthFine = normaliseUnitSum(renderTruth(emitters, size, size, scale));
  return {
    frame,
    electrons,
    truthFine,
    emitters,
    psf,
    crlbVar: isolatedCrlb(emitters, psf, c, cam?.camera ?? null, size),
    photometry: photometryOf(cam?.camera ?? null),
    readNoise: cam?.readNoise,
  };
}

/**
 * The read-noise map a calibrated daemon has (`calibrate dark --read-noise`, ADU rms): each
 * pixel's standard deviation over dark frames, read noise and a hot pixel's dark shot noise
 * together; the camera's own, not a finite stack's estimate of it. None for a sensor with
 * neither (a uniform read noise is the photometry's).
 */
function readNoiseAdu(c: CameraModel, maps: ReturnType<typeof cameraMaps>): Float32Array | undefined {
  if (isIdealCamera(c)) return undefined;
  const { readNoise: read, hotDense: hot, width, height } = maps;
  if (!read && !hot) return undefined;
  // read noise and dark electrons are added at the sensor, then converted at gain e⁻/ADU
  // (behind an EM register the dark electrons are multiplied too, with the excess factor 2)
  const excess = c.emGain > 1 ? 2 : 1;
  return Float32Array.from({ length: width * height }, (_, i) => {
    const r = read ? read[i] : c.readNoise;
    const dark = hot ? excess * hot[i] * c.emGain * c.emGain : 0;
    return Math.sqrt(r * r + dark) / c.gain;
  });
}

class Accum {
  n = 0;
  maeFine = 0;
  maeCamera = 0;
  jaccard = 0;
  rmseSum = 0;
  rmseN = 0;
  seconds = 0;
  isoN = 0;
  isoD2 = 0;
  isoVar = 0;
  isoRatio2 = 0;
  isoRatio2Map = 0;
  isoMapN = 0;
  zN = 0;
  z2 = 0;
  constructor(private readonly fit: 'gauss' | 'none' = 'none') {}
  add(out: Image, s: TestSample, scale: number, seconds: number): void {
    const truthCam = binToCamera(s.truthFine, scale);
    const fine = out.width === s.truthFine.width ? out : upsampleUnitSum(out, scale);
    const cam = out.width === s.truthFine.width ? binToCamera(out, scale) : out;
    this.maeFine += mae(fine, s.truthFine);
    this.maeCamera += mae(cam, truthCam);
    const outScale = out.width / s.frame.width;
    const mapLocs = postprocess(out, outScale, s.frame, EVAL_POSTPROCESS, s.photometry);
    const fitted =
      this.fit === 'gauss' ? fitLocalizations(s.frame, mapLocs, s.photometry, EVAL_POSTPROCESS.maxLocalizations, s.readNoise) : null;
    const locs: Localization[] = fitted ?? mapLocs;
    const m = matchEmitters(s.emitters, locs, 0.5);
    this.jaccard += m.jaccard;
    if (m.tp > 0) {
      this.rmseSum += m.rmse;
      this.rmseN++;
    }
    for (const [ti, fi] of m.pairs) {
      const v = s.crlbVar[ti];
      if (!(v > 0)) continue;
      const t = s.emitters[ti];
      const d2 = (t.x - locs[fi].x) ** 2 + (t.y - locs[fi].y) ** 2;
      this.isoN++;
      this.isoD2 += d2;
      this.isoVar += v;
      this.isoRatio2 += d2 / v;
      if (fitted) {
        const f = fitted[fi];
        if (f.sigmaX > 0 && f.sigmaY > 0) {
          this.z2 += ((f.x - t.x) / f.sigmaX) ** 2 + ((f.y - t.y) / f.sigmaY) ** 2;
          this.zN += 2;
        }
      }
    }
    if (fitted) {
      // before the fit: the map's centroids, matched on their own (the fit drops an emitter found twice)
      for (const [ti, fi] of matchEmitters(s.emitters, mapLocs, 0.5).pairs) {
        const v = s.crlbVar[ti];
        if (!(v > 0)) continue;
        const t = s.emitters[ti];
        this.isoMapN++;
        this.isoRatio2Map += ((t.x - mapLocs[fi].x) ** 2 + (t.y - mapLocs[fi].y) ** 2) / v;
      }
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
      isolatedMatched: this.isoN,
      isolatedRmse: this.isoN ? Math.sqrt(this.isoD2 / this.isoN) : Number.NaN,
      crlb: this.isoN ? Math.sqrt(this.isoVar / this.isoN) : Number.NaN,
      rmseOverCrlb: this.isoN ? Math.sqrt(this.isoRatio2 / this.isoN) : Number.NaN,
      ...(this.fit === 'gauss'
        ? {
            rmseOverCrlbMap: this.isoMapN ? Math.sqrt(this.isoRatio2Map / this.isoMapN) : Number.NaN,
            zStd: this.zN ? Math.sqrt(this.z2 / this.zN) : Number.NaN,
          }
        : {}),
      secondsPerFrame: this.seconds / n,
    };
  }
}

/**
 * Accuracy of each engine on fresh seeded test frames per condition. Richardson–Lucy gets the
 * exact PSF of each frame and, on camera conditions, the frame calibrated to photo-electrons
 * (offset, gain, EM gain known: its best case); the networks get the frame as the camera
 * delivers it (ADU included — their input normalisation subtracts the minimum, which takes the
 * offset away, and scales to unit sum, which takes the gain away); "raw" is the min-subtracted
 * unit-sum camera frame, spread evenly over each camera pixel's fine sub-pixels.
 */
export async function evaluateDamn(models: MapEngine[], o: EvalOptions): Promise<ConditionResult[]> {
  const results: ConditionResult[] = [];
  const conditions = o.conditions ?? DAMN_CONDITIONS;
  for (let ci = 0; ci < conditions.length; ci++) {
    const c = conditions[ci];
    const fit = o.fit ?? 'gauss';
    const acc: Record<string, Accum> = { raw: new Accum(), rl: new Accum(fit) };
    for (const m of models) acc[m.id] = new Accum(fit);
    const rlOpts = { scale: o.scale, iterations: o.rlIterations, tolerance: 0 };
    const fixedRl = c.isolated ? null : new RichardsonLucy(c.psf, rlOpts);
    const block = c.seedIndex ?? ci;
    const reused = o.baselines?.get(c.name);
    for (let i = 0; i < o.samples; i++) {
      const s = drawTestSample(c, o.size, o.scale, o.seed + block * 100_000 + i);
      acc.raw.add(normaliseUnitSum(s.frame), s, o.scale, 0);
      for (const m of models) {
        const t = performance.now();
        const out = await m.reconstruct(s.frame);
        acc[m.id].add(out, s, o.scale, (performance.now() - t) / 1000);
      }
      if (i < o.rlSamples && !reused) {
        const rl = fixedRl ?? new RichardsonLucy(s.psf, rlOpts);
        const t = performance.now();
        const out = await rl.reconstruct(s.electrons);
        acc.rl.add(out, s, o.scale, (performance.now() - t) / 1000);
      }
    }
    const engines: Record<string, EngineScore> = {};
    for (const [k, a] of Object.entries(acc)) engines[k] = a.score();
    if (reused) engines.rl = reused.engines.rl;
    let oracle: OracleScore | undefined = reused?.oracle;
    // isolated scenes have a per-frame PSF and photons: the CRLB is their reference instead
    if (!reused && o.oracleTrials > 0 && !c.isolated) {
      const r = idealSubpixel(c, { trials: o.oracleTrials, seed: o.seed + block, scale: o.scale, neighbours: true });
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
