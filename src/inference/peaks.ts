/**
 * Localizations from a reconstruction: local maxima above a threshold, non-maximum suppression,
 * centroid refinement, photon estimate. Output in camera pixels (Emitter convention).
 *
 * The map arrives tile by tile (a 4056×3040 frame's ×4 map is 790 MB of float32, never held at
 * once): each tile contributes the candidates in its core, reading neighbours from the window it
 * was computed in. A relative threshold needs the whole map's maximum, so a tile keeps what passes
 * its own core maximum — a superset, since the global maximum is at least that — and `finish`
 * applies the real threshold, suppression and photon scale once every tile is in.
 */
import type { Localization } from '../optics/emitter.ts';
import type { Image } from '../optics/image.ts';

/**
 * the daemon's default peak settings (`postprocess` in the config), which the eval, warm-ups and
 * maps-only runs use too: a relative threshold of 0.1 of the map's maximum, peaks at least 2 fine
 * pixels apart. Lowering the threshold to 0.05 or 0.03 changed the selection-frame Jaccard of the
 * shipped emitter models by −0.005 … +0.016 (seeds 5 700 000, 20 frames per condition; a one-off
 * run, not kept as a command), so 0.1 stays
 */
export const PEAK_DEFAULTS = { threshold: 0.1, minDistance: 2 } as const;

export interface PeakOptions {
  /** keep maxima ≥ threshold × the map's maximum (default 0.1) */
  threshold?: number;
  /** an absolute floor on the peak value (default 0) */
  minValue?: number;
  /** peaks closer than this many fine pixels are merged into the brighter (default = scale) */
  minDistance?: number;
  /** half-size in fine pixels of the centroid / photon window (default max(1, round(scale/2))) */
  window?: number;
  /** the map's sum corresponds to this many photons (unit-sum maps × frame photons) */
  totalPhotons?: number;
  /** keep at most this many, brightest first (default unlimited) */
  maxPeaks?: number;
}

/** Localizations as columns: what crosses the worker boundary and the wire for thousands per frame. */
export interface LocalizationColumns {
  count: number;
  /** camera pixels */
  x: Float32Array;
  y: Float32Array;
  photons: Float32Array;
  /** peak value on the unit-sum output grid */
  peak: Float32Array;
  /**
   * Present once the localisations were refined by the frame fit (src/optics/gauss-fit.ts):
   * Cramér–Rao standard deviations of x, y (px) and photons, the local background per pixel and
   * the fitted PSF width w (px). NaN where that localisation's fit failed (its x, y are the map's).
   */
  fit?: {
    sigmaX: Float32Array;
    sigmaY: Float32Array;
    sigmaPhotons: Float32Array;
    background: Float32Array;
    width: Float32Array;
  };
}

export function columnsToList(c: LocalizationColumns): Localization[] {
  return Array.from({ length: c.count }, (_, i) => ({ x: c.x[i], y: c.y[i], photons: c.photons[i], peak: c.peak[i] }));
}

export function listToColumns(list: ReadonlyArray<Localization>): LocalizationColumns {
  const n = list.length;
  const c = { count: n, x: new Float32Array(n), y: new Float32Array(n), photons: new Float32Array(n), peak: new Float32Array(n) };
  list.forEach((l, i) => {
    c.x[i] = l.x;
    c.y[i] = l.y;
    c.photons[i] = l.photons;
    c.peak[i] = l.peak;
  });
  return c;
}

/** A part of the map: values `data` (stride `stride`) whose fine pixel (0,0) sits at (ox, oy) in the map. */
export interface MapPatch {
  data: Float32Array;
  stride: number;
  rows: number;
  ox: number;
  oy: number;
  /** the rectangle of map pixels this patch is responsible for, [x0,x1) × [y0,y1) */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

interface Candidate {
  /** fine-grid position of the maximum */
  px: number;
  py: number;
  value: number;
  /** centroid, fine grid */
  fx: number;
  fy: number;
  /** map mass in the centroid window (un-normalised) */
  mass: number;
}

export class PeakCollector {
  private readonly cands: Candidate[] = [];
  private readonly threshold: number;
  private readonly win: number;

  /** `width`×`height`: the whole map's size (fine grid) */
  constructor(
    private readonly width: number,
    private readonly height: number,
    private readonly scale: number,
    private readonly opts: PeakOptions = {},
  ) {
    this.threshold = opts.threshold ?? PEAK_DEFAULTS.threshold;
    this.win = opts.window ?? Math.max(1, Math.round(scale / 2));
  }

  /** Candidates of one patch. Values ≤ 0 never count; neighbours outside the map are ignored. */
  add(p: MapPatch): void {
    const { data, stride, ox, oy } = p;
    const at = (x: number, y: number) => data[(y - oy) * stride + (x - ox)];
    let coreMax = 0;
    for (let y = p.y0; y < p.y1; y++) {
      for (let x = p.x0; x < p.x1; x++) {
        const v = at(x, y);
        if (v > coreMax) coreMax = v;
      }
    }
    if (!(coreMax > 0)) return;
    const floor = Math.max(this.threshold * coreMax, this.opts.minValue ?? 0);
    const { width: w, height: h, win } = this;
    // the patch must hold one pixel of context (peak test) and `win` (centroid) around its rectangle
    const minX = Math.max(0, ox);
    const minY = Math.max(0, oy);
    const maxX = Math.min(w - 1, ox + stride - 1);
    const maxY = Math.min(h - 1, oy + p.rows - 1);
    for (let y = p.y0; y < p.y1; y++) {
      for (let x = p.x0; x < p.x1; x++) {
        const v = at(x, y);
        if (v < floor || v <= 0) continue;
        let isMax = true;
        for (let dy = -1; dy <= 1 && isMax; dy++) {
          const yy = y + dy;
          if (yy < minY || yy > maxY) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if ((dx === 0 && dy === 0) || xx < minX || xx > maxX) continue;
            if (at(xx, yy) > v) {
              isMax = false;
              break;
            }
          }
        }
        if (!isMax) continue;
        let m = 0;
        let mx = 0;
        let my = 0;
        for (let yy = Math.max(minY, y - win); yy <= Math.min(maxY, y + win); yy++) {
          for (let xx = Math.max(minX, x - win); xx <= Math.min(maxX, x + win); xx++) {
            const u = at(xx, yy);
            if (u > 0) {
              m += u;
              mx += u * xx;
              my += u * yy;
            }
          }
        }
        this.cands.push({ px: x, py: y, value: v, fx: m > 0 ? mx / m : x, fy: m > 0 ? my / m : y, mass: m });
      }
    }
  }

  /**
   * `max` and `sum`: the whole map's maximum and sum (of its clamped values) — the map is
   * divided by `sum` to unit sum, so peak values and masses are too.
   */
  finish(max: number, sum: number): LocalizationColumns {
    const empty = { count: 0, x: new Float32Array(0), y: new Float32Array(0), photons: new Float32Array(0), peak: new Float32Array(0) };
    if (!(max > 0) || !(sum > 0)) return empty;
    const floor = Math.max(this.threshold * max, this.opts.minValue ?? 0);
    const cand = this.cands.filter((c) => c.value >= floor);
    // brightest first; ties by position so the result does not depend on tile order
    cand.sort((a, b) => b.value - a.value || a.py - b.py || a.px - b.px);
    const minDist = this.opts.minDistance ?? this.scale;
    const md2 = minDist * minDist;
    const cell = Math.max(1, Math.ceil(minDist));
    const grid = new Map<number, Candidate[]>();
    const key = (cx: number, cy: number) => cy * 1_000_003 + cx;
    const kept: Candidate[] = [];
    const cap = this.opts.maxPeaks ?? Number.POSITIVE_INFINITY;
    for (const c of cand) {
      if (kept.length >= cap) break;
      const gx = Math.floor(c.px / cell);
      const gy = Math.floor(c.py / cell);
      let close = false;
      for (let dy = -1; dy <= 1 && !close; dy++) {
        for (let dx = -1; dx <= 1 && !close; dx++) {
          for (const k of grid.get(key(gx + dx, gy + dy)) ?? []) {
            const ex = k.px - c.px;
            const ey = k.py - c.py;
            if (ex * ex + ey * ey < md2) {
              close = true;
              break;
            }
          }
        }
      }
      if (close) continue;
      kept.push(c);
      const g = key(gx, gy);
      const list = grid.get(g);
      if (list) list.push(c);
      else grid.set(g, [c]);
    }
    const n = kept.length;
    const out = { count: n, x: new Float32Array(n), y: new Float32Array(n), photons: new Float32Array(n), peak: new Float32Array(n) };
    const perUnit = this.opts.totalPhotons !== undefined ? this.opts.totalPhotons : 1;
    kept.forEach((c, i) => {
      out.x[i] = (c.fx + 0.5) / this.scale;
      out.y[i] = (c.fy + 0.5) / this.scale;
      out.photons[i] = (c.mass / sum) * perUnit;
      out.peak[i] = c.value / sum;
    });
    return out;
  }
}

/**
 * `map` is on a grid `scale`× finer than the camera: fine pixel j's centre is camera coordinate
 * (j + 0.5) / scale. The whole map at once: one patch through the same collector.
 */
export function findPeaks(map: Image, scale: number, opts: PeakOptions = {}): Localization[] {
  const { width: w, height: h, data } = map;
  let max = 0;
  let sum = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v > 0) {
      sum += v;
      if (v > max) max = v;
    }
  }
  const pc = new PeakCollector(w, h, scale, opts);
  pc.add({ data, stride: w, rows: h, ox: 0, oy: 0, x0: 0, x1: w, y0: 0, y1: h });
  // findPeaks reports values on the map's own scale (it may not be unit-sum): undo finish's division
  const c = pc.finish(max, sum);
  for (let i = 0; i < c.count; i++) c.peak[i] *= sum;
  if (opts.totalPhotons === undefined) for (let i = 0; i < c.count; i++) c.photons[i] *= sum;
  return columnsToList(c);
}
