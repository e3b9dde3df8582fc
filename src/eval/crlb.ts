/**
 * Localisation precision limit of a pixelated Gaussian PSF with background — Mortensen et al.
 * 2010 (Nat. Methods 7, 377), in the form issue #13 specifies:
 *
 *   Var(x̂) = F · (s_a² / N) · (16/9 + 8π s_a² b² / (N a²)),   s_a² = s² + a²/12
 *
 * per axis, with N detected photons (photo-electrons), b² background photo-electrons per pixel,
 * a the pixel size, s the PSF's standard deviation and F = 2 behind an EM register (1 otherwise).
 * Convention: the project's Gaussian is ∝ exp(−r²/w²), so s = w/√2. Read noise (sCMOS, CMOS)
 * is folded into the background as its variance (b² + σ_read², the usual Gaussian
 * approximation); behind an EM register it is divided by the gain first.
 */
import type { CameraModel } from '../optics/camera.ts';

export interface CrlbInput {
  /** detected photo-electrons from the emitter */
  photons: number;
  /** background photo-electrons per pixel (incl. read noise variance) */
  background: number;
  /** the project's Gaussian width w (∝ exp(−r²/w²)), camera px */
  width: number;
  /** pixel size, camera px (default 1) */
  pixel?: number;
  /** excess noise factor F (2 for an EMCCD, 1 otherwise) */
  excess?: number;
}

/** per-axis variance (px²) */
export function mortensenVariance(o: CrlbInput): number {
  const a = o.pixel ?? 1;
  const s2 = (o.width * o.width) / 2;
  const sa2 = s2 + (a * a) / 12;
  const n = o.photons;
  if (!(n > 0)) return Number.POSITIVE_INFINITY;
  const f = o.excess ?? 1;
  return f * (sa2 / n) * (16 / 9 + (8 * Math.PI * sa2 * o.background) / (n * a * a));
}

/** lateral (2-D) RMS limit, √(Var_x + Var_y), px */
export function lateralCrlb(o: CrlbInput): number {
  return Math.sqrt(2 * mortensenVariance(o));
}

/** The camera's effect on the bound: photons → e⁻ (QE), read noise → background, F. */
export function crlbForCamera(
  photons: number,
  background: number,
  width: number,
  camera?: Pick<CameraModel, 'qe' | 'emGain' | 'readNoise'>,
): CrlbInput {
  if (!camera) return { photons, background, width, excess: 1 };
  const em = camera.emGain > 1;
  const read = em ? camera.readNoise / camera.emGain : camera.readNoise;
  return {
    photons: camera.qe * photons,
    background: camera.qe * background + read * read,
    width,
    excess: em ? 2 : 1,
  };
}
