/**
 * How bright the emitters of one frame are relative to each other. `photons` (P) is the frame's
 * brightness scale; each model draws every emitter's expected photons from it:
 *
 * - equal: every emitter P (the original simulator; draws nothing from the Rng).
 * - damn:  Poisson(P)·U(0.1, 1) — the DAMN paper's own simulation (Vašinka et al. 2025): a
 *          tenfold spread, mean 0.55·P.
 * - wide:  P·10^U(−2, 0), log-uniform over two decades below P (a star field spanning five
 *          magnitudes; the faint end sits in the noise at the eval's background).
 */
import { UserError } from '../errors.ts';
import type { Rng } from './random.ts';

export const BRIGHTNESS_MODELS = ['equal', 'damn', 'wide'] as const;
export type BrightnessModel = (typeof BRIGHTNESS_MODELS)[number];

/** decades spanned by the wide model */
export const WIDE_DECADES = 2;

/** one emitter's expected photons under `model` with scale P */
export function drawBrightness(rng: Rng, model: BrightnessModel, photons: number): number {
  if (model === 'equal') return photons;
  if (model === 'damn') return rng.poisson(photons) * rng.range(0.1, 1);
  return photons * 10 ** (-WIDE_DECADES * rng.uniform());
}

/** the model's [lowest, highest] photons per emitter for scale P (what the OOD ranges record) */
export function brightnessRange(model: BrightnessModel, photons: number): [number, number] {
  if (model === 'equal') return [photons, photons];
  if (model === 'damn') return [0.1 * photons, photons];
  return [photons * 10 ** -WIDE_DECADES, photons];
}

export function parseBrightnessModels(text: string): BrightnessModel[] {
  const names = String(text)
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new UserError(`--brightness: give at least one of ${BRIGHTNESS_MODELS.join(', ')}`);
  for (const n of names) {
    if (!(BRIGHTNESS_MODELS as readonly string[]).includes(n)) {
      throw new UserError(`--brightness: unknown model "${n}" (use ${BRIGHTNESS_MODELS.join(', ')})`);
    }
  }
  return names as BrightnessModel[];
}
