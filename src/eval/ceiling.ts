/**
 * An "ideal localizer" reference for the sub-pixel part of the accuracy table: how often could a
 * Bayes-optimal estimator put an emitter into the correct fine (1/scale px) bin, given the physics
 * alone?
 *
 * The oracle knows everything a simulator knows except the position itself: the exact PSF, the
 * photon count, the background, that there is exactly one emitter, and which camera pixel holds
 * it. It sees the Poisson counts of a window of camera pixels around that pixel and computes the
 * posterior over positions in the pixel (uniform prior, exact Poisson likelihood evaluated on a
 * grid × grid lattice of cell centres, each cell's mass integrated from the parabola through the
 * neighbouring log-likelihoods — see cellLogMass). The probability of choosing the correct
 * fine bin is E[max over bins of the posterior bin mass] — we average that per trial rather than
 * the 0/1 hit indicator because it has the same expectation (when the posterior is the true one)
 * and much less variance; the hit rate is returned too as a consistency check.
 *
 * What this is and is not:
 * - It is a reference, not a proven bound for the table's frames. The oracle has more information
 *   than any network (it is told the camera pixel, the emitter count and the brightness), and the
 *   emitter is isolated. Neighbours can only add confusion for the oracle: another independent
 *   emitter's photons are Poisson counts added to the observation, i.e. a garbling of it, so by
 *   the data-processing argument the Bayes accuracy for *this* emitter cannot go up. The density
 *   column therefore does not enter, and 'default', 'sparse' and 'dense' give the same number.
 * - It is not a bound on a crowded frame's map MAE: that metric is not a sum of per-emitter
 *   terms (errors of different emitters can cancel in the same fine pixel, and a network's mass
 *   need not be split 1/N per emitter), edges of the frame are ignored, and photons outside the
 *   finite window (tails of a wide or Airy PSF) are not used — a slight under-estimate of the
 *   oracle there.
 * - Knowing the camera pixel is worth something: the bins along its edges cannot be confused with
 *   the neighbours'. `margin` removes that knowledge (default condition: ≈ 0.89 → ≈ 0.86, which is
 *   what the Cramér–Rao width, ≈ 0.024 px per axis, predicts for an estimator without it).
 * - Numerics: the per-cell integration makes the result independent of the lattice (grid 8, 16,
 *   32, 64 per pixel agree to 1e-3 on 'narrow' and 'default'), whereas summing cell-centre values
 *   over-states the max-bin mass whenever the posterior is narrower than a few cells (the reason
 *   for cellRule: 'midpoint', kept only for comparison). The mixed derivative is dropped per cell.
 */
import { PsfRenderer } from '../optics/psf.ts';
import { Rng } from '../optics/random.ts';
import { erf, erfc } from '../optics/special.ts';
import type { EvalCondition } from './conditions.ts';

export interface IdealSubpixelOptions {
  /** Monte-Carlo trials (default 400) */
  trials?: number;
  /** Rng seed (default 1) */
  seed?: number;
  /** fine bins per camera pixel along each axis (default 4, the eval's scale) */
  scale?: number;
  /** candidate positions per camera pixel along each axis; a multiple of scale (default 8·scale) */
  grid?: number;
  /**
   * Fine bins of candidates beyond each side of the camera pixel (default 0: the oracle knows the
   * pixel, as in the module comment). With margin > 0 the oracle no longer knows it: the flat prior
   * extends past the pixel edges, so the bins along them can be confused with the neighbours'.
   * Valid while the margin spans several posterior widths (it truncates the flat prior there).
   */
  margin?: number;
  /**
   * How a lattice cell's posterior mass is integrated: 'quadratic' (default) integrates exp of the
   * parabola through the cell's log-likelihood and its neighbours along each axis, so it stays
   * right when the posterior is narrower than a cell; 'midpoint' uses the cell-centre value alone
   * (kept for comparison: it over-states max-bin masses once the posterior is under-resolved).
   */
  cellRule?: 'quadratic' | 'midpoint';
}

export interface IdealSubpixelResult {
  /** Monte-Carlo estimate of the Bayes probability of choosing the correct fine bin */
  accuracy: number;
  /** standard error of `accuracy` */
  stderr: number;
  trials: number;
  /** fraction of trials whose maximum-posterior bin was the true bin (same expectation, noisier) */
  hitRate: number;
  /** side of the square camera-pixel window the oracle sees */
  window: number;
}

/** Largest half-side of the window: at most 41 × 41 camera px. */
const MAX_HALF = 20;

/**
 * Half-side of the observation window: the emitter is anywhere in the centre pixel (or `beyond`
 * camera px past its edges), so that much more than the PSF reach. Gaussian ∝ exp(-r²/σ²) is
 * ~1e-7 of the peak at 4σ; the Airy tail decays slowly, so it gets 16σ (capped).
 */
export function windowHalf(cond: EvalCondition, beyond = 0): number {
  const reach = cond.psf.shape === 'gauss' ? 4 * cond.psf.width : 16 * cond.psf.width;
  return Math.min(MAX_HALF, Math.ceil(reach + beyond) + 1);
}

/**
 * Bayes-optimal probability of putting an isolated emitter of `cond` into its correct 1/scale px
 * bin, given the camera pixel it is in (see the module comment). Deterministic for a given seed.
 */
export function idealSubpixel(cond: EvalCondition, opts: IdealSubpixelOptions = {}): IdealSubpixelResult {
  const trials = opts.trials ?? 400;
  const seed = opts.seed ?? 1;
  const scale = opts.scale ?? 4;
  const grid = opts.grid ?? 8 * scale;
  const margin = opts.margin ?? 0;
  const quadratic = (opts.cellRule ?? 'quadratic') === 'quadratic';
  if (!Number.isInteger(trials) || trials < 1) throw new Error(`idealSubpixel: invalid trials ${trials}`);
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`idealSubpixel: invalid scale ${scale}`);
  if (!Number.isInteger(grid) || grid < 3 || grid % scale !== 0) {
    throw new Error(`idealSubpixel: grid ${grid} must be a multiple of scale ${scale} and at least 3`);
  }
  if (!Number.isInteger(margin) || margin < 0) throw new Error(`idealSubpixel: invalid margin ${margin}`);
  if (!(cond.photons >= 0) || !Number.isFinite(cond.photons)) throw new Error(`idealSubpixel: invalid photons ${cond.photons}`);
  if (!(cond.background >= 0) || !Number.isFinite(cond.background)) {
    throw new Error(`idealSubpixel: invalid background ${cond.background}`);
  }

  const half = windowHalf(cond, margin / scale);
  const side = 2 * half + 1;
  const npix = side * side;
  const perBin = grid / scale;
  // candidates and bins along one axis; the region starts `margin` fine bins before the pixel
  const gside = grid + 2 * margin * perBin;
  const bside = scale + 2 * margin;
  const origin = half - margin / scale;
  const ncand = gside * gside;
  const nbins = bside * bside;
  const renderer = new PsfRenderer(cond.psf, 1);
  const mu = new Float64Array(npix);

  // Candidate c = cy·gside + cx sits at (origin + (cx+½)/grid, origin + (cy+½)/grid) in fine bin
  // (⌊cx/perBin⌋, ⌊cy/perBin⌋) of the candidate region. Log expected counts
  // are stored pixel-major (logMu[p·ncand + c]) so a trial's log-likelihood is a sum over the
  // pixels that caught photons of contiguous runs over candidates.
  const logMu = new Float64Array(npix * ncand);
  const sumMu = new Float64Array(ncand);
  const binOf = new Int32Array(ncand);
  for (let cy = 0; cy < gside; cy++) {
    for (let cx = 0; cx < gside; cx++) {
      const c = cy * gside + cx;
      mu.fill(cond.background);
      renderer.addEmitter(mu, side, side, origin + (cx + 0.5) / grid, origin + (cy + 0.5) / grid, cond.photons);
      let s = 0;
      for (let p = 0; p < npix; p++) {
        s += mu[p];
        // a zero rate only meets zero counts (background 0): keep 0·log finite
        logMu[p * ncand + c] = Math.log(Math.max(mu[p], 1e-300));
      }
      sumMu[c] = s;
      binOf[c] = Math.floor(cy / perBin) * bside + Math.floor(cx / perBin);
    }
  }

  const rng = new Rng(seed);
  const ll = new Float64Array(ncand);
  const logMass = new Float64Array(ncand);
  const binMass = new Float64Array(nbins);
  let sum = 0;
  let sum2 = 0;
  let hits = 0;
  for (let t = 0; t < trials; t++) {
    const u = rng.uniform();
    const v = rng.uniform();
    mu.fill(cond.background);
    renderer.addEmitter(mu, side, side, half + u, half + v, cond.photons);
    for (let c = 0; c < ncand; c++) ll[c] = -sumMu[c];
    for (let p = 0; p < npix; p++) {
      const y = rng.poisson(mu[p]);
      if (y === 0) continue;
      const off = p * ncand;
      for (let c = 0; c < ncand; c++) ll[c] += y * logMu[off + c];
    }
    if (quadratic) cellLogMass(ll, gside, logMass);
    else logMass.set(ll);
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < ncand; c++) if (logMass[c] > max) max = logMass[c];
    binMass.fill(0);
    let z = 0;
    for (let c = 0; c < ncand; c++) {
      const w = Math.exp(logMass[c] - max);
      binMass[binOf[c]] += w;
      z += w;
    }
    let best = 0;
    for (let b = 1; b < nbins; b++) if (binMass[b] > binMass[best]) best = b;
    const score = binMass[best] / z;
    sum += score;
    sum2 += score * score;
    const trueBin = (Math.floor(v * scale) + margin) * bside + Math.floor(u * scale) + margin;
    if (best === trueBin) hits++;
  }
  const mean = sum / trials;
  const variance = trials > 1 ? Math.max(0, (sum2 - trials * mean * mean) / (trials - 1)) : 0;
  return { accuracy: mean, stderr: Math.sqrt(variance / trials), trials, hitRate: hits / trials, window: side };
}

const LOG_HALF_SQRT_PI = Math.log(Math.sqrt(Math.PI) / 2);
/** Below this curvature (in cell units) the erf form cancels; the cell is then nearly flat. */
const MIN_CURVATURE = 0.1;

/** erfc(z)·exp(z²) for z ≥ 0, without overflow */
function erfcx(z: number): number {
  if (z < 25) return erfc(z) * Math.exp(z * z);
  const r = 1 / (z * z);
  return (1 - 0.5 * r + 0.75 * r * r - 1.875 * r * r * r) / (z * Math.sqrt(Math.PI));
}

/**
 * log ∫_{-½}^{½} exp(g·d + ½·h·d²) dd, in closed form and stable for any slope and for curvature
 * from the flat to the very sharp (a peak far narrower than the cell, inside or outside it).
 */
export function logCellIntegral(g: number, h: number): number {
  const ag = Math.abs(g); // the integral is even in g
  const a = -h;
  if (a < MIN_CURVATURE) {
    // (nearly) flat or convex: the exponential part exactly, the curvature as exp(½·h·E[d²])
    // under the exponential density on the cell (an error well below 1 % of this cell's mass)
    let linear = 0;
    let d2 = 1 / 12;
    if (ag > 1e-2) {
      linear = ag / 2 + Math.log(-Math.expm1(-ag) / ag);
      const sh = Math.sinh(ag / 2);
      const mean = 0.5 / Math.tanh(ag / 2) - 1 / ag;
      d2 = 1 / (ag * ag) - 1 / (4 * sh * sh) + mean * mean;
    } else if (ag > 0) {
      linear = Math.log1p((ag * ag) / 24);
      d2 = 1 / 12 + (ag * ag) / 240;
    }
    return linear + 0.5 * h * d2;
  }
  // concave: a Gaussian of centre m = |g|/a and precision a, cut to the cell
  const s = Math.sqrt(a / 2);
  const m = ag / a;
  const base = LOG_HALF_SQRT_PI - Math.log(s);
  if (m <= 0.5) return s * s * m * m + base + Math.log(erf(s * (0.5 - m)) + erf(s * (0.5 + m)));
  // peak beyond the cell edge: scale by the value at the near edge, s²(m − ¼)
  const p = s * (m - 0.5);
  const q = s * (m + 0.5);
  return s * s * (m - 0.25) + base + Math.log(erfcx(p) - erfcx(q) * Math.exp(-ag));
}

/** slope and curvature of the parabola through v[i-1], v[i], v[i+1] (one-sided at the ends) */
function parabola(v: Float64Array, start: number, stride: number, n: number, i: number, out: Float64Array): void {
  const k = i === 0 ? 1 : i === n - 1 ? n - 2 : i;
  const lo = v[start + (k - 1) * stride];
  const mid = v[start + k * stride];
  const hi = v[start + (k + 1) * stride];
  const h = hi - 2 * mid + lo;
  out[0] = (hi - lo) / 2 + (i - k) * h;
  out[1] = h;
}

/**
 * Log posterior mass of every lattice cell (side n, row-major): the cell-centre log-likelihood
 * plus the log of the integral of exp(parabola) over the cell along x and along y. The mixed
 * second derivative is dropped — it only moves mass near the corners of a cell.
 */
function cellLogMass(ll: Float64Array, n: number, out: Float64Array): void {
  const gh = new Float64Array(2);
  for (let cy = 0; cy < n; cy++) {
    for (let cx = 0; cx < n; cx++) {
      const c = cy * n + cx;
      parabola(ll, cy * n, 1, n, cx, gh);
      let lm = ll[c] + logCellIntegral(gh[0], gh[1]);
      parabola(ll, cx, n, n, cy, gh);
      lm += logCellIntegral(gh[0], gh[1]);
      out[c] = lm;
    }
  }
}

/**
 * Fine-grid MAE between unit-sum maps if each emitter's mass (1/N of the map) sat on its correct
 * fine bin with probability `accuracy` and on one wrong bin otherwise: every miss moves 1/N of
 * mass, costing 2/N of L1, so MAE = 2·(1 − accuracy) / (fineWidth·fineHeight).
 *
 * With accuracy = idealSubpixel(...).accuracy this is the oracle's MAE on isolated emitters — and
 * no hedging beats it there: against a one-hot truth, an output q costs E‖q − δ‖₁ = 2(1 − q·post),
 * minimised by all mass on the maximum-posterior bin. It is a reference (oracle information,
 * isolated emitters, no cancellation between emitters), not a proven bound for crowded frames.
 */
export function idealFineMae(accuracy: number, fineWidth: number, fineHeight: number): number {
  if (!(accuracy >= 0 && accuracy <= 1)) throw new Error(`idealFineMae: accuracy ${accuracy} outside [0, 1]`);
  if (!(fineWidth > 0 && fineHeight > 0)) throw new Error(`idealFineMae: invalid size ${fineWidth}×${fineHeight}`);
  return (2 * (1 - accuracy)) / (fineWidth * fineHeight);
}
