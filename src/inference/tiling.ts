/**
 * Overlap-tile inference: a frame larger than a tile is cut into windows of equal size (tile +
 * halo on each side), each window is run through the network, the halos are cropped from the
 * outputs and the cores are stitched. With a halo at least the network's receptive-field radius,
 * the stitched map equals the untiled one up to float rounding, while memory stays bounded by one
 * batch of windows.
 */
import { type Image, makeImage } from '../optics/image.ts';
import { normaliseInput, padToMultiple } from './normalise.ts';

export interface AxisWindow {
  /** window start and size in input pixels */
  start: number;
  size: number;
  /** the part of the window whose output is kept: [coreStart, coreEnd) in frame coordinates */
  coreStart: number;
  coreEnd: number;
}

export interface TileWindow {
  x: AxisWindow;
  y: AxisWindow;
}

export interface TilingOptions {
  /** core tile edge in input pixels; 0 = never tile */
  size: number;
  /** context on each side, ≥ the receptive-field radius */
  halo: number;
  /** windows start at and span multiples of this (pooling networks: 2^levels) */
  multiple: number;
}

const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;

/** Windows along one axis of length `len` (a multiple of `multiple`). */
export function planAxis(len: number, o: TilingOptions): AxisWindow[] {
  const m = Math.max(1, o.multiple);
  // the extra m-1 keeps a full halo after window starts are rounded down to the alignment grid
  const win = roundUp(o.size + 2 * o.halo + m - 1, m);
  if (o.size <= 0 || len <= win) return [{ start: 0, size: len, coreStart: 0, coreEnd: len }];
  const out: AxisWindow[] = [];
  for (let c = 0; c < len; c += o.size) {
    const coreEnd = Math.min(len, c + o.size);
    let start = Math.floor(Math.max(0, c - o.halo) / m) * m;
    start = Math.min(start, len - win);
    out.push({ start, size: win, coreStart: c, coreEnd });
  }
  return out;
}

export function planTiles(width: number, height: number, o: TilingOptions): TileWindow[] {
  const xs = planAxis(width, o);
  const ys = planAxis(height, o);
  return ys.flatMap((y) => xs.map((x) => ({ x, y })));
}

/** Runs a batch of `n` windows of h×w (NCHW, C=1); returns the N×1×(h·s)×(w·s) output. */
export type BatchRunner = (data: Float32Array, n: number, h: number, w: number) => Promise<Float32Array>;

export interface TiledRunOptions extends TilingOptions {
  scale: number;
  /** windows per network call */
  batch: number;
}

/** Contract-normalise `frame`, run it tiled, stitch, crop the padding and normalise to unit sum. */
export async function reconstructTiled(frame: Image, o: TiledRunOptions, run: BatchRunner): Promise<Image> {
  const padded = padToMultiple(normaliseInput(frame), Math.max(1, o.multiple));
  const W = padded.width;
  const s = o.scale;
  const tiles = planTiles(padded.width, padded.height, o);
  const outW = W * s;
  const stitched = new Float32Array(outW * padded.height * s);
  const bw = tiles[0].x.size;
  const bh = tiles[0].y.size;
  const batch = Math.max(1, o.batch);
  for (let b0 = 0; b0 < tiles.length; b0 += batch) {
    const group = tiles.slice(b0, b0 + batch);
    const input = new Float32Array(group.length * bw * bh);
    group.forEach((t, k) => {
      for (let y = 0; y < bh; y++) {
        const row = (t.y.start + y) * W + t.x.start;
        input.set(padded.data.subarray(row, row + bw), k * bw * bh + y * bw);
      }
    });
    const out = await run(input, group.length, bh, bw);
    const ow = bw * s;
    const oh = bh * s;
    if (out.length !== group.length * ow * oh) {
      throw new Error(`model output has ${out.length} values, expected ${group.length}×${oh}×${ow} (scale ${s})`);
    }
    group.forEach((t, k) => {
      const x0 = (t.x.coreStart - t.x.start) * s;
      const x1 = (t.x.coreEnd - t.x.start) * s;
      for (let y = (t.y.coreStart - t.y.start) * s; y < (t.y.coreEnd - t.y.start) * s; y++) {
        const srcRow = k * ow * oh + y * ow;
        const dstRow = (t.y.start * s + y) * outW + t.x.start * s;
        stitched.set(out.subarray(srcRow + x0, srcRow + x1), dstRow + x0);
      }
    });
  }
  // crop the alignment padding, clamp rounding negatives, unit sum
  const w = frame.width * s;
  const h = frame.height * s;
  const result = new Float32Array(w * h);
  let sum = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = Math.max(0, stitched[y * outW + x]);
      result[y * w + x] = v;
      sum += v;
    }
  }
  if (sum > 0) for (let i = 0; i < result.length; i++) result[i] /= sum;
  else result.fill(1 / result.length);
  return makeImage(w, h, result);
}
