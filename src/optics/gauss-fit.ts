/**
 * Continuous localisation: a Poisson maximum-likelihood fit of a pixel-integrated 2-D Gaussian
 * to the camera frame around each detection, with the Cramér–Rao uncertainty of every parameter.
 *
 * Why a fit after the network: the network's map puts each emitter on a 4× sub-pixel grid, which
 * alone caps precision at ≈ 0.1 px RMS, while the photons allow ≈ 0.03 px for a bright emitter.
 * Detection is the hard part in crowded, spread-brightness frames and the network does it well;
 * given a detection, the MLE of a pixelated Gaussian reaches the Cramér–Rao bound for isolated
 * emitters (Smith et al. 2010, Nat. Methods 7, 373; Mortensen et al. 2010) and its inverse
 * Fisher information at the estimate is a calibrated per-emitter uncertainty. This is the
 * classical SMLM split (detect, then fit), with the network as the detector.
 *
 * Model, in photo-electrons, for the pixel [k, k+1) × [l, l+1) (pixel centres at integer + ½):
 *   μ = b + N · Ex(k) · Ey(l) + Σ_neighbours N_j Ex_j(k) Ey_j(l)
 *   Ex(k) = ½ [erf((k + 1 − x)/w) − erf((k − x)/w)]
 * with the project's Gaussian convention exp(−r²/w²) (σ = w/√2). Parameters x, y, N, b and,
 * optionally, w. Neighbours inside the window are held at their current estimates (two passes:
 * the second pass sees the first pass's neighbours), a block-coordinate version of a
 * multi-emitter fit that costs one window per emitter.
 *
 * Noise: Poisson in e⁻. Behind an EM register (excess factor F = 2) the counts are divided by F
 * before the fit, which makes their variance Poisson again (the usual high-gain approximation);
 * Gaussian read noise σ_r (sCMOS, CMOS) is folded in by adding σ_r² to data and model (Huang et
 * al. 2013, Nat. Methods 10, 653).
 *
 * Optimiser: Fisher scoring with Levenberg–Marquardt damping (a step is kept only if the
 * likelihood rises), stopped when the position moves < 1e-3 px (a few per cent of the best σ).
 */
import type { Image } from './image.ts';
import { erfDiff } from './special.ts';

export interface FitStart {
  x: number;
  y: number;
  /** photo-electrons (any positive guess; refined) */
  photons: number;
  /** PSF width w, px (default: the options' width; used for held emitters) */
  width?: number;
  /** no position prior for this start (it is not a detection, e.g. an earlier fit) */
  free?: boolean;
}

export interface FitOptions {
  /** PSF width w (∝ exp(−r²/w²)), camera px: the starting value, and the value when not fitted */
  width: number;
  /**
   * how w is found: `shared` (default) fits it per emitter in the first pass, then holds every
   * emitter at the median of those fits (one PSF per frame: a crowded window's free width
   * otherwise soaks up a neighbour's light); `each` fits it per emitter in every pass; `fixed`
   * keeps `width`
   */
  widthMode?: 'shared' | 'each' | 'fixed';
  /** window half-size in px (default ceil(1.25·w) + 1, clamped to 2…10) */
  halfWindow?: number;
  /** excess noise factor: 2 behind an EM register (default 1) */
  excess?: number;
  /** Gaussian read noise, e⁻ RMS (default 0) */
  readNoise?: number;
  /**
   * sCMOS: each pixel's own read noise, e⁻ RMS, the frame's size; instead of `readNoise`. A few
   * pixels of such a sensor are several times noisier than the median, and weighting them as
   * the median misleads a fit that covers them (Huang et al. 2013).
   */
  readNoiseMap?: Float32Array;
  /** e⁻ per unit of `readNoiseMap` (e.g. e⁻/ADU for a map in ADU; default 1) */
  readNoiseMapScale?: number;
  /** iterations per pass (default 25) */
  iterations?: number;
  /** passes with neighbours held at the previous pass's estimates (default 2) */
  passes?: number;
  /** a fit whose position leaves the start by more than this (px) is rejected (default 1.5) */
  maxShift?: number;
  /**
   * the same for an emitter alone in its window (its neighbours' light there < 5% of its own;
   * default maxShift): no neighbour can have pulled it, and a bright emitter's map position can
   * be off by more than a crowded fit may move
   */
  maxShiftAlone?: number;
  /**
   * standard deviation (px, per axis) of a Gaussian prior on the position centred on the start
   * (default: none). With the network's detection as the start this is a maximum-a-posteriori
   * fit: where the photons pin the emitter down (σ_fit ≪ prior) it is the MLE; where light of
   * undetected or crowded neighbours makes the likelihood flat or misleading, the detection holds.
   */
  priorSigma?: number;
  /**
   * two fits closer than this (px) are one emitter found twice (default max(0.5, w/2), w the
   * frame's PSF width: closer than that the map cannot tell two emitters apart either, and in
   * sparse spread-brightness frames it found a bright emitter twice far more often than it met a
   * true pair): the fainter is dropped and the brighter refitted
   */
  mergeDistance?: number;
  /** emitters whose light is modelled at these values but never fitted (photons in e⁻) */
  fixed?: ReadonlyArray<FitStart>;
}

export interface FitResult {
  x: number;
  y: number;
  photons: number;
  /** background per pixel, e⁻ */
  background: number;
  width: number;
  /** Cramér–Rao standard deviations at the estimate (px, px, e⁻) */
  sigmaX: number;
  sigmaY: number;
  sigmaPhotons: number;
  /** false: the fit failed (did not converge, left the start, or went non-physical) and the start is returned */
  ok: boolean;
  /**
   * true: this start's fit converged onto the same emitter as a brighter start's (closer than
   * `mergeDistance`), whose photons now include its share; drop it
   */
  duplicate: boolean;
}

const SQRT_PI = Math.sqrt(Math.PI);
/** largest radius (px) an emitter's light is modelled to: 3w + 1 up to w = 5 */
const MAX_FOOTPRINT = 16;
const MAX_HALF_WINDOW = 10;
/** rows of the residual search per band (plus its halo) */
const RESIDUAL_BAND_ROWS = 128;
const MIN_WIDTH = 0.25;

interface Axis {
  /** first pixel index and count */
  k0: number;
  n: number;
  e: Float64Array;
  /** ∂E/∂centre, ∂E/∂w */
  dc: Float64Array;
  dw: Float64Array;
}

function makeAxis(cap: number): Axis {
  return { k0: 0, n: 0, e: new Float64Array(cap), dc: new Float64Array(cap), dw: new Float64Array(cap) };
}

/** pixel-integrated 1-D profile of a unit Gaussian at `c`, width w, over pixels k0…k0+n−1 */
function profile(a: Axis, k0: number, n: number, c: number, w: number, derivs: boolean): void {
  a.k0 = k0;
  a.n = n;
  let u0 = (k0 - c) / w;
  // the exponentials feed only the derivatives: callers that paint or evaluate the model skip them
  let g0 = derivs ? Math.exp(-u0 * u0) : 0;
  for (let i = 0; i < n; i++) {
    const u1 = (k0 + i + 1 - c) / w;
    a.e[i] = 0.5 * erfDiff(u0, u1);
    if (derivs) {
      const g1 = Math.exp(-u1 * u1);
      a.dc[i] = (g0 - g1) / (SQRT_PI * w);
      a.dw[i] = -(u1 * g1 - u0 * g0) / (SQRT_PI * w);
      g0 = g1;
    }
    u0 = u1;
  }
}

/** Solves A δ = g in place (n ≤ 5, A symmetric positive definite); false if singular. */
const SOLVE_L = new Float64Array(25);
const SOLVE_Z = new Float64Array(5);
function solve(A: Float64Array, g: Float64Array, n: number, out: Float64Array): boolean {
  const L = SOLVE_L;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * 5 + k] * L[j * 5 + k];
      if (i === j) {
        if (!(s > 0)) return false;
        L[i * 5 + i] = Math.sqrt(s);
      } else L[i * 5 + j] = s / L[j * 5 + j];
    }
  }
  const z = SOLVE_Z;
  for (let i = 0; i < n; i++) {
    let s = g[i];
    for (let k = 0; k < i; k++) s -= L[i * 5 + k] * z[k];
    z[i] = s / L[i * 5 + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < n; k++) s -= L[k * 5 + i] * out[k];
    out[i] = s / L[i * 5 + i];
  }
  return true;
}

/** Diagonal of A⁻¹ (n ≤ 5) by solving for unit vectors; NaN where singular. */
function inverseDiagonal(A: Float64Array, n: number): Float64Array {
  const d = new Float64Array(n).fill(Number.NaN);
  const e = new Float64Array(5);
  const x = new Float64Array(5);
  for (let i = 0; i < n; i++) {
    e.fill(0);
    e[i] = 1;
    if (!solve(A, e, n, x)) return d.fill(Number.NaN);
    d[i] = x[i];
  }
  return d;
}

/** Points bucketed in square cells: `near` lists the indices in the 3×3 cells around a position. */
class PointGrid {
  private readonly cells = new Map<number, number[]>();
  constructor(
    points: ReadonlyArray<{ x: number; y: number }>,
    private readonly cell: number,
  ) {
    points.forEach((p, i) => {
      const k = this.key(Math.floor(p.x / cell), Math.floor(p.y / cell));
      const l = this.cells.get(k);
      if (l) l.push(i);
      else this.cells.set(k, [i]);
    });
  }
  private key(cx: number, cy: number): number {
    return cy * 100_003 + cx;
  }
  *near(x: number, y: number): Generator<number> {
    const gx = Math.floor(x / this.cell);
    const gy = Math.floor(y / this.cell);
    for (let oy = -1; oy <= 1; oy++) for (let ox = -1; ox <= 1; ox++) yield* this.cells.get(this.key(gx + ox, gy + oy)) ?? [];
  }
}

interface Estimate {
  x: number;
  y: number;
  photons: number;
  width: number;
}

/**
 * Fits every start against `frame` (photo-electrons per pixel, background included). Results are
 * in the order of `starts`. Frame edges clip the window.
 */
export function fitGaussians(frame: Image, fitStarts: ReadonlyArray<FitStart>, o: FitOptions): FitResult[] {
  // emitters held fixed (o.fixed) ride along after the fitted ones: neighbours, never fitted or merged
  const nFit = fitStarts.length;
  const starts: ReadonlyArray<FitStart> = o.fixed?.length ? [...fitStarts, ...o.fixed] : fitStarts;
  const W = frame.width;
  const H = frame.height;
  const F = o.excess ?? 1;
  const r2At = readVariance(o, W * H, F);
  const widthMode = o.widthMode ?? 'shared';
  const halfFor = (w: number) => o.halfWindow ?? Math.max(2, Math.min(MAX_HALF_WINDOW, Math.ceil(1.25 * w) + 1));
  let half = halfFor(o.width);
  const side = 2 * Math.max(half, MAX_HALF_WINDOW) + 1;
  const iterations = o.iterations ?? 25;
  const passes = Math.max(1, o.passes ?? 2);
  const maxShift = o.maxShift ?? 1.5;
  const maxShiftAlone = o.maxShiftAlone ?? maxShift;
  let fitWidth = widthMode !== 'fixed';
  let np = fitWidth ? 5 : 4;
  const priorPrecision = o.priorSigma ? 1 / (o.priorSigma * o.priorSigma) : 0;

  const est: Estimate[] = starts.map((s) => ({ x: s.x, y: s.y, photons: Math.max(s.photons / F, 1), width: s.width ?? o.width }));
  const results: FitResult[] = new Array(nFit);

  // neighbours by grid cell: anything whose light can reach a window
  const margin = Math.ceil(3 * o.width) + 1;
  const cell = half + margin + 1;
  // starts by cell: merges look for twins in the cells around (starts never move far from theirs)
  const grid = new PointGrid(starts, cell);
  // The frame model: every active emitter's expected light (Poisson units), so a fit reads its
  // neighbours' light in one pass over its window instead of rendering each neighbour there.
  // float32: a 4056×3040 frame's model is 49 MB (photon counts need no more precision)
  const model = new Float32Array(W * H);
  const painted: Array<Estimate | null> = new Array(starts.length).fill(null);
  const px = makeAxis(2 * MAX_FOOTPRINT + 2);
  const py = makeAxis(2 * MAX_FOOTPRINT + 2);
  /** adds (sign 1) emitter i's current estimate to the model, or takes out (−1) what was added */
  const paint = (i: number, sign: 1 | -1): void => {
    const e = sign > 0 ? est[i] : painted[i];
    if (!e) return;
    const r = Math.min(MAX_FOOTPRINT, Math.ceil(3 * e.width) + 1);
    const ex0 = Math.max(0, Math.floor(e.x) - r);
    const ey0 = Math.max(0, Math.floor(e.y) - r);
    const nxp = Math.min(W, Math.floor(e.x) + r + 1) - ex0;
    const nyp = Math.min(H, Math.floor(e.y) + r + 1) - ey0;
    if (nxp <= 0 || nyp <= 0) return;
    profile(px, ex0, nxp, e.x, e.width, false);
    profile(py, ey0, nyp, e.y, e.width, false);
    const k = sign * e.photons;
    for (let yy = 0; yy < nyp; yy++) {
      const fy = k * py.e[yy];
      const row = (ey0 + yy) * W + ex0;
      for (let xx = 0; xx < nxp; xx++) model[row + xx] += fy * px.e[xx];
    }
    painted[i] = sign > 0 ? { ...e } : null;
  };
  const repaint = (): void => {
    model.fill(0);
    painted.fill(null);
    for (let i = 0; i < starts.length; i++) if (active[i]) paint(i, 1);
  };
  let mergeDistance = o.mergeDistance ?? Math.max(0.5, 0.5 * o.width);
  const ax = makeAxis(side);
  const ay = makeAxis(side);
  const data = new Float64Array(side * side);
  const fixed = new Float64Array(side * side);
  const I = new Float64Array(25);
  const Id = new Float64Array(25);
  const g = new Float64Array(5);
  const step = new Float64Array(5);
  const d = new Float64Array(5);
  const q = new Float64Array(5);

  const fitted = new Uint8Array(starts.length);
  const crowded = new Uint8Array(starts.length);
  const all = fitStarts.map((_, i) => i);
  // `shared`: first the width, from the detections farthest from any other (free w), then every
  // pass at their median width
  const schedule: Array<{ idx: number[]; calibrate: boolean; refit?: boolean }> = [];
  if (widthMode === 'shared') schedule.push({ idx: calibrationSubset(fitStarts, 2 * o.width + 2, 200), calibrate: true });
  for (let pass = 0; pass < passes; pass++) schedule.push({ idx: all, calibrate: false });
  const active = new Uint8Array(starts.length).fill(1);
  let extraPass = false;
  repaint();
  fitWidth = widthMode === 'each' || (widthMode === 'shared' && schedule[0].calibrate);
  np = fitWidth ? 5 : 4;
  for (let si = 0; si < schedule.length; si++) {
    const stage = schedule[si];
    // Gauss–Seidel: each fit sees its neighbours' newest estimates (simultaneous updates let two
    // overlapping emitters trade the same light back and forth between passes)
    const next = est;
    const later = !stage.calibrate && !stage.refit && si > (schedule[0].calibrate ? 1 : 0);
    for (const i of stage.idx) {
      if (!active[i]) continue;
      // a later pass changes nothing for an emitter whose window held (almost) no other light
      if (later && fitted[i] && !crowded[i]) continue;
      const s0 = est[i];
      const cx = Math.floor(starts[i].x);
      const cy = Math.floor(starts[i].y);
      const x0 = Math.max(0, cx - half);
      const y0 = Math.max(0, cy - half);
      const x1 = Math.min(W, cx + half + 1);
      const y1 = Math.min(H, cy + half + 1);
      const ww = x1 - x0;
      const wh = y1 - y0;
      const n = ww * wh;
      // the window's data (scaled to Poisson units) and the light of the neighbours held fixed
      // the read variance rides on data and model alike, so it is in `fixed` (which the model adds)
      let border = 0;
      let borderN = 0;
      let sum = 0;
      let fixedSum = 0;
      paint(i, -1);
      for (let yy = 0; yy < wh; yy++) {
        const row = (y0 + yy) * W + x0;
        for (let xx = 0; xx < ww; xx++) {
          const r2 = r2At(row + xx);
          const v = Math.max(0, frame.data[row + xx] / F);
          data[yy * ww + xx] = v + r2;
          // every other emitter's light, from the frame model with this one's own taken out
          fixed[yy * ww + xx] = model[row + xx] + r2;
          fixedSum += model[row + xx];
          sum += v;
          if (yy === 0 || xx === 0 || yy === wh - 1 || xx === ww - 1) {
            border += v;
            borderN++;
          }
        }
      }
      // starting point: position from the detection, background from the border, photons from the rest
      crowded[i] = fixedSum >= 0.01 * Math.max(s0.photons, 1) ? 1 : 0;
      const b0 = Math.max(1e-3, borderN ? border / borderN : 1);
      const p: [number, number, number, number, number] = [
        s0.x,
        s0.y,
        Math.max(1, fitted[i] ? s0.photons : Math.max(sum - fixedSum - b0 * n, s0.photons * 0.5)),
        b0,
        s0.width,
      ];
      const sx = starts[i].x;
      const sy = starts[i].y;
      const prior = starts[i].free ? 0 : priorPrecision;
      const logL = (q: ArrayLike<number>): number => {
        profile(ax, x0, ww, q[0], q[4], false);
        profile(ay, y0, wh, q[1], q[4], false);
        let L = 0;
        for (let yy = 0; yy < wh; yy++) {
          for (let xx = 0; xx < ww; xx++) {
            const k = yy * ww + xx;
            const mu = q[3] + fixed[k] + q[2] * ax.e[xx] * ay.e[yy];
            if (!(mu > 0)) return Number.NEGATIVE_INFINITY;
            L += data[k] * Math.log(mu) - mu;
          }
        }
        const dx = q[0] - sx;
        const dy = q[1] - sy;
        return L - 0.5 * prior * (dx * dx + dy * dy);
      };
      /** gradient g and Fisher information I at q */
      const fisher = (q: ArrayLike<number>): void => {
        profile(ax, x0, ww, q[0], q[4], true);
        profile(ay, y0, wh, q[1], q[4], true);
        I.fill(0);
        g.fill(0);
        const N = q[2];
        for (let yy = 0; yy < wh; yy++) {
          for (let xx = 0; xx < ww; xx++) {
            const k = yy * ww + xx;
            const ex = ax.e[xx];
            const ey = ay.e[yy];
            const mu = q[3] + fixed[k] + N * ex * ey;
            d[0] = N * ax.dc[xx] * ey;
            d[1] = N * ex * ay.dc[yy];
            d[2] = ex * ey;
            d[3] = 1;
            d[4] = N * (ax.dw[xx] * ey + ex * ay.dw[yy]);
            const r = data[k] / mu - 1;
            const inv = 1 / mu;
            for (let a = 0; a < np; a++) {
              g[a] += r * d[a];
              const da = d[a] * inv;
              for (let c = 0; c <= a; c++) I[a * np + c] += da * d[c];
            }
          }
        }
        for (let a = 0; a < np; a++) for (let c = 0; c < a; c++) I[c * np + a] = I[a * np + c];
        g[0] -= prior * (q[0] - sx);
        g[1] -= prior * (q[1] - sy);
        I[0] += prior;
        I[np + 1] += prior;
      };

      let L = logL(p);
      let lambda = 1e-3;
      let converged = false;
      let lastStep = Number.POSITIVE_INFINITY;
      for (let it = 0; it < iterations && Number.isFinite(L); it++) {
        fisher(p);
        let accepted = false;
        for (let tries = 0; tries < 8 && !accepted; tries++) {
          Id.set(I);
          for (let a = 0; a < np; a++) Id[a * np + a] *= 1 + lambda;
          if (!solve(Id, g, np, step)) {
            lambda *= 10;
            continue;
          }
          q[0] = p[0] + step[0];
          q[1] = p[1] + step[1];
          q[2] = p[2] + step[2];
          q[3] = p[3] + step[3];
          q[4] = fitWidth ? p[4] + step[4] : p[4];
          if (q[2] <= 0 || q[3] <= 0 || q[4] < MIN_WIDTH) {
            lambda *= 10;
            continue;
          }
          const Lq = logL(q);
          if (Lq >= L) {
            accepted = true;
            for (let a = 0; a < 5; a++) p[a] = q[a];
            L = Lq;
            lastStep = Math.hypot(step[0], step[1]);
            lambda = Math.max(lambda / 10, 1e-7);
          } else lambda *= 10;
        }
        // no step that raises the likelihood: at the optimum to the model's precision
        if (!accepted || lastStep < 1e-3) {
          converged = it > 0 || accepted;
          break;
        }
      }
      if (!converged && lastStep < 1e-2) converged = true;
      fisher(p);
      const v = inverseDiagonal(I, np);
      const shift = Math.hypot(p[0] - starts[i].x, p[1] - starts[i].y);
      const ok =
        converged &&
        shift <= (fixedSum < 0.05 * p[2] ? maxShiftAlone : maxShift) &&
        Number.isFinite(v[0]) &&
        v[0] > 0 &&
        v[1] > 0 &&
        p[0] >= x0 &&
        p[0] <= x1 &&
        p[1] >= y0 &&
        p[1] <= y1;
      if (ok) {
        fitted[i] = 1;
        next[i] = { x: p[0], y: p[1], photons: p[2], width: p[4] };
        paint(i, 1);
        results[i] = {
          x: p[0],
          y: p[1],
          photons: p[2] * F,
          background: p[3] * F,
          width: p[4],
          sigmaX: Math.sqrt(v[0]),
          sigmaY: Math.sqrt(v[1]),
          sigmaPhotons: Math.sqrt(v[2]) * F,
          ok: true,
          duplicate: false,
        };
      } else {
        next[i] = { ...s0, x: starts[i].x, y: starts[i].y };
        paint(i, 1);
        results[i] = {
          x: starts[i].x,
          y: starts[i].y,
          photons: starts[i].photons,
          background: Number.NaN,
          width: Number.NaN,
          sigmaX: Number.NaN,
          sigmaY: Number.NaN,
          sigmaPhotons: Number.NaN,
          ok: false,
          duplicate: false,
        };
      }
    }
    // the survivors of a merge in the last pass refit once more, without their twin's light held against them
    const survivors = stage.calibrate ? [] : mergeDuplicates(starts, est, results, active, grid, mergeDistance);
    if (survivors.length > 0) {
      repaint();
      if (si === schedule.length - 1 && !extraPass) {
        // the survivors and their neighbours, nearest cells first
        const again = new Set<number>();
        for (const k of survivors) for (const j of grid.near(starts[k].x, starts[k].y)) if (j < nFit && active[j]) again.add(j);
        schedule.push({ idx: [...again].sort((a, b) => a - b), calibrate: false, refit: true });
        extraPass = true;
      }
    }
    if (stage.calibrate) {
      const widths = stage.idx.filter((i) => results[i].ok).map((i) => results[i].width);
      widths.sort((a, b) => a - b);
      const w = widths.length > 0 ? widths[widths.length >> 1] : o.width;
      // the calibration fits are starting points only: every emitter restarts at the shared width
      stage.idx.forEach((i) => {
        est[i] = { x: starts[i].x, y: starts[i].y, photons: Math.max(starts[i].photons / F, 1), width: w };
        fitted[i] = 0;
      });
      for (let i = 0; i < nFit; i++) est[i].width = w;
      if (o.mergeDistance === undefined) mergeDistance = Math.max(0.5, 0.5 * w);
      half = halfFor(w);
      // detections closer than that are one emitter before any fit (a bright one's map can peak twice)
      mergeDuplicates(starts, est, results, active, grid, mergeDistance, nFit);
      repaint();
      fitWidth = false;
      np = 4;
    }
  }
  results.length = nFit;
  return results;
}

/**
 * Deactivates the fainter of every two active, fitted emitters closer than `d` px (the brighter
 * takes its photons); returns the survivors. Starts never move more than the fit's gate from
 * their grid cell, so the neighbouring cells hold every candidate.
 */
function mergeDuplicates(
  starts: ReadonlyArray<FitStart>,
  est: Estimate[],
  results: FitResult[],
  active: Uint8Array,
  grid: PointGrid,
  d: number,
  /** given: merge among the first `unfitted` starts by their current estimates, fitted or not */
  unfitted?: number,
): number[] {
  const survivors: number[] = [];
  const n = unfitted ?? results.length;
  const eligible = (i: number) => i < n && active[i] === 1 && (unfitted !== undefined || results[i]?.ok === true);
  for (let i = 0; i < n; i++) {
    if (!eligible(i)) continue;
    for (const j of grid.near(starts[i].x, starts[i].y)) {
      if (j <= i || !eligible(j) || !active[i]) continue;
      if (Math.hypot(est[i].x - est[j].x, est[i].y - est[j].y) >= d) continue;
      const [keep, drop] = est[i].photons >= est[j].photons ? [i, j] : [j, i];
      est[keep].photons += est[drop].photons;
      active[drop] = 0;
      results[drop] = { ...(results[drop] ?? failedAt(starts[drop])), ok: false, duplicate: true };
      survivors.push(keep);
    }
  }
  return survivors;
}

function failedAt(s: FitStart): FitResult {
  const nan = Number.NaN;
  return {
    x: s.x,
    y: s.y,
    photons: s.photons,
    background: nan,
    width: nan,
    sigmaX: nan,
    sigmaY: nan,
    sigmaPhotons: nan,
    ok: false,
    duplicate: false,
  };
}

/**
 * Up to `max` starts whose nearest other start is farthest, at least `minDistance` px away if
 * any are (else simply the most isolated ones).
 */
function calibrationSubset(starts: ReadonlyArray<FitStart>, minDistance: number, max: number): number[] {
  const n = starts.length;
  const nn = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const grid = new PointGrid(starts, Math.max(1, minDistance));
  starts.forEach((s, i) => {
    for (const j of grid.near(s.x, s.y)) if (j !== i) nn[i] = Math.min(nn[i], Math.hypot(starts[j].x - s.x, starts[j].y - s.y));
  });
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => nn[b] - nn[a] || a - b);
  const far = order.filter((i) => nn[i] >= minDistance);
  return (far.length >= 3 ? far : order).slice(0, max);
}

export interface SearchOptions {
  /** significance (σ of the matched filter) a residual peak needs, and an added emitter's photons/σ_photons (default 7) */
  threshold?: number;
  /** at most this many emitters added (default unlimited) */
  maxAdded?: number;
  /**
   * the split test: twice the log-likelihood ratio (two emitters against one, in the emitter's
   * window) at which a fitted emitter becomes two (default SPLIT_THRESHOLD; Infinity: never)
   */
  splitThreshold?: number;
}

export interface SearchedFit {
  /** one per start, as fitGaussians */
  results: FitResult[];
  /** emitters the starts missed, found in the residual and fitted (ok, significant) */
  added: FitResult[];
}

/**
 * fitGaussians, then a search of the residual for emitters the starts missed (DAOPHOT's way:
 * subtract what is known, look for what is left): a matched filter of the PSF with the local
 * mean removed, scored against the Poisson variance of the frame. Residual peaks at least
 * `threshold` σ and clear of every known emitter are fitted with the known ones held, kept when
 * their photons are as significant, and the known emitters near them refitted.
 * Why: the network misses faint emitters beside bright ones and some isolated faint ones; their
 * light then also biases their neighbours' fits.
 */
export function fitGaussiansWithSearch(
  frame: Image,
  starts: ReadonlyArray<FitStart>,
  o: FitOptions,
  search: SearchOptions = {},
): SearchedFit {
  const results = fitGaussians(frame, starts, o);
  const widths = results.filter((r) => r.ok).map((r) => r.width);
  widths.sort((a, b) => a - b);
  const w = widths.length ? widths[widths.length >> 1] : o.width;
  const kept = results.flatMap((r, i) => (r.duplicate ? [] : [i]));
  const threshold = search.threshold ?? 7;
  if (search.maxAdded !== undefined && search.maxAdded <= 0) return { results, added: [] };
  const maxAdded = search.maxAdded ?? Number.POSITIVE_INFINITY;
  // first the detections that are two emitters, so that the residual holds only what was missed
  const splits = splitPairs(frame, results, kept, w, o, threshold, search.splitThreshold ?? SPLIT_THRESHOLD, maxAdded);
  const split = new Set(splits.map((p) => p.i));
  const known: FitStart[] = kept.map((i) => {
    const r = results[i];
    return r.ok
      ? { x: r.x, y: r.y, photons: r.photons, width: w }
      : { x: starts[i].x, y: starts[i].y, photons: starts[i].photons, width: w };
  });
  const seconds: FitStart[] = splits.map(({ second: r }) => ({ x: r.x, y: r.y, photons: r.photons, width: w }));
  const withSplits = (): SearchedFit => ({ results, added: splits.map((p) => p.second) });
  let cands = residualPeaks(
    frame,
    [...known, ...seconds],
    w,
    o.excess ?? 1,
    readVariance(o, frame.width * frame.height, o.excess ?? 1),
    threshold,
  );
  cands = cands.slice(0, Math.max(0, maxAdded - splits.length));
  if (cands.length === 0) return withSplits();
  const fixedOpts = { ...o, widthMode: 'fixed' as const, width: w, priorSigma: undefined, maxShift: Math.max(1, w) };
  const fitted = fitGaussians(frame, cands, { ...fixedOpts, fixed: [...known, ...seconds] });
  const added = fitted.filter((r) => r.ok && !r.duplicate && r.photons / r.sigmaPhotons >= threshold);
  if (added.length === 0) return withSplits();
  // the added emitters and the known ones within their reach refit together, the rest held
  const reach = 3 * w + 2;
  const knownOf = new Map(kept.map((i, k) => [i, known[k]]));
  const at = (i: number) => knownOf.get(i) as FitStart;
  const isNear = (p: { x: number; y: number }) => added.some((a) => Math.hypot(a.x - p.x, a.y - p.y) < reach);
  const near = kept.filter((i) => isNear(at(i)));
  const nearSet = new Set(near);
  const nearSplits = splits.flatMap((p, k) => (isNear(seconds[k]) ? [k] : []));
  const nearSplitSet = new Set(nearSplits);
  const held = [...kept.filter((i) => !nearSet.has(i)).map(at), ...seconds.filter((_, k) => !nearSplitSet.has(k))];
  const free = (r: { x: number; y: number; photons: number }): FitStart => ({ x: r.x, y: r.y, photons: r.photons, free: true });
  const joint = fitGaussians(
    frame,
    [
      // a split's parts are the fit's own estimates: no prior ties them to the merged detection
      ...near.map((i) => (split.has(i) ? free(results[i]) : starts[i])),
      ...nearSplits.map((k) => free(splits[k].second)),
      ...added.map(free),
    ],
    { ...o, widthMode: 'fixed', width: w, fixed: held, mergeDistance: 0 },
  );
  near.forEach((i, k) => {
    if (joint[k].ok) results[i] = joint[k];
  });
  nearSplits.forEach((k, j) => {
    const r = joint[near.length + j];
    if (r.ok) splits[k].second = r;
  });
  const base = near.length + nearSplits.length;
  const refitted = added.map((a, k) => (joint[base + k].ok ? joint[base + k] : a));
  return { results, added: [...splits.map((p) => p.second), ...refitted] };
}

/**
 * Twice the log-likelihood gain (two emitters against one in the window) that splits a fit.
 * Under the one-emitter hypothesis 2ΔlogL is about χ² with 3 degrees of freedom (x, y, photons of
 * the second emitter); a real PSF is never exactly the model's Gaussian, and that mismatch grows
 * with the photons, so the test also asks each part to hold a share of the light
 * (SPLIT_MIN_SHARE) and to be significant on its own, and scales the threshold by the frame's
 * median deviance per pixel (see splitPairs). 40 was chosen on selection frames (seeds
 * 5 700 000+) with an earlier version of the test: 20 gave more false positives in the default
 * condition, 80 fewer true positives in the sparse ones.
 */
export const SPLIT_THRESHOLD = 40;
/** the fainter part of a split holds at least this share of the pair's photons */
const SPLIT_MIN_SHARE = 0.08;
/** how far (in w) the parts' photon-weighted centroid may lie from the one-emitter fit */
const SPLIT_CENTROID = 0.1;
/**
 * a window holding more of its neighbours' light than the emitter's own is not tested: in dense
 * frames a split there mostly takes an undetected neighbour's light (dense selection frames, before
 * this gate: 174 splits, 186 more false positives and 12 fewer true positives)
 */
const SPLIT_MAX_CROWDING = 1;

interface WindowBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The light of `emitters` (photons in frame units) over the pixels of `box`, row by row. */
function windowLight(
  box: WindowBox,
  emitters: ReadonlyArray<{ x: number; y: number; photons: number; width?: number }>,
  w: number,
): Float64Array {
  const ww = box.x1 - box.x0;
  const wh = box.y1 - box.y0;
  const out = new Float64Array(ww * wh);
  const ax = makeAxis(ww);
  const ay = makeAxis(wh);
  for (const e of emitters) {
    const ew = e.width ?? w;
    if (e.x < box.x0 - 3 * ew - 1 || e.x > box.x1 + 3 * ew + 1 || e.y < box.y0 - 3 * ew - 1 || e.y > box.y1 + 3 * ew + 1) continue;
    profile(ax, box.x0, ww, e.x, ew, false);
    profile(ay, box.y0, wh, e.y, ew, false);
    for (let yy = 0; yy < wh; yy++) for (let xx = 0; xx < ww; xx++) out[yy * ww + xx] += e.photons * ax.e[xx] * ay.e[yy];
  }
  return out;
}

/**
 * Poisson log-likelihood (and deviance) of `frame` in `box` under background `b` plus `light`
 * (windowLight's, frame units; both divided by F inside), the read variance added to data and model.
 */
function windowFit(
  frame: Image,
  box: WindowBox,
  b: number,
  light: Float64Array,
  F: number,
  r2At: (i: number) => number,
): { logL: number; deviance: number; pixels: number } {
  const W = frame.width;
  const ww = box.x1 - box.x0;
  const wh = box.y1 - box.y0;
  let logL = 0;
  let deviance = 0;
  for (let yy = 0; yy < wh; yy++) {
    for (let xx = 0; xx < ww; xx++) {
      const i = (box.y0 + yy) * W + box.x0 + xx;
      const r2 = r2At(i);
      const d = Math.max(0, frame.data[i] / F) + r2;
      const m = (b + light[yy * ww + xx]) / F + r2;
      if (!(m > 0)) return { logL: Number.NEGATIVE_INFINITY, deviance: Number.POSITIVE_INFINITY, pixels: ww * wh };
      logL += d * Math.log(m) - m;
      deviance += 2 * ((d > 0 ? d * Math.log(d / m) : 0) - (d - m));
    }
  }
  return { logL, deviance, pixels: ww * wh };
}

/**
 * The split test (multi-emitter fitting, as in ThunderSTORM's or DAOPHOT's): a fit whose window
 * the one-emitter model explains badly is refitted as two emitters, started on the long axis of
 * its light, and becomes two when twice the log-likelihood gain reaches `splitThreshold` times the
 * frame's model-mismatch factor and both parts are significant. Why: in frames of emitters of
 * different brightness the network merges pairs 1–3 px apart into one detection (sparse
 * spread-brightness selection frames: 12 of 31 misses were 6 such pairs, each also leaving one
 * false positive between them), and the residual search cannot see them, since the merged fit takes
 * their light. Results are changed in place (the first part); the second parts are returned.
 */
function splitPairs(
  frame: Image,
  results: FitResult[],
  kept: number[],
  w: number,
  o: FitOptions,
  threshold: number,
  splitThreshold: number,
  /** at most this many splits */
  maxSplits: number,
): Array<{ i: number; second: FitResult }> {
  if (!(splitThreshold < Number.POSITIVE_INFINITY) || maxSplits <= 0) return [];
  const F = o.excess ?? 1;
  const r2At = readVariance(o, frame.width * frame.height, F);
  const half = Math.max(3, Math.min(MAX_HALF_WINDOW, Math.ceil(1.5 * w) + 2));
  const boxOf = (x: number, y: number): WindowBox => ({
    x0: Math.max(0, Math.floor(x) - half),
    y0: Math.max(0, Math.floor(y) - half),
    x1: Math.min(frame.width, Math.floor(x) + half + 1),
    y1: Math.min(frame.height, Math.floor(y) + half + 1),
  });
  // every emitter known now (fitted or not), in frame units, as the model's light
  const light: Array<{ x: number; y: number; photons: number; width: number }> = kept.map((i) => ({
    x: results[i].x,
    y: results[i].y,
    photons: results[i].photons,
    width: w,
  }));
  const grid = new PointGrid(light, half + Math.ceil(3 * w) + 2);
  // second parts of accepted splits (not in the grid, and few)
  const parts: typeof light = [];
  const others = (k: number, box: WindowBox) => {
    const out: typeof light = [];
    for (const j of grid.near((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)) if (j !== k && light[j].photons > 0) out.push(light[j]);
    const reach = 3 * w + 1;
    for (const p of parts) if (p.x > box.x0 - reach && p.x < box.x1 + reach && p.y > box.y0 - reach && p.y < box.y1 + reach) out.push(p);
    return out;
  };
  const one = kept.map((i, k) => {
    const r = results[i];
    if (!r.ok || !(r.photons / r.sigmaPhotons >= 2 * threshold)) return null;
    const box = boxOf(r.x, r.y);
    const f = windowFit(frame, box, r.background, windowLight(box, [light[k], ...others(k, box)], w), F, r2At);
    return { i, k, box, ...f };
  });
  // Model mismatch, as a factor on the deviance: its median per pixel over the frame's windows.
  // Most windows hold one emitter the model explains, so the median says how well the model
  // fits this frame at all: ≈ 1.06 on the eval's Gaussian frames, sCMOS and EMCCD included,
  // ≈ 2.1 with an Airy PSF (`damn`, 20 selection frames each; sCMOS 3.9 and EMCCD 18 came from
  // fits started 2–20× too faint, fixed in refineLocalizations): a PSF the Gaussian
  // fits less well raises every window's deviance, not only a pair's.
  const ratios = one.flatMap((f) => (f ? [f.deviance / f.pixels] : [])).sort((a, b) => a - b);
  const mismatch = ratios.length >= 5 ? Math.max(1, ratios[ratios.length >> 1]) : 1;
  const limit = splitThreshold * mismatch;
  const out: Array<{ i: number; second: FitResult }> = [];
  for (const f of one) {
    if (!f || out.length >= maxSplits) continue;
    // a window the one-emitter model explains (deviance near its pixel count) has nothing to split
    if (f.deviance - mismatch * f.pixels < limit) continue;
    const r = results[f.i];
    const nb = others(f.k, f.box);
    // the long axis of the light left for this emitter: second moments of data − background − others
    const { x0, y0, x1, y1 } = f.box;
    let sw = 0;
    let mx = 0;
    let my = 0;
    const ws: number[] = [];
    // the neighbours' light, rendered once: for the crowding gate, the moments and the pair's likelihood
    const nbLight = windowLight(f.box, nb, w);
    let nbSum = 0;
    for (const v of nbLight) nbSum += v;
    if (nbSum > SPLIT_MAX_CROWDING * r.photons) continue;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const v = Math.max(0, frame.data[y * frame.width + x] - r.background - nbLight[(y - y0) * (x1 - x0) + (x - x0)]);
        ws.push(v);
        sw += v;
        mx += v * (x + 0.5);
        my += v * (y + 0.5);
      }
    }
    if (!(sw > 0)) continue;
    mx /= sw;
    my /= sw;
    let cxx = 0;
    let cyy = 0;
    let cxy = 0;
    let k = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const v = ws[k++];
        cxx += v * (x + 0.5 - mx) ** 2;
        cyy += v * (y + 0.5 - my) ** 2;
        cxy += v * (x + 0.5 - mx) * (y + 0.5 - my);
      }
    }
    cxx /= sw;
    cyy /= sw;
    cxy /= sw;
    const tr = cxx + cyy;
    const lam = tr / 2 + Math.sqrt(((cxx - cyy) / 2) ** 2 + cxy * cxy);
    const theta = 0.5 * Math.atan2(2 * cxy, cxx - cyy);
    // a single PSF's variance per axis is w²/2 (plus the pixel's 1/12); what is beyond is the split
    const s2 = (w * w) / 2 + 1 / 12;
    const d = Math.max(0.5 * w, 2 * Math.sqrt(Math.max(lam - s2, 0)));
    const ux = Math.cos(theta);
    const uy = Math.sin(theta);
    const starts: FitStart[] = [
      { x: r.x + (ux * d) / 2, y: r.y + (uy * d) / 2, photons: r.photons / 2, free: true },
      { x: r.x - (ux * d) / 2, y: r.y - (uy * d) / 2, photons: r.photons / 2, free: true },
    ];
    const pair = fitGaussians(frame, starts, {
      ...o,
      widthMode: 'fixed',
      width: w,
      priorSigma: undefined,
      maxShift: Math.max(1, w),
      maxShiftAlone: Math.max(1, w),
      mergeDistance: 0,
      passes: 6,
      fixed: nb,
    });
    const [a, b] = pair;
    if (!a.ok || !b.ok) continue;
    const total = a.photons + b.photons;
    if (Math.min(a.photons, b.photons) < SPLIT_MIN_SHARE * total) continue;
    if (!(a.photons / a.sigmaPhotons >= threshold && b.photons / b.sigmaPhotons >= threshold)) continue;
    if (Math.hypot(a.x - b.x, a.y - b.y) < Math.max(0.5, 0.5 * w)) continue;
    // two parts of this emitter's light share its centre; a part that ran off to an unmodelled
    // neighbour's light (crowded frames) moves their centroid
    const cx = (a.x * a.photons + b.x * b.photons) / total;
    const cy = (a.y * a.photons + b.y * b.photons) / total;
    if (Math.hypot(cx - r.x, cy - r.y) > SPLIT_CENTROID * w) continue;
    const pairLight = windowLight(f.box, [a, b], w);
    for (let j = 0; j < pairLight.length; j++) pairLight[j] += nbLight[j];
    const two = windowFit(frame, f.box, (a.background + b.background) / 2, pairLight, F, r2At);
    if (!(2 * (two.logL - f.logL) >= limit)) continue;
    // the part nearer the detection keeps its place in the list
    const [first, second] = Math.hypot(a.x - r.x, a.y - r.y) <= Math.hypot(b.x - r.x, b.y - r.y) ? [a, b] : [b, a];
    results[f.i] = first;
    out.push({ i: f.i, second });
    light[f.k] = { x: first.x, y: first.y, photons: first.photons, width: w };
    parts.push({ x: second.x, y: second.y, photons: second.photons, width: w });
  }
  return out;
}

/** Read variance per pixel index in the fit's units (e⁻², divided by the excess factor). */
function readVariance(o: FitOptions, pixels: number, F: number): (i: number) => number {
  const map = o.readNoiseMap;
  if (map) {
    if (map.length !== pixels) throw new Error(`readNoiseMap has ${map.length} pixels, the frame ${pixels}`);
    const k = (o.readNoiseMapScale ?? 1) ** 2 / F;
    return (i) => map[i] * map[i] * k;
  }
  const r2 = (o.readNoise ?? 0) ** 2 / F;
  return () => r2;
}

/** pixel-integrated 1-D unit Gaussian of width w over pixel offsets −h…h from a pixel centre */
function kernel1d(w: number, h: number): Float64Array {
  const g = new Float64Array(2 * h + 1);
  for (let k = -h; k <= h; k++) g[k + h] = 0.5 * erfDiff((k - 0.5) / w, (k + 0.5) / w);
  return g;
}

/** separable correlation of `src` (W×H) with kx ⊗ ky, valid where the kernel fits (else 0) */
function correlate(src: Float64Array, W: number, H: number, kx: Float64Array, ky: Float64Array): Float64Array {
  const h = (kx.length - 1) >> 1;
  const tmp = new Float64Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = h; x < W - h; x++) {
      let s = 0;
      for (let k = -h; k <= h; k++) s += kx[k + h] * src[y * W + x + k];
      tmp[y * W + x] = s;
    }
  }
  const out = new Float64Array(W * H);
  for (let y = h; y < H - h; y++) {
    for (let x = h; x < W - h; x++) {
      let s = 0;
      for (let k = -h; k <= h; k++) s += ky[k + h] * tmp[(y + k) * W + x];
      out[y * W + x] = s;
    }
  }
  return out;
}

/** Per position along an axis of n px: the sums of the kernel g, of g² and the pixel count over the taps that fall inside. */
function insideSums(g: Float64Array, n: number): { g: Float64Array; g2: Float64Array; n: Float64Array } {
  const h = (g.length - 1) >> 1;
  const out = { g: new Float64Array(n), g2: new Float64Array(n), n: new Float64Array(n) };
  for (let p = 0; p < n; p++) {
    for (let k = Math.max(-h, -p); k <= Math.min(h, n - 1 - p); k++) {
      out.g[p] += g[k + h];
      out.g2[p] += g[k + h] * g[k + h];
      out.n[p]++;
    }
  }
  return out;
}

/**
 * Peaks of the residual (frame − known emitters) that a PSF-shaped emitter explains: score =
 * Σ K·R / √(Σ K²·V) with K the PSF minus its local mean (a flat background scores 0) and V the
 * frame's Poisson (+ read) variance; local maxima ≥ `threshold`, farther than max(1, w) px from
 * every known emitter, carrying ≥ 5% of the photons of any known emitter within 3w + 1 px (a
 * PSF that is not quite Gaussian leaves a few per cent of a bright emitter behind), and no more
 * than twice as sharp as the PSF (hot pixels). Brightest score first.
 *
 * Up to the frame's edge: where the filter's window leaves the frame, K and its mean are taken
 * over the pixels inside only (a least-squares fit of PSF + constant to what the camera saw).
 * Why: a 2-D window needs 1.5w + 2 px on every side, and a search that skipped that border
 * missed every emitter there that the map missed — in the eval's 64 × 64 default-damn selection
 * frames 189 of 500 misses lay within 5.5 px of an edge, and a cropped ROI of a real camera has
 * the same border.
 */
function residualPeaks(
  frame: Image,
  known: ReadonlyArray<FitStart>,
  w: number,
  F: number,
  r2At: (i: number) => number,
  threshold: number,
): FitStart[] {
  const W = frame.width;
  const H = frame.height;
  const h = Math.max(2, Math.ceil(1.5 * w) + 1);
  if (W < 2 * h + 3 || H < 2 * h + 3) return [];
  const m = Math.ceil(3 * w) + 1;
  const g = kernel1d(w, h);
  const g2 = g.map((v) => v * v);
  const box = new Float64Array(2 * h + 1).fill(1);
  const nBox = (2 * h + 1) ** 2;
  let sumG = 0;
  let sumG2 = 0;
  for (const a of g)
    for (const b of g) {
      sumG += a * b;
      sumG2 += a * a * b * b;
    }
  // a window wholly inside the frame: its kernel mean and normalisation
  const gMeanFull = sumG / nBox;
  const normFull = sumG2 - gMeanFull * sumG;
  // a window with less of the PSF inside the frame than this is not scored (a corner's sliver)
  const minInside = 0.3 * sumG;
  const inX = insideSums(g, W);
  const inY = insideSums(g, H);
  // centre over the mean of the 8 around for this PSF, and how much sharper a candidate may be
  const ringG = (4 * g[h] * g[h - 1] + 4 * g[h - 1] * g[h - 1]) / 8;
  const sharpLimit = (2 * (g[h] * g[h])) / ringG;
  // known emitters by cell, for the clearance tests
  const clear = Math.max(1, w);
  const reach = 3 * w + 1;
  const grid = new PointGrid(known, Math.ceil(reach));
  const ax = makeAxis(2 * m + 2);
  const ay = makeAxis(2 * m + 2);
  const out: Array<FitStart & { s: number }> = [];
  // Row bands with a halo, columns padded by the same: the scratch stays a few MB at any frame
  // size (a 4056×3040 frame's whole-frame arrays would be ~1 GB of float64). Padding is outside
  // the frame: R = V = 0 there and the mask M says which pixels were seen.
  const pad = h + 1;
  const PW = W + 2 * pad;
  for (let by0 = 0; by0 < H; by0 += RESIDUAL_BAND_ROWS) {
    const by1 = Math.min(H, by0 + RESIDUAL_BAND_ROWS);
    const top = by0 - pad;
    const BH = by1 + pad - top;
    const R = new Float64Array(PW * BH);
    const V = new Float64Array(PW * BH);
    const M = new Uint8Array(PW * BH);
    const fy0 = Math.max(0, top);
    const fy1 = Math.min(H, top + BH);
    for (let fy = fy0; fy < fy1; fy++) {
      const row = (fy - top) * PW + pad;
      for (let fx = 0; fx < W; fx++) {
        const f = fy * W + fx;
        const d = Math.max(0, frame.data[f] / F);
        R[row + fx] = d;
        V[row + fx] = Math.max(d, 1) + r2At(f);
        M[row + fx] = 1;
      }
    }
    for (const e of known) {
      const y0 = Math.max(fy0, Math.floor(e.y) - m);
      const y1 = Math.min(fy1, Math.floor(e.y) + m + 1);
      if (y0 >= y1) continue;
      const n = e.photons / F;
      const ew = e.width ?? w;
      const x0 = Math.max(0, Math.floor(e.x) - m);
      const x1 = Math.min(W, Math.floor(e.x) + m + 1);
      if (x0 >= x1) continue;
      profile(ax, x0, x1 - x0, e.x, ew, false);
      profile(ay, y0, y1 - y0, e.y, ew, false);
      for (let y = y0; y < y1; y++) {
        const fy = n * ay.e[y - y0];
        const row = (y - top) * PW + pad;
        for (let x = x0; x < x1; x++) R[row + x] -= fy * ax.e[x - x0];
      }
    }
    const gR = correlate(R, PW, BH, g, g);
    const bR = correlate(R, PW, BH, box, box);
    const g2V = correlate(V, PW, BH, g2, g2);
    const gV = correlate(V, PW, BH, g, g);
    const bV = correlate(V, PW, BH, box, box);
    const score = new Float64Array(PW * BH).fill(Number.NEGATIVE_INFINITY);
    const amp = new Float64Array(PW * BH);
    for (let fy = by0; fy < by1; fy++) {
      const nearY = fy < h || fy >= H - h;
      for (let fx = 0; fx < W; fx++) {
        const i = (fy - top) * PW + fx + pad;
        let gMean = gMeanFull;
        let norm = normFull;
        if (nearY || fx < h || fx >= W - h) {
          // the frame is a rectangle, so the kernel's sums over its inside are products of 1-D sums
          const gIn = inX.g[fx] * inY.g[fy];
          if (!(gIn >= minInside)) continue;
          gMean = gIn / (inX.n[fx] * inY.n[fy]);
          norm = inX.g2[fx] * inY.g2[fy] - gMean * gIn;
        }
        const a = gR[i] - gMean * bR[i];
        const v = g2V[i] - 2 * gMean * gV[i] + gMean * gMean * bV[i];
        score[i] = v > 0 ? a / Math.sqrt(v) : 0;
        amp[i] = a / norm;
      }
    }
    for (let fy = by0; fy < by1; fy++) {
      for (let fx = 0; fx < W; fx++) {
        const i = (fy - top) * PW + fx + pad;
        const s = score[i];
        if (!(s >= threshold) || !(amp[i] > 0)) continue;
        let isMax = true;
        for (let dy = -1; dy <= 1 && isMax; dy++)
          for (let dx = -1; dx <= 1; dx++) if ((dx || dy) && score[i + dy * PW + dx] > s) isMax = false;
        if (!isMax) continue;
        const cx = fx + 0.5;
        const cy = fy + 0.5;
        let ok = true;
        for (const j of grid.near(cx, cy)) {
          const e = known[j];
          const d = Math.hypot(e.x - cx, e.y - cy);
          if (d < clear || (d < reach && amp[i] * F < 0.05 * e.photons)) {
            ok = false;
            break;
          }
        }
        // DAOFIND's sharpness test: a hot pixel or a cosmic ray puts its excess in one pixel, a PSF
        // shares it with the 8 around in a known ratio (at the edge: those of the 8 inside)
        let ringSum = 0;
        let ringN = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const k = i + dy * PW + dx;
            if ((dx || dy) && M[k]) {
              ringSum += R[k];
              ringN++;
            }
          }
        const ring = ringSum / ringN;
        if (ok && !(R[i] <= sharpLimit * Math.max(ring, 0) + 3 * Math.sqrt(V[i]))) ok = false;
        if (ok) out.push({ x: cx, y: cy, photons: amp[i] * F, s });
      }
    }
  }
  out.sort((a, b) => b.s - a.s);
  return out.map(({ x, y, photons }) => ({ x, y, photons }));
}
