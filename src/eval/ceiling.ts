/**
 * An "ideal localizer" reference for the sub-pixel part of the accuracy table: how often could a
 * Bayes-optimal estimator put an emitter into the correct fine (1/scale px) bin, given the physics
 * alone?
 *
 * The oracle knows everything a simulator knows except the position itself: the exact PSF, the
 * photon count, the background, which camera pixel holds the emitter, and every other emitter
 * (there are none, or they are known: below). It sees the Poisson counts of a window of camera
 * pixels around that pixel and computes the posterior over positions in the pixel (uniform prior,
 * exact Poisson likelihood evaluated on a grid × grid lattice of cell centres, each cell's mass
 * integrated from the parabola through the neighbouring log-likelihoods — see cellLogMass). The
 * probability of choosing the correct fine bin is E[max over bins of the posterior bin mass] — we
 * average that per trial rather than the 0/1 hit indicator because it has the same expectation
 * (when the posterior is the true one) and much less variance; the hit rate is returned too as a
 * consistency check.
 *
 * Two oracles, differing in what else is in the window:
 * - isolated (the default): the target is the only emitter, so density does not enter and
 *   'default', 'sparse' and 'dense' give one number. Far too optimistic for crowded frames.
 * - neighbours known (options.neighbours; the eval's): every trial also draws the frame's other
 *   emitters as randomScene does — a Poisson number at cond.density over the square of all
 *   positions whose PSF reaches the window (psfReach past each edge), uniform, cond.photons each.
 *   Given one emitter of a Poisson scene, the others are again such a scene (Slivnyak), so this is
 *   the crowd a frame's emitter sees. The oracle is told every neighbour's position and
 *   brightness: their expected counts join the background as a known rate map, but their photons
 *   are still Poisson, the observation is Poisson(background + neighbours + target) and the
 *   posterior uses exactly those rates.
 *
 * Why the neighbours-known accuracy bounds any method's per-emitter sub-pixel accuracy on such
 * frames: a method sees the frame; the oracle sees the same counts plus the neighbours, the PSF,
 * the brightnesses and the target's camera pixel. The Bayes decision given more information
 * cannot do worse on average than any decision given less (it could ignore the extra). And the
 * isolated oracle is higher still: with the neighbours known, their photons are independent
 * Poisson counts added to the isolated observation — a garbling of it — so by the
 * data-processing argument the Bayes accuracy cannot go up.
 *
 * What this is and is not:
 * - A per-emitter bound, not a bound on a frame's map MAE: that metric is not exactly a sum of
 *   per-emitter terms (two emitters in one fine pixel share it; errors of different emitters can
 *   cancel in the same fine pixel; a network's mass need not be split 1/N per emitter) — see
 *   idealFineMae.
 * - Brightness estimation errors are ignored: the oracle is told every emitter's photons, a method
 *   must estimate them (in the simulator they are all cond.photons, which a network can learn).
 * - The window and the neighbour square are finite: photons outside the window (tails of a wide
 *   or Airy PSF) are not used, and neighbours beyond psfReach are left out (the simulator draws
 *   Airy tails to 32σ) — the first makes the oracle slightly worse, the second slightly better.
 * - Frame edges are ignored: the neighbours fill the whole square, as in an unbounded frame, while
 *   near the edge of a 64 × 64 eval frame an emitter has fewer neighbours but also loses part of
 *   its own PSF. The same oracle in 64 × 64 frames (target and neighbours drawn over the frame,
 *   pixels outside it unobserved; 400 trials, ± 0.009 each) came out equal or lower: dense 0.787
 *   vs 0.814 here, wide 0.609 vs 0.628, Airy 0.871 vs 0.875, default 0.868 vs 0.863 — the square
 *   field does not make the oracle too pessimistic for the eval's frames.
 * - Knowing the camera pixel is worth something: the bins along its edges cannot be confused with
 *   the adjacent pixels'. `margin` removes that knowledge (isolated, default condition: ≈ 0.89 →
 *   ≈ 0.86, which is what the Cramér–Rao width, ≈ 0.024 px per axis, predicts for an estimator
 *   without it).
 * - Numerics: the per-cell integration makes the result independent of the lattice (grid 8, 16,
 *   32, 64 per pixel agree to 1e-3 on 'narrow' and 'default'), whereas summing cell-centre values
 *   over-states the max-bin mass whenever the posterior is narrower than a few cells (the reason
 *   for cellRule: 'midpoint', kept only for comparison). The mixed derivative is dropped per cell.
 */
import { drawBrightness } from '../optics/brightness.ts';
import { type Psf, PsfRenderer, psfMaxWidth } from '../optics/psf.ts';
import { Rng } from '../optics/random.ts';
import { randomScene } from '../optics/scene.ts';
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
   * extends past the pixel edges, so the bins along them can be confused with the adjacent ones.
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
  /**
   * true: the frame's other emitters are drawn around the target every trial (cond.density, as
   * randomScene places them) and the oracle is told each one's position and brightness, but not
   * their photons — see the module comment. Default false: an isolated emitter.
   */
  neighbours?: boolean;
}

/*
 * Told brightness (cond.brightness 'damn' or 'wide'): every trial draws the target's and each
 * neighbour's photons from the condition's model and tells the oracle all of them, so the
 * posterior is still exact; only the scene is the spread one. The bound argument is unchanged.
 * The oracle sees photon counts: a camera (QE, EM register, read noise, ADU) is a garbling of
 * them, so on camera conditions it is still an upper bound on accuracy, just a looser one; on a
 * structured background it is given the flat mean level (an approximation, not a bound).
 */

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
  /** whether known neighbours were drawn (options.neighbours) */
  neighboursKnown: boolean;
}

/** Largest half-side of the window: at most 41 × 41 camera px. */
const MAX_HALF = 20;

/**
 * How far (camera px) the oracle follows a PSF: Gaussian ∝ exp(-r²/σ²) is ~1e-7 of the peak at
 * 4σ; the Airy tail decays slowly, so it gets 16σ.
 */
export function psfReach(psf: Psf): number {
  return psf.shape === 'gauss' ? 4 * psfMaxWidth(psf) : 16 * psf.width;
}

/**
 * Half-side of the observation window: the emitter is anywhere in the centre pixel (or `beyond`
 * camera px past its edges), so that much more than the PSF reach (capped).
 */
export function windowHalf(cond: EvalCondition, beyond = 0): number {
  return Math.min(MAX_HALF, Math.ceil(psfReach(cond.psf) + beyond) + 1);
}

/**
 * Bayes-optimal probability of putting an emitter of `cond` into its correct 1/scale px bin, given
 * the camera pixel it is in — isolated, or among known neighbours (see the module comment).
 * Deterministic for a given seed.
 */
export function idealSubpixel(cond: EvalCondition, opts: IdealSubpixelOptions = {}): IdealSubpixelResult {
  const trials = opts.trials ?? 400;
  const seed = opts.seed ?? 1;
  const scale = opts.scale ?? 4;
  const grid = opts.grid ?? 8 * scale;
  const margin = opts.margin ?? 0;
  const quadratic = (opts.cellRule ?? 'quadratic') === 'quadratic';
  const neighbours = opts.neighbours ?? false;
  const brightness = cond.brightness ?? 'equal';
  // with a spread, the target's rate changes every trial: keep expected counts, take logs per trial
  const useRates = neighbours || brightness !== 'equal';
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
  if (neighbours && !(cond.density >= 0 && Number.isFinite(cond.density))) {
    throw new Error(`idealSubpixel: invalid density ${cond.density}`);
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
  // (⌊cx/perBin⌋, ⌊cy/perBin⌋) of the candidate region. Per-candidate tables are stored
  // pixel-major (table[p·ncand + c]) so a trial's log-likelihood is a sum over the pixels that
  // caught photons of contiguous runs over candidates. Isolated, the rates never change and the
  // table holds their logs; with neighbours the rate map changes every trial, so the table holds
  // the target's expected counts alone and the logs are taken per trial.
  const table = new Float64Array(npix * ncand);
  const sumMu = new Float64Array(ncand);
  const binOf = new Int32Array(ncand);
  for (let cy = 0; cy < gside; cy++) {
    for (let cx = 0; cx < gside; cx++) {
      const c = cy * gside + cx;
      mu.fill(useRates ? 0 : cond.background);
      renderer.addEmitter(mu, side, side, origin + (cx + 0.5) / grid, origin + (cy + 0.5) / grid, cond.photons);
      let s = 0;
      for (let p = 0; p < npix; p++) {
        s += mu[p];
        // a zero rate only meets zero counts (background 0): keep 0·log finite
        table[p * ncand + c] = useRates ? mu[p] : Math.log(Math.max(mu[p], 1e-300));
      }
      sumMu[c] = s;
      binOf[c] = Math.floor(cy / perBin) * bside + Math.floor(cx / perBin);
    }
  }

  // the target's largest expected count per pixel, over candidates
  const maxE = new Float64Array(useRates ? npix : 0);
  for (let p = 0; p < maxE.length; p++) {
    let m = 0;
    for (let c = 0; c < ncand; c++) m = Math.max(m, table[p * ncand + c]);
    maxE[p] = m;
  }

  // Neighbours come from their own stream so that the target, its pixel and the camera noise are
  // drawn exactly as in the isolated oracle (with no neighbours the two agree to rounding).
  // Neighbours can be anywhere their PSF reaches the window from: psfReach past each edge.
  const reach = psfReach(cond.psf);
  const field = neighbours
    ? { width: side + 2 * reach, height: side + 2 * reach, density: cond.density, photons: cond.photons, brightness }
    : null;
  const brng = brightness === 'equal' ? null : new Rng((seed ^ BRIGHTNESS_STREAM) >>> 0);
  const nrng = neighbours ? new Rng((seed ^ NEIGHBOUR_STREAM) >>> 0) : null;
  const rate = new Float64Array(npix);
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
    rate.fill(cond.background);
    if (field && nrng) {
      for (const e of randomScene(nrng, field)) renderer.addEmitter(rate, side, side, e.x - reach, e.y - reach, e.photons);
    }
    mu.set(rate);
    const targetPhotons = brng ? drawBrightness(brng, brightness, cond.photons) : cond.photons;
    // candidates' tables hold cond.photons; k = 1 (equal brightness) leaves every value exact
    const k = targetPhotons === cond.photons ? 1 : targetPhotons / cond.photons;
    renderer.addEmitter(mu, side, side, half + u, half + v, targetPhotons);
    for (let c = 0; c < ncand; c++) ll[c] = -k * sumMu[c];
    for (let p = 0; p < npix; p++) {
      const y = rng.poisson(mu[p]);
      if (y === 0) continue;
      const off = p * ncand;
      if (!useRates) {
        for (let c = 0; c < ncand; c++) ll[c] += y * table[off + c];
        continue;
      }
      // y·log(r + e) = y·log r + y·log1p(e/r), and y·log r is the same for every candidate: where
      // e/r is small for all of them (most of the window), log1p's series is exact to rounding
      // and far cheaper than a log per candidate
      const r = rate[p];
      if (k * maxE[p] < SERIES_MAX * r) {
        const ir = k / r;
        for (let c = 0; c < ncand; c++) {
          const x = table[off + c] * ir;
          ll[c] += y * x * (1 - x * (1 / 2 - x * (1 / 3 - x * (1 / 4 - x * (1 / 5)))));
        }
      } else {
        for (let c = 0; c < ncand; c++) ll[c] += y * Math.log(Math.max(r + k * table[off + c], 1e-300));
      }
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
  return {
    accuracy: mean,
    stderr: Math.sqrt(variance / trials),
    trials,
    hitRate: hits / trials,
    window: side,
    neighboursKnown: neighbours,
  };
}

/** below this e/r the fifth-order series of log1p(e/r) is off by < (e/r)⁶/6 ≈ 2e-13 */
const SERIES_MAX = 0.01;

/** xor-ed into the seed for the neighbours' Rng: a stream of its own, fixed per seed */
const NEIGHBOUR_STREAM = 0x2545f491;
/** and for the told brightnesses of targets */
const BRIGHTNESS_STREAM = 0x5bd1e995;

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
 * With accuracy = idealSubpixel(...).accuracy this is the oracle's MAE — and no hedging beats it
 * per emitter: against a one-hot truth, an output q costs E‖q − δ‖₁ = 2(1 − q·post), minimised by
 * all mass on the maximum-posterior bin. It is a reference, not a proven bound on a frame's MAE
 * (emitters sharing a fine pixel, cancellation between emitters: see the module comment).
 */
export function idealFineMae(accuracy: number, fineWidth: number, fineHeight: number): number {
  if (!(accuracy >= 0 && accuracy <= 1)) throw new Error(`idealFineMae: accuracy ${accuracy} outside [0, 1]`);
  if (!(fineWidth > 0 && fineHeight > 0)) throw new Error(`idealFineMae: invalid size ${fineWidth}×${fineHeight}`);
  return (2 * (1 - accuracy)) / (fineWidth * fineHeight);
}
