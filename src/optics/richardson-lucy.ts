/**
 * Richardson–Lucy deconvolution onto a `scale`× finer grid with the exact PSF — the classical
 * baseline the networks are compared against.
 *
 * Forward model M x = B H x + b: H convolves the fine-grid emitter map with the PSF integrated
 * over fine pixels, B sums each scale×scale block into its camera pixel, b is a flat background.
 * EM update (H is symmetric, so Hᵀ = H): x ← x · H Bᵀ(y / M x) / H Bᵀ 1, with b estimated from
 * the frame beforehand and held fixed.
 */
import { UserError } from '../errors.ts';
import type { Reconstructor } from '../inference/types.ts';
import { FftConvolver } from './fft.ts';
import { type Image, makeImage } from './image.ts';
import { PSF_SHAPES, type Psf, type PsfShape, psfKernel } from './psf.ts';

/** "gauss:2" / "airy:1.5" → PSF; width in camera px. */
export function parsePsfSpec(spec: string): Psf {
  const m = /^\s*([a-z]+)\s*:\s*([0-9.eE+-]+)\s*$/.exec(String(spec));
  if (!m) throw new UserError(`invalid PSF "${spec}": expected SHAPE:WIDTH, e.g. gauss:2 or airy:1.5`);
  const shape = m[1].toLowerCase();
  if (!(PSF_SHAPES as readonly string[]).includes(shape))
    throw new UserError(`invalid PSF shape "${m[1]}" (use gauss or airy)`);
  const width = Number(m[2]);
  if (!Number.isFinite(width) || width <= 0 || width > 50)
    throw new UserError(`invalid PSF width "${m[2]}" (need 0 < width ≤ 50 camera px)`);
  return { shape: shape as PsfShape, width };
}

export interface RlOptions {
  /** output grid is scale× finer than the camera (default 4) */
  scale?: number;
  /** maximum iterations (default 50) */
  iterations?: number;
  /** stop when Σ|Δx| / Σx falls below this (default 1e-4; 0 = run all iterations) */
  tolerance?: number;
  /**
   * 'auto' (default): clipped-median estimate (estimateBackground); 'min': the frame minimum;
   * a number: that many photons per pixel. Held fixed during the iterations.
   */
  background?: 'auto' | 'min' | number;
}

export interface RlResult {
  /** unit-sum map on the fine grid */
  image: Image;
  iterations: number;
  background: number;
  /** estimated total signal photons in the frame */
  photons: number;
}

interface Plan {
  conv: FftConvolver;
  /** H Bᵀ 1 */
  norm: Float64Array;
}

function median(sorted: Float32Array, n: number): number {
  return n === 0 ? 0 : n % 2 ? sorted[(n - 1) / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

/**
 * Background photons per pixel: median with emitters clipped away (pixels above median + 3√median,
 * the Poisson scatter), iterated. A flat component cannot be separated from a flat emitter map
 * by RL itself, so it has to be estimated up front.
 */
export function estimateBackground(data: Float32Array): number {
  const sorted = Float32Array.from(data).sort();
  let n = sorted.length;
  let b = median(sorted, n);
  for (let k = 0; k < 10; k++) {
    const limit = b + 3 * Math.sqrt(Math.max(b, 1));
    let m = n;
    while (m > 1 && sorted[m - 1] > limit) m--;
    if (m === n) break;
    n = m;
    b = median(sorted, n);
  }
  return Math.max(b, 0);
}

export class RichardsonLucy implements Reconstructor {
  readonly id = 'rl';
  readonly scale: number;
  readonly fingerprint: string;
  readonly provider = 'js';
  readonly psf: Psf;
  private readonly iterations: number;
  private readonly tolerance: number;
  private readonly background: 'auto' | 'min' | number;
  private readonly plans = new Map<string, Plan>();
  lastResult: RlResult | null = null;

  constructor(psf: string | Psf, opts: RlOptions = {}) {
    this.psf = typeof psf === 'string' ? parsePsfSpec(psf) : psf;
    this.scale = opts.scale ?? 4;
    if (!Number.isInteger(this.scale) || this.scale < 1 || this.scale > 16)
      throw new UserError(`invalid RL scale ${this.scale}`);
    this.iterations = opts.iterations ?? 50;
    if (!Number.isInteger(this.iterations) || this.iterations < 1)
      throw new UserError(`invalid RL iteration count ${this.iterations}`);
    this.tolerance = opts.tolerance ?? 1e-4;
    this.background = opts.background ?? 'auto';
    this.fingerprint = `rl psf=${this.psf.shape}:${this.psf.width} scale=${this.scale} iter=${this.iterations} tol=${this.tolerance} bg=${this.background}`;
  }

  private plan(width: number, height: number): Plan {
    const key = `${width}x${height}`;
    const cached = this.plans.get(key);
    if (cached) return cached;
    const s = this.scale;
    const fw = width * s;
    const fh = height * s;
    const sg = this.psf.width * s;
    // Airy: 8σ keeps ~96 % of the energy; beyond the field nothing can land anyway.
    const radius = Math.min(this.psf.shape === 'gauss' ? 4 * sg + 1 : Math.max(8 * sg, 4), Math.max(fw, fh));
    const kernel = psfKernel(this.psf, 1 / s, radius);
    const conv = new FftConvolver(fw, fh, kernel);
    const norm = new Float64Array(fw * fh);
    conv.convolve(new Float64Array(fw * fh).fill(1), norm);
    for (let i = 0; i < norm.length; i++) if (norm[i] < 1e-12) norm[i] = 1e-12;
    const p = { conv, norm };
    if (this.plans.size > 4) this.plans.clear();
    this.plans.set(key, p);
    return p;
  }

  run(frame: Image): RlResult {
    const { width, height } = frame;
    const s = this.scale;
    const fw = width * s;
    const fh = height * s;
    const { conv, norm } = this.plan(width, height);
    const y = new Float64Array(width * height);
    let ySum = 0;
    for (let i = 0; i < y.length; i++) {
      const v = frame.data[i];
      y[i] = Number.isFinite(v) && v > 0 ? v : 0;
      ySum += y[i];
    }
    let bg: number;
    if (this.background === 'auto') bg = estimateBackground(frame.data);
    else if (this.background === 'min') {
      bg = Number.POSITIVE_INFINITY;
      for (const v of y) if (v < bg) bg = v;
    } else bg = this.background;
    const nCam = width * height;
    const signal = Math.max(ySum - bg * nCam, 1e-6 * Math.max(ySum, 1));
    let x = new Float64Array(fw * fh).fill(signal / (fw * fh));
    let next = new Float64Array(fw * fh);
    const hx = new Float64Array(fw * fh);
    const ratio = new Float64Array(nCam);
    const up = new Float64Array(fw * fh);
    let it = 0;
    for (it = 1; it <= this.iterations; it++) {
      conv.convolve(x, hx);
      // B: bin the fine model to camera pixels, then y / model
      ratio.fill(0);
      for (let fy = 0; fy < fh; fy++) {
        const cy = (fy / s) | 0;
        for (let fx = 0; fx < fw; fx++) ratio[cy * width + ((fx / s) | 0)] += hx[fy * fw + fx];
      }
      for (let i = 0; i < nCam; i++) {
        const m = ratio[i] + bg;
        ratio[i] = m > 0 ? y[i] / m : 0;
      }
      // Bᵀ: every fine pixel takes its camera pixel's ratio
      for (let fy = 0; fy < fh; fy++) {
        const cy = (fy / s) | 0;
        for (let fx = 0; fx < fw; fx++) up[fy * fw + fx] = ratio[cy * width + ((fx / s) | 0)];
      }
      conv.convolve(up, up);
      let change = 0;
      let total = 0;
      for (let i = 0; i < x.length; i++) {
        const v = (x[i] * Math.max(up[i], 0)) / norm[i];
        next[i] = v;
        change += Math.abs(v - x[i]);
        total += v;
      }
      const t = x;
      x = next;
      next = t;
      if (this.tolerance > 0 && total > 0 && change / total < this.tolerance) break;
    }
    const out = new Float32Array(fw * fh);
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += x[i];
    if (sum > 0) for (let i = 0; i < x.length; i++) out[i] = x[i] / sum;
    else out.fill(1 / out.length);
    const result = {
      image: makeImage(fw, fh, out),
      iterations: Math.min(it, this.iterations),
      background: bg,
      photons: sum,
    };
    this.lastResult = result;
    return result;
  }

  async reconstruct(frame: Image): Promise<Image> {
    return this.run(frame).image;
  }

  async close(): Promise<void> {
    this.plans.clear();
  }
}
