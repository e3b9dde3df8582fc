/**
 * Aberrated PSFs from the pupil: a circular pupil with a low-order Zernike phase, Fourier-
 * transformed to the amplitude PSF, squared to intensity, integrated over a pixel and tabulated
 * finely enough for bilinear reads.
 *
 * Scale: the unaberrated pupil gives exactly the project's Airy pattern ∝ [J1(2r/σ)/(r/σ)]²,
 * i.e. σ = λ/(π·NA). With the pupil radius R samples on an N-point grid, image samples are
 * π·R·σ/N apart; R = N/(2π) puts them σ/2 apart — above Nyquist for the intensity, whose
 * spectrum ends at 2·NA/λ = 2/(πσ) cycles per unit — over a periodic field of N·σ/2 = 64σ.
 *
 * Pixel integration and refinement are done on the intensity's spectrum, where both are exact
 * for a band-limited PSF: × sinc(f)·sinc(f) is the integral over a pixel, and zero-padding the
 * spectrum 4× resamples on a σ/8 lattice (bilinear reads then err by ~0.4 % of the local peak).
 *
 * Zernike terms (Noll normalisation: a coefficient is that term's RMS wavefront, in waves):
 * defocus Z4 = √3(2ρ²−1), astigmatism Z6 = √6ρ²cos2θ and Z5 = √6ρ²sin2θ (45°), coma Z8 =
 * √8(3ρ³−2ρ)cosθ (x) and Z7 = √8(3ρ³−2ρ)sinθ (y), spherical Z11 = √5(6ρ⁴−6ρ²+1).
 * Documented range: each |coefficient| ≤ 0.5 waves (the pupil sampling, ~41 samples across,
 * resolves those phase slopes; total RMS ≤ 0.3 waves is the range the simulator draws).
 */
import { ComplexFft } from './fft.ts';

export interface Zernike {
  defocus?: number;
  astigmatism?: number;
  astigmatism45?: number;
  comaX?: number;
  comaY?: number;
  spherical?: number;
}

export const ZERNIKE_TERMS = ['defocus', 'astigmatism', 'astigmatism45', 'comaX', 'comaY', 'spherical'] as const;

export const MAX_ZERNIKE_WAVES = 0.5;

/** RMS wavefront error in waves (Noll terms are orthonormal over the pupil) */
export function zernikeRms(z: Zernike | undefined): number {
  if (!z) return 0;
  let s = 0;
  for (const k of ZERNIKE_TERMS) s += (z[k] ?? 0) ** 2;
  return Math.sqrt(s);
}

export function validateZernike(z: Zernike): void {
  for (const k of ZERNIKE_TERMS) {
    const v = z[k] ?? 0;
    if (!Number.isFinite(v) || Math.abs(v) > MAX_ZERNIKE_WAVES) {
      throw new Error(`Zernike ${k} = ${v} waves outside ±${MAX_ZERNIKE_WAVES}`);
    }
  }
}

/** pupil phase in waves at normalised radius rho ≤ 1, angle theta */
export function pupilPhaseWaves(z: Zernike, rho: number, theta: number): number {
  const r2 = rho * rho;
  return (
    (z.defocus ?? 0) * Math.sqrt(3) * (2 * r2 - 1) +
    (z.astigmatism ?? 0) * Math.sqrt(6) * r2 * Math.cos(2 * theta) +
    (z.astigmatism45 ?? 0) * Math.sqrt(6) * r2 * Math.sin(2 * theta) +
    (z.comaX ?? 0) * Math.sqrt(8) * (3 * r2 - 2) * rho * Math.cos(theta) +
    (z.comaY ?? 0) * Math.sqrt(8) * (3 * r2 - 2) * rho * Math.sin(theta) +
    (z.spherical ?? 0) * Math.sqrt(5) * (6 * r2 * r2 - 6 * r2 + 1)
  );
}

/**
 * Pixel-integrated PSF on a lattice: value(dx, dy) = fraction of the emitter's light that falls in
 * a pixel whose centre is (dx, dy) grid px from the emitter. Centre sample at [half, half].
 */
export interface PsfTable {
  /** lattice step in grid px */
  step: number;
  /** samples from the centre to the edge */
  half: number;
  side: number;
  data: Float64Array;
}

const PUPIL_GRID = 128;
const REFINE = 4;
/** table radius in σ (the tail beyond is lost, as the Airy renderer's beyond its radius) */
export const TABLE_RADIUS_SIGMA = 24;

/** in-place 2-D complex DFT of an n × n row-major array (forward e^−, inverse e^+, unnormalised) */
function fft2(fft: ComplexFft, re: Float64Array, im: Float64Array, n: number, inverse: boolean, tr: Float64Array, ti: Float64Array): void {
  // columns: element y of column x sits at x + n·y, exactly the batched layout
  if (inverse) fft.inverse(re, im, n);
  else fft.forward(re, im, n);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      tr[x * n + y] = re[y * n + x];
      ti[x * n + y] = im[y * n + x];
    }
  if (inverse) fft.inverse(tr, ti, n);
  else fft.forward(tr, ti, n);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      re[y * n + x] = tr[x * n + y];
      im[y * n + x] = ti[x * n + y];
    }
}

const signedIndex = (k: number, n: number): number => (k < n / 2 ? k : k - n);

/**
 * The pixel-integrated table of the aberrated pupil PSF with Airy width `s` grid px (σ =
 * λ/(π·NA) in grid pixels) for pixels 1 grid px wide.
 */
export function pupilPsfTable(s: number, z: Zernike): PsfTable {
  if (!(s > 0 && Number.isFinite(s))) throw new Error(`pupilPsfTable: invalid width ${s}`);
  validateZernike(z);
  const n = PUPIL_GRID;
  const radius = n / (2 * Math.PI);
  const dx = s / 2; // image sample spacing, grid px
  const re = new Float64Array(n * n);
  const im = new Float64Array(n * n);
  const tr = new Float64Array(n * n);
  const ti = new Float64Array(n * n);
  for (let y = 0; y < n; y++) {
    const py = signedIndex(y, n) / radius;
    for (let x = 0; x < n; x++) {
      const px = signedIndex(x, n) / radius;
      const rho = Math.hypot(px, py);
      if (rho > 1) continue;
      const phase = 2 * Math.PI * pupilPhaseWaves(z, rho, Math.atan2(py, px));
      re[y * n + x] = Math.cos(phase);
      im[y * n + x] = Math.sin(phase);
    }
  }
  const fftN = new ComplexFft(n);
  fft2(fftN, re, im, n, false, tr, ti);
  let total = 0;
  for (let i = 0; i < n * n; i++) {
    const v = re[i] * re[i] + im[i] * im[i];
    re[i] = v;
    im[i] = 0;
    total += v;
  }
  // unit energy: Σ I·dx² = 1, so I is a density per grid px²
  const norm = 1 / (total * dx * dx);
  for (let i = 0; i < n * n; i++) re[i] *= norm;
  fft2(fftN, re, im, n, false, tr, ti);
  // × pixel box; frequencies in cycles per grid px are k/(n·dx)
  const sinc = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const f = signedIndex(k, n) / (n * dx);
    sinc[k] = f === 0 ? 1 : Math.sin(Math.PI * f) / (Math.PI * f);
  }
  const m = n * REFINE;
  const fr = new Float64Array(m * m);
  const fi = new Float64Array(m * m);
  for (let ky = 0; ky < n; ky++) {
    const my = (signedIndex(ky, n) + m) % m;
    for (let kx = 0; kx < n; kx++) {
      const mx = (signedIndex(kx, n) + m) % m;
      const h = sinc[kx] * sinc[ky];
      fr[my * m + mx] = re[ky * n + kx] * h;
      fi[my * m + mx] = im[ky * n + kx] * h;
    }
  }
  fft2(new ComplexFft(m), fr, fi, m, true, new Float64Array(m * m), new Float64Array(m * m));
  const step = dx / REFINE;
  const half = Math.min(m / 2 - 1, Math.ceil((TABLE_RADIUS_SIGMA * s) / step));
  const side = 2 * half + 1;
  const data = new Float64Array(side * side);
  // inverse DFT of the n-point spectrum on the m-point lattice: 1/n². The box already made the
  // density a fraction per pixel (a density ⊛ a unit-area pixel).
  const k = 1 / (n * n);
  for (let j = -half; j <= half; j++) {
    const row = ((j + m) % m) * m;
    for (let i = -half; i <= half; i++) data[(j + half) * side + i + half] = fr[row + ((i + m) % m)] * k;
  }
  return { step, half, side, data };
}

/** bilinear read of the table at offset (dx, dy) grid px; 0 outside */
export function readTable(t: PsfTable, dx: number, dy: number): number {
  const fx = dx / t.step + t.half;
  const fy = dy / t.step + t.half;
  const ix = Math.floor(fx);
  const iy = Math.floor(fy);
  if (ix < 0 || iy < 0 || ix >= t.side - 1 || iy >= t.side - 1) return 0;
  const a = fx - ix;
  const b = fy - iy;
  const d = t.data;
  const o = iy * t.side + ix;
  const top = d[o] + a * (d[o + 1] - d[o]);
  const bottom = d[o + t.side] + a * (d[o + t.side + 1] - d[o + t.side]);
  return top + b * (bottom - top);
}
