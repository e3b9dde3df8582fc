/**
 * Structured background on top of the mean level b (photons per pixel):
 *
 *   bg(x, y) = b · max(0, 1 + g · ramp(x, y)) + Σ_k b · A_k · exp(−|p − c_k|² / s_k²)
 *
 * - gradient: ramp is linear in a random direction, −1 … +1 across the frame's diagonal extent,
 *   g ~ U(0, gradient) with gradient ≤ 0.9 (the dim corner keeps ≥ 10 % of b);
 * - blobs (out-of-focus light, scattered light, a galaxy behind the stars): a Poisson number with
 *   mean `blobs` per 64×64 px, centres uniform over the frame, A_k ~ U(0.5, 3), widths s_k
 *   log-uniform in [4, 16] px (in the exp(−r²/s²) convention), far wider than any in-focus PSF
 *   of the trained range's core so a network can tell them apart.
 * 'none' (the default) is the flat level and draws nothing from the Rng.
 */
import { UserError } from '../errors.ts';
import type { Rng } from './random.ts';

export interface BackgroundStructure {
  /** largest relative gradient amplitude g (0 = none, ≤ 0.9) */
  gradient: number;
  /** mean number of blobs per 64×64 px (0 = none) */
  blobs: number;
}

export const FLAT_BACKGROUND: BackgroundStructure = { gradient: 0, blobs: 0 };

export const BACKGROUND_PRESETS: Record<string, BackgroundStructure> = {
  none: FLAT_BACKGROUND,
  gradient: { gradient: 0.6, blobs: 0 },
  blobs: { gradient: 0, blobs: 3 },
  both: { gradient: 0.6, blobs: 3 },
};

export const BLOB_AMPLITUDE: [number, number] = [0.5, 3];
export const BLOB_WIDTH_PX: [number, number] = [4, 16];

export function isFlat(s: BackgroundStructure): boolean {
  return s.gradient === 0 && s.blobs === 0;
}

export function parseBackgroundStructure(text: string): BackgroundStructure[] {
  const names = String(text)
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  const known = Object.keys(BACKGROUND_PRESETS);
  if (names.length === 0) throw new UserError(`--background-structure: give at least one of ${known.join(', ')}`);
  return names.map((n) => {
    const p = BACKGROUND_PRESETS[n];
    if (!p) throw new UserError(`--background-structure: unknown "${n}" (use ${known.join(', ')})`);
    return p;
  });
}

/**
 * Adds the background map (mean level `level`, structure `s`) to `target` (width × height,
 * photons per pixel). Flat structure adds `level` and draws nothing from rng.
 */
export function addBackground(target: Float64Array, width: number, height: number, level: number, s: BackgroundStructure, rng: Rng): void {
  if (s.gradient < 0 || s.gradient > 0.9 || !(s.blobs >= 0)) {
    throw new Error(`background structure out of range: gradient ${s.gradient} (0..0.9), blobs ${s.blobs} (≥ 0)`);
  }
  if (isFlat(s)) {
    for (let i = 0; i < target.length; i++) target[i] += level;
    return;
  }
  let gx = 0;
  let gy = 0;
  if (s.gradient > 0) {
    const g = rng.range(0, s.gradient);
    const a = rng.range(0, 2 * Math.PI);
    // ramp = (p − centre)·u / (half the frame's extent along u), so it spans −1…+1 over the frame
    const ux = Math.cos(a);
    const uy = Math.sin(a);
    const half = 0.5 * (Math.abs(ux) * width + Math.abs(uy) * height);
    gx = (g * ux) / half;
    gy = (g * uy) / half;
  }
  const cx = width / 2;
  const cy = height / 2;
  for (let y = 0; y < height; y++) {
    const ry = (y + 0.5 - cy) * gy;
    const row = y * width;
    for (let x = 0; x < width; x++) target[row + x] += level * Math.max(0, 1 + (x + 0.5 - cx) * gx + ry);
  }
  if (s.blobs > 0) {
    const n = rng.poisson((s.blobs * width * height) / 4096);
    for (let k = 0; k < n; k++) {
      const bx = rng.uniform() * width;
      const by = rng.uniform() * height;
      const amp = level * rng.range(BLOB_AMPLITUDE[0], BLOB_AMPLITUDE[1]);
      const w = rng.logUniform(BLOB_WIDTH_PX[0], BLOB_WIDTH_PX[1]);
      const inv = 1 / (w * w);
      const r = Math.ceil(4 * w);
      const x0 = Math.max(0, Math.floor(bx - r));
      const x1 = Math.min(width - 1, Math.ceil(bx + r));
      const y0 = Math.max(0, Math.floor(by - r));
      const y1 = Math.min(height - 1, Math.ceil(by + r));
      for (let y = y0; y <= y1; y++) {
        const dy = y + 0.5 - by;
        const ey = Math.exp(-dy * dy * inv);
        const row = y * width;
        for (let x = x0; x <= x1; x++) {
          const dx = x + 0.5 - bx;
          target[row + x] += amp * ey * Math.exp(-dx * dx * inv);
        }
      }
    }
  }
}
