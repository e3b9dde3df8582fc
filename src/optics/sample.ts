/** Training/test samples for the emitter ("DAMN") task: random optics, scene, frame and truth. */
import { UserError } from '../errors.ts';
import { type BackgroundStructure, FLAT_BACKGROUND } from './background.ts';
import type { BrightnessModel } from './brightness.ts';
import { type CameraPreset, cameraMaps, cameraPreset } from './camera.ts';
import type { Emitter } from './emitter.ts';
import type { Image } from './image.ts';
import type { Psf } from './psf.ts';
import { MAX_ZERNIKE_WAVES, ZERNIKE_TERMS, type Zernike } from './pupil.ts';
import type { Rng } from './random.ts';
import { randomScene } from './scene.ts';
import { renderCameraFrame, renderFrame, renderTruth } from './simulate.ts';

/** PSF families a sample can draw: the two analytic ones and the aberrated pupil ('pupil'). */
export const SAMPLE_PSF_SHAPES = ['gauss', 'airy', 'pupil'] as const;
export type SamplePsfShape = (typeof SAMPLE_PSF_SHAPES)[number];

/** A positive interval sampled log-uniformly; min === max means a fixed value. */
export interface LogRange {
  min: number;
  max: number;
}

/** "a:b" → log-uniform range, "a" → fixed. Both ends must be > 0 (or ≥ 0 when allowZero). */
export function parseLogRange(text: string, name: string, allowZero = false): LogRange {
  const parts = String(text).trim().split(':');
  if (parts.length < 1 || parts.length > 2) throw new UserError(`--${name}: expected "a" or "a:b", got "${text}"`);
  const nums = parts.map((p) => Number(p));
  for (const v of nums) {
    if (!Number.isFinite(v) || (allowZero ? v < 0 : v <= 0)) {
      throw new UserError(`--${name}: "${text}" must be ${allowZero ? 'non-negative' : 'positive'} number(s)`);
    }
  }
  const min = nums[0];
  const max = nums.length === 2 ? nums[1] : nums[0];
  if (max < min) throw new UserError(`--${name}: range "${text}" has max < min`);
  if (min === 0 && max > 0) throw new UserError(`--${name}: a log-uniform range cannot start at 0 ("${text}")`);
  return { min, max };
}

export function parsePsfShapes(text: string): SamplePsfShape[] {
  const shapes = String(text)
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  if (shapes.length === 0) throw new UserError('--psf: give at least one of gauss, airy, pupil');
  for (const s of shapes) {
    if (!(SAMPLE_PSF_SHAPES as readonly string[]).includes(s)) {
      throw new UserError(`--psf: unknown PSF shape "${s}" (use gauss, airy, pupil)`);
    }
  }
  return shapes as SamplePsfShape[];
}

/** A uniform interval [min, max] (min === max: fixed). */
export interface LinearRange {
  min: number;
  max: number;
}

/**
 * A Zernike aberration of total RMS `rms` waves, spread over the six terms along a uniformly random
 * direction (each term then clipped to the pupil model's ±0.5 waves).
 */
export function randomAberration(rng: Rng, rms: number): Zernike {
  const v = ZERNIKE_TERMS.map(() => rng.normal());
  const norm = Math.hypot(...v) || 1;
  const z: Zernike = {};
  ZERNIKE_TERMS.forEach((k, i) => {
    z[k] = Math.max(-MAX_ZERNIKE_WAVES, Math.min(MAX_ZERNIKE_WAVES, (rms * v[i]) / norm));
  });
  return z;
}

export function sampleLogRange(rng: Rng, r: LogRange): number {
  return r.min === r.max ? r.min : rng.logUniform(r.min, r.max);
}

export interface DamnSampleSpec {
  width: number;
  height: number;
  scale: number;
  psfShapes: SamplePsfShape[];
  /** σ in camera px; the reference spans 10^-0.25..10^1.25 */
  psfWidth: LogRange;
  photons: LogRange;
  background: LogRange;
  /** emitters per 50×50 px */
  density: LogRange;
  // Realism (all optional; absent = the original simulator, with the same seeded output). Each
  // list is drawn from uniformly per sample; a single entry draws nothing from the Rng.
  /** per-emitter brightness models (default ['equal']) */
  brightness?: BrightnessModel[];
  /** camera presets (default ['ideal']: photon counts); others give ADU frames */
  cameras?: CameraPreset[];
  /** background structures (default flat) */
  backgroundStructure?: BackgroundStructure[];
  /**
   * gauss samples: axis ratio σ1/σ2 ≥ 1, log-uniform (default none: circular); σ1·σ2 = σ², the
   * major axis at a uniform angle
   */
  ellipticity?: LogRange;
  /** pupil samples: total RMS wavefront error in waves, uniform (default 0.05:0.3) */
  aberration?: LinearRange;
}

export const DEFAULT_ABERRATION: LinearRange = { min: 0.05, max: 0.3 };

/** Defaults = the published training ranges. */
export const DEFAULT_DAMN_SPEC: DamnSampleSpec = {
  width: 64,
  height: 64,
  scale: 4,
  psfShapes: ['gauss', 'airy'],
  psfWidth: { min: 10 ** -0.25, max: 10 ** 1.25 },
  photons: { min: 1, max: 1e5 },
  background: { min: 1, max: 100 },
  density: { min: 5, max: 500 },
};

export interface DamnSampleParams {
  psf: Psf;
  /** the brightness scale P (equal: every emitter's photons) */
  photons: number;
  background: number;
  density: number;
  emitterCount: number;
  brightness: BrightnessModel;
  camera: CameraPreset;
  /** index into spec.backgroundStructure (0 = flat when none given) */
  structure: BackgroundStructure;
}

export interface DamnSample {
  params: DamnSampleParams;
  emitters: Emitter[];
  /** noisy camera frame incl. background: photon counts (ideal camera) or ADU */
  frame: Image;
  /** photons per fine pixel, (H·scale) × (W·scale) */
  truth: Image;
}

function pick<T>(rng: Rng, list: readonly T[] | undefined, fallback: T): T {
  if (!list || list.length === 0) return fallback;
  return list.length === 1 ? list[0] : list[rng.int(list.length)];
}

export function drawDamnSample(rng: Rng, spec: DamnSampleSpec): DamnSample {
  const family = spec.psfShapes[rng.int(spec.psfShapes.length)];
  const width = sampleLogRange(rng, spec.psfWidth);
  const photons = sampleLogRange(rng, spec.photons);
  const background = sampleLogRange(rng, spec.background);
  const density = sampleLogRange(rng, spec.density);
  // realism draws come after the original ones and only when asked for, so the defaults keep
  // every seeded sample of the original simulator
  const brightness = pick(rng, spec.brightness, 'equal' as BrightnessModel);
  const camera = pick(rng, spec.cameras, 'ideal' as CameraPreset);
  const structure = pick(rng, spec.backgroundStructure, FLAT_BACKGROUND);
  let psf: Psf;
  if (family === 'pupil') {
    const a = spec.aberration ?? DEFAULT_ABERRATION;
    psf = { shape: 'airy', width, aberration: randomAberration(rng, a.min === a.max ? a.min : rng.range(a.min, a.max)) };
  } else if (family === 'gauss' && spec.ellipticity) {
    const ratio = sampleLogRange(rng, spec.ellipticity);
    psf = { shape: 'gauss', width: width * Math.sqrt(ratio), widthY: width / Math.sqrt(ratio), angle: rng.range(0, Math.PI) };
  } else psf = { shape: family, width };
  const mapSeed = camera === 'ideal' ? 0 : rng.nextU32();
  const emitters = randomScene(rng, {
    width: spec.width,
    height: spec.height,
    density,
    photons,
    brightness,
  });
  let frame: Image;
  if (camera === 'ideal' && structure === FLAT_BACKGROUND) frame = renderFrame(emitters, psf, spec.width, spec.height, background, rng);
  else {
    // a fresh fixed pattern (hot pixels, sCMOS noise map) per sample: the network must not learn one sensor's
    const cam = { ...cameraPreset(camera), mapSeed };
    frame = renderCameraFrame(
      emitters,
      psf,
      spec.width,
      spec.height,
      { background, structure, camera: cam, maps: cameraMaps(cam, spec.width, spec.height) },
      rng,
    );
  }
  const truth = renderTruth(emitters, spec.width, spec.height, spec.scale);
  return {
    params: {
      psf,
      photons,
      background,
      density,
      emitterCount: emitters.length,
      brightness,
      camera,
      structure,
    },
    emitters,
    frame,
    truth,
  };
}
