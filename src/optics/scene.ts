/** Random emitter scenes: where the point sources are and how bright. */
import type { Emitter } from './emitter.ts';
import type { Rng } from './random.ts';

/** Densities are quoted per 50×50 camera pixels (the reference paper's frame size). */
export const DENSITY_AREA = 2500;

export interface SceneOptions {
  width: number;
  height: number;
  /** emitters per 50×50 camera px; scaled by the frame's area */
  density: number;
  /** photons per emitter */
  photons: number;
  /** true: the count is Poisson(mean); false: round(mean) */
  poissonCount?: boolean;
  /** exact number of emitters, overrides density */
  count?: number;
}

export function meanEmitterCount(density: number, width: number, height: number): number {
  return (density * width * height) / DENSITY_AREA;
}

/** Emitters uniformly placed over [0, width) × [0, height) camera px, all with `photons`. */
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
  return out;
}
