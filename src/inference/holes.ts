/**
 * Nanohole post-processing: the U-Net's position map (hole probability on the contract's 2.5λ
 * grid, src/optics/nanohole.ts) → a list of holes with centres in λ and in camera pixels, radii
 * and a count.
 *
 *   threshold ▶ 4-connected components ▶ drop specks ▶ split blobs that are several disks wide
 *
 * Touching holes (centre distance d = 2a) form one blob in a thresholded map. A blob's area says
 * how many disks it holds: k = round(area / (π a²)) with the map's pixel area. A blob of k > 1 disks
 * is split by probability-weighted k-means on its pixels (deterministic farthest-point start), which
 * for two touching disks puts each centre on its disk.
 *
 * Coordinates: map pixel (row i, column j) has its centre at ((j + 0.5 − N/2)·p, (i + 0.5 − N/2)·p) λ,
 * p = extent/N, so the λ origin is the corner shared by the four central pixels (the contract).
 * Camera pixels follow the project's convention (a pixel's centre at index + 0.5): a position x λ
 * is at `centre.x + x / pitch` frame px, where `pitch` is the camera's pixel pitch in λ and
 * `centre` the frame position (px) of the map's λ origin.
 */

import { NANOHOLE } from '../optics/nanohole.ts';

/** The map's grid: N×N pixels over `extent` λ, centred on the λ origin. */
export interface MapGrid {
  size: number;
  extent: number;
}

/** Where the map lies on the camera frame. */
export interface CameraGeometry {
  /** camera pixel pitch, λ per frame pixel (the contract's recorded grid: 22/128) */
  pitch: number;
  /** frame position (px, pixel centres at index + 0.5) of the map's λ origin */
  centre: { x: number; y: number };
}

export interface HoleOptions {
  /** map pixels at or above this probability belong to a hole (default 0.5) */
  threshold?: number;
  /** expected hole radius, λ: sets the disk area used to split blobs */
  holeRadius: number;
  /** components smaller than this fraction of one disk's area are dropped as specks (default 0.25) */
  minFraction?: number;
  /** at most this many holes are reported, largest blobs first (default 64) */
  maxHoles?: number;
  /** split blobs larger than one disk (default true); false: one hole per component */
  split?: boolean;
}

export interface FoundHole {
  /** centre, λ (probability-weighted centroid of its pixels) */
  x: number;
  y: number;
  /** centre, frame pixels (absent without camera geometry) */
  px?: number;
  py?: number;
  /** equivalent-disk radius of its pixels, λ */
  radius: number;
  /** highest probability inside */
  peak: number;
  /** map pixels above threshold */
  area: number;
}

export interface HoleList {
  count: number;
  holes: FoundHole[];
  /** connected components above threshold (before splitting and speck removal) */
  components: number;
}

/** 4-connected components of `mask` (w×h, row-major); labels 1..count, 0 = background. */
export function connectedComponents(mask: Uint8Array, w: number, h: number): { labels: Int32Array; count: number } {
  if (mask.length !== w * h) throw new Error(`mask has ${mask.length} pixels, ${w}×${h} needs ${w * h}`);
  const labels = new Int32Array(w * h);
  const stack = new Int32Array(w * h);
  let count = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    count++;
    labels[start] = count;
    let top = 0;
    stack[top++] = start;
    while (top > 0) {
      const i = stack[--top];
      const x = i % w;
      const y = (i - x) / w;
      const visit = (j: number) => {
        if (mask[j] && !labels[j]) {
          labels[j] = count;
          stack[top++] = j;
        }
      };
      if (x > 0) visit(i - 1);
      if (x < w - 1) visit(i + 1);
      if (y > 0) visit(i - w);
      if (y < h - 1) visit(i + w);
    }
  }
  return { labels, count };
}

/** Pixels of `map` at or above `threshold`, as a 0/1 mask. */
export function thresholdMap(map: ArrayLike<number>, threshold: number): Uint8Array {
  const m = new Uint8Array(map.length);
  for (let i = 0; i < map.length; i++) m[i] = map[i] >= threshold ? 1 : 0;
  return m;
}

/** Connected components of the thresholded map: "how many separate blobs" (the two-hole test). */
export function countComponents(map: ArrayLike<number>, size: number, threshold = 0.5): number {
  return connectedComponents(thresholdMap(map, threshold), size, size).count;
}

interface Pix {
  x: Float64Array;
  y: Float64Array;
  w: Float64Array;
  p: Float64Array;
}

/** Weighted k-means on one blob's pixel centres (λ); returns each pixel's cluster. */
function splitBlob(px: Pix, k: number): Int32Array {
  const n = px.x.length;
  const assign = new Int32Array(n);
  // farthest-point start: from the weighted centroid, then from the centres chosen so far
  let sx = 0;
  let sy = 0;
  let sw = 0;
  for (let i = 0; i < n; i++) {
    sx += px.x[i] * px.w[i];
    sy += px.y[i] * px.w[i];
    sw += px.w[i];
  }
  const cx = new Float64Array(k);
  const cy = new Float64Array(k);
  const nearest = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  let refX = sx / sw;
  let refY = sy / sw;
  for (let c = 0; c < k; c++) {
    let best = 0;
    let bestD = -1;
    for (let i = 0; i < n; i++) {
      const d = c === 0 ? (px.x[i] - refX) ** 2 + (px.y[i] - refY) ** 2 : nearest[i];
      if (d > bestD) {
        bestD = d;
        best = i;
      }
    }
    cx[c] = px.x[best];
    cy[c] = px.y[best];
    refX = cx[c];
    refY = cy[c];
    for (let i = 0; i < n; i++) nearest[i] = Math.min(nearest[i], (px.x[i] - cx[c]) ** 2 + (px.y[i] - cy[c]) ** 2);
  }
  for (let iter = 0; iter < 20; iter++) {
    let moved = false;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestD = Number.POSITIVE_INFINITY;
      for (let c = 0; c < k; c++) {
        const d = (px.x[i] - cx[c]) ** 2 + (px.y[i] - cy[c]) ** 2;
        if (d < bestD) {
          bestD = d;
          best = c;
        }
      }
      if (assign[i] !== best) moved = true;
      assign[i] = best;
    }
    if (!moved && iter > 0) break;
    const ax = new Float64Array(k);
    const ay = new Float64Array(k);
    const aw = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      ax[assign[i]] += px.x[i] * px.w[i];
      ay[assign[i]] += px.y[i] * px.w[i];
      aw[assign[i]] += px.w[i];
    }
    for (let c = 0; c < k; c++) {
      if (aw[c] > 0) {
        cx[c] = ax[c] / aw[c];
        cy[c] = ay[c] / aw[c];
      }
    }
  }
  return assign;
}

/**
 * Holes in a position map (`size`×`size` probabilities over `grid.extent` λ). With `camera`, each
 * hole also gets its centre in frame pixels.
 */
export function findHoles(map: ArrayLike<number>, grid: MapGrid, opts: HoleOptions, camera?: CameraGeometry): HoleList {
  const N = grid.size;
  if (map.length !== N * N) throw new Error(`position map has ${map.length} values, a ${N}×${N} grid needs ${N * N}`);
  if (!(opts.holeRadius > 0)) throw new Error(`hole radius must be positive, got ${opts.holeRadius}`);
  const threshold = opts.threshold ?? 0.5;
  const p = grid.extent / N;
  const diskArea = (Math.PI * opts.holeRadius ** 2) / (p * p);
  const minArea = (opts.minFraction ?? 0.25) * diskArea;
  const maxHoles = opts.maxHoles ?? 64;
  const { labels, count } = connectedComponents(thresholdMap(map, threshold), N, N);
  // pixels per component, gathered in one pass
  const sizes = new Int32Array(count + 1);
  for (let i = 0; i < labels.length; i++) sizes[labels[i]]++;
  const offsets = new Int32Array(count + 2);
  for (let c = 1; c <= count; c++) offsets[c + 1] = offsets[c] + sizes[c];
  const members = new Int32Array(offsets[count + 1]);
  const fill = offsets.slice();
  for (let i = 0; i < labels.length; i++) if (labels[i]) members[fill[labels[i]]++] = i;

  const holes: FoundHole[] = [];
  const coord = (k: number) => (k + 0.5 - N / 2) * p;
  for (let c = 1; c <= count; c++) {
    const n = sizes[c];
    if (n < minArea) continue;
    const px: Pix = { x: new Float64Array(n), y: new Float64Array(n), w: new Float64Array(n), p: new Float64Array(n) };
    for (let m = 0; m < n; m++) {
      const i = members[offsets[c] + m];
      const col = i % N;
      px.x[m] = coord(col);
      px.y[m] = coord((i - col) / N);
      px.p[m] = map[i];
      px.w[m] = Math.max(map[i], 1e-6);
    }
    // at most maxHoles per blob: a map that is one huge blob (a bad frame) costs no more than that
    const k = opts.split === false ? 1 : Math.min(maxHoles, Math.max(1, Math.round(n / diskArea)));
    const assign = k > 1 ? splitBlob(px, k) : new Int32Array(n);
    for (let h = 0; h < k; h++) {
      let sx = 0;
      let sy = 0;
      let sw = 0;
      let area = 0;
      let peak = 0;
      for (let m = 0; m < n; m++) {
        if (assign[m] !== h) continue;
        sx += px.x[m] * px.w[m];
        sy += px.y[m] * px.w[m];
        sw += px.w[m];
        area++;
        if (px.p[m] > peak) peak = px.p[m];
      }
      if (area === 0) continue;
      const hole: FoundHole = { x: sx / sw, y: sy / sw, radius: Math.sqrt(area / Math.PI) * p, peak, area };
      if (camera) {
        hole.px = camera.centre.x + hole.x / camera.pitch;
        hole.py = camera.centre.y + hole.y / camera.pitch;
      }
      holes.push(hole);
    }
  }
  holes.sort((a, b) => b.area - a.area || a.y - b.y || a.x - b.x);
  const kept = holes.slice(0, maxHoles);
  return { count: kept.length, holes: kept, components: count };
}

/** How holes are picked and placed (settings `pipeline.holes`). */
export interface HoleSettings {
  /** camera pixel pitch, λ per frame px */
  pitch: number;
  /** frame position (px) of the optical axis; absent = the frame's centre */
  centre?: { x: number; y: number };
  threshold: number;
  minFraction: number;
  split: boolean;
  maxHoles: number;
}

export const DEFAULT_HOLE_SETTINGS: HoleSettings = {
  pitch: NANOHOLE.inputExtent / NANOHOLE.inputSize,
  threshold: 0.5,
  minFraction: 0.25,
  split: true,
  maxHoles: 64,
};

/** What a frame's meta says about its holes. */
export interface HoleReport extends HoleList {
  threshold: number;
  grid: MapGrid;
  camera: CameraGeometry;
}
