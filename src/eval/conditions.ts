import type { Psf } from '../optics/psf.ts';

/** One imaging condition of the accuracy table (issue #3 / README). Densities per 50×50 px. */
export interface EvalCondition {
  name: string;
  psf: Psf;
  density: number;
  photons: number;
  background: number;
}

const base = { psf: { shape: 'gauss', width: 2 } as Psf, density: 50, photons: 5000, background: 10 };

export const DAMN_CONDITIONS: readonly EvalCondition[] = [
  { name: 'default', ...base },
  { name: 'sparse', ...base, density: 10 },
  { name: 'dense', ...base, density: 200 },
  { name: 'narrow', ...base, psf: { shape: 'gauss', width: 1 } },
  { name: 'wide', ...base, psf: { shape: 'gauss', width: 4 } },
  { name: 'airy', ...base, psf: { shape: 'airy', width: 2 } },
  { name: 'low-snr', ...base, photons: 500 },
];

/** Test seeds live at and above this; training uses seeds below it. */
export const TEST_SEED_BASE = 1_000_000;
