/** Training/test samples for the emitter ("DAMN") task: random optics, scene, frame and truth. */
import { UserError } from '../errors.ts';
import type { Emitter } from './emitter.ts';
import type { Image } from './image.ts';
import { PSF_SHAPES, type Psf, type PsfShape } from './psf.ts';
import type { Rng } from './random.ts';
import { randomScene } from './scene.ts';
import { renderFrame, renderTruth } from './simulate.ts';

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

export function parsePsfShapes(text: string): PsfShape[] {
  const shapes = String(text)
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  if (shapes.length === 0) throw new UserError('--psf: give at least one of gauss, airy');
  for (const s of shapes) {
    if (!(PSF_SHAPES as readonly string[]).includes(s)) throw new UserError(`--psf: unknown PSF shape "${s}" (use gauss, airy)`);
  }
  return shapes as PsfShape[];
}

export function sampleLogRange(rng: Rng, r: LogRange): number {
  return r.min === r.max ? r.min : rng.logUniform(r.min, r.max);
}

export interface DamnSampleSpec {
  width: number;
  height: number;
  scale: number;
  psfShapes: PsfShape[];
  /** σ in camera px; the reference spans 10^-0.25..10^1.25 */
  psfWidth: LogRange;
  photons: LogRange;
  background: LogRange;
  /** emitters per 50×50 px */
  density: LogRange;
}

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
  photons: number;
  background: number;
  density: number;
  emitterCount: number;
}

export interface DamnSample {
  params: DamnSampleParams;
  emitters: Emitter[];
  /** noisy camera frame, photon counts incl. background */
  frame: Image;
  /** photons per fine pixel, (H·scale) × (W·scale) */
  truth: Image;
}

export function drawDamnSample(rng: Rng, spec: DamnSampleSpec): DamnSample {
  const shape = spec.psfShapes[rng.int(spec.psfShapes.length)];
  const psf: Psf = { shape, width: sampleLogRange(rng, spec.psfWidth) };
  const photons = sampleLogRange(rng, spec.photons);
  const background = sampleLogRange(rng, spec.background);
  const density = sampleLogRange(rng, spec.density);
  const emitters = randomScene(rng, {
    width: spec.width,
    height: spec.height,
    density,
    photons,
  });
  const frame = renderFrame(emitters, psf, spec.width, spec.height, background, rng);
  const truth = renderTruth(emitters, spec.width, spec.height, spec.scale);
  return {
    params: {
      psf,
      photons,
      background,
      density,
      emitterCount: emitters.length,
    },
    emitters,
    frame,
    truth,
  };
}
