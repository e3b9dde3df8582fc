/** Random emitter scenes: where the point sources are and how bright. */
import { type BrightnessModel, drawBrightness } from './brightness.ts';
import type { Emitter } from './emitter.ts';
import type { Rng } from './random.ts';

/** Densities are quoted per 50×50 camera pixels (the reference paper's frame size). */
export const DENSITY_AREA = 2500;

export interface SceneOptions {
  width: number;
  height: number;
  /** emitters per 50×50 camera px; scaled by the frame's area */
  density: number;
  /** photons per emitter (the scale P of `brightness`) */
  photons: number;
  /** how emitters' brightness varies within the frame (default 'equal': every one `photons`) */
  brightness?: BrightnessModel;
  /** true: the count is Poisson(mean); false: round(mean) */
  poissonCount?: boolean;
  /** exact number of emitters, overrides density */
  count?: number;
}

export function meanEmitterCount(density: number, width: number, height: number): number {
  return (density * width * height) / DENSITY_AREA;
}

/**
 * Emitters uniformly placed over [0, width) × [0, height) camera px. Brightnesses are drawn after
 * all positions, so a seed gives the same positions under every brightness model (paired
 * comparisons), and 'equal' draws nothing more (the original seeded scenes, bit for bit).
 */
export function randomScene(rng: Rng, opts: SceneOptions): Emitter[] {
  const mean = meanEmitterCount(opts.density, opts.width, opts.height);
  const n = opts.count ?? (opts.poissonCount === false ? Math.round(mean) : rng.poisson(mean));
  const out: Emitter[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      x: rng.uniform() * opts.width,
      y: rng.uniform() * opts.height,
      photons: opts.photons,
    };
  }
  const model = opts.brightness ?? 'equal';
  if (model !== 'equal') for (const e of out) e.photons = drawBrightness(rng, model, opts.photons);
  return out;
}
