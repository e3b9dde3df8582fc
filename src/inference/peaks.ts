/**
 * Localizations from a reconstruction: local maxima above a threshold, non-maximum suppression,
 * centroid refinement, photon estimate. Output in camera pixels (Emitter convention).
 */
import type { Localization } from '../optics/emitter.ts';
import type { Image } from '../optics/image.ts';

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

/**
 * `map` is on a grid `scale`× finer than the camera: fine pixel j's centre is camera coordinate
 * (j + 0.5) / scale.
 */
export function findPeaks(map: Image, scale: number, opts: PeakOptions = {}): Localization[] {
  const { width: w, height: h, data } = map;
  const minDist = opts.minDistance ?? scale;
  const win = opts.window ?? Math.max(1, Math.round(scale / 2));
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] > max) max = data[i];
    sum += data[i];
  }
  if (!(max > 0)) return [];
  const floor = Math.max((opts.threshold ?? 0.1) * max, opts.minValue ?? 0);
  const cand: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = data[y * w + x];
      if (v < floor || v <= 0) continue;
      let isMax = true;
      for (let dy = -1; dy <= 1 && isMax; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if ((dx === 0 && dy === 0) || xx < 0 || xx >= w) continue;
          if (data[yy * w + xx] > v) {
            isMax = false;
            break;
          }
        }
      }
      if (isMax) cand.push(y * w + x);
    }
  }
  cand.sort((a, b) => data[b] - data[a]);
  const kept: number[] = [];
  const md2 = minDist * minDist;
  for (const c of cand) {
    const cx = c % w;
    const cy = (c - cx) / w;
    let close = false;
    for (const k of kept) {
      const dx = (k % w) - cx;
      const dy = (k - (k % w)) / w - cy;
      if (dx * dx + dy * dy < md2) {
        close = true;
        break;
      }
    }
    if (!close) kept.push(c);
    if (opts.maxPeaks !== undefined && kept.length >= opts.maxPeaks) break;
  }
  const perUnit = opts.totalPhotons !== undefined && sum > 0 ? opts.totalPhotons / sum : 1;
  const out: Localization[] = [];
  for (const c of kept) {
    const px = c % w;
    const py = (c - px) / w;
    let m = 0;
    let mx = 0;
    let my = 0;
    for (let yy = Math.max(0, py - win); yy <= Math.min(h - 1, py + win); yy++) {
      for (let xx = Math.max(0, px - win); xx <= Math.min(w - 1, px + win); xx++) {
        const v = Math.max(data[yy * w + xx], 0);
        m += v;
        mx += v * xx;
        my += v * yy;
      }
    }
    const fx = m > 0 ? mx / m : px;
    const fy = m > 0 ? my / m : py;
    out.push({
      x: (fx + 0.5) / scale,
      y: (fy + 0.5) / scale,
      photons: m * perUnit,
      peak: data[c],
    });
  }
  return out;
}
