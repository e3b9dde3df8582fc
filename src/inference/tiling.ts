/**
 * Overlap-tile inference. A frame is cut into windows of one size; each window is run through the
 * network, and only its core — the part at least a receptive-field radius away from any window
 * edge that is not also a frame edge — is kept. With a halo of the receptive-field radius and
 * windows aligned to the network's pooling multiple, the kept cores equal untiled inference up to
 * float rounding, while memory stays bounded by one window.
 *
 * Why equal windows rather than equal cores: a window at the frame edge needs context on one side
 * only, so with one window size the edge windows get the larger cores and nothing beyond the
 * halos is computed twice. The planner takes the fewest windows not larger than `maxWindow` on
 * each axis, then shrinks them to the smallest size that still covers the axis: the network runs
 * about as many pixels per second in a 512–640 px window as on a whole 1456×1088 frame
 * (bench/results/bench-1456x1088-deployed.json), so what a plan costs is its halos.
 */
import { type Image, makeImage } from '../optics/image.ts';

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

export interface TilePlanOptions {
  /** largest window edge in input pixels, halo included; 0 = one window for the whole frame */
  maxWindow: number;
  /** context each core needs on every side that is not a frame edge: the receptive-field radius */
  halo: number;
  /** window starts and sizes are multiples of this (pooling networks: 2^levels) */
  multiple: number;
  /** budget for one window's activations in bytes (0 = none), with the model's bytes per input pixel */
  memoryBytes?: number;
  bytesPerPixel?: number;
}

export interface TilePlan {
  /** the frame as the network sees it: padded up to the multiple */
  width: number;
  height: number;
  windowWidth: number;
  windowHeight: number;
  tiles: TileWindow[];
  /** input pixels the network processes per frame over pixels in the (padded) frame, ≥ 1 */
  overhead: number;
}

const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;
const roundDown = (v: number, m: number) => Math.floor(v / m) * m;

/**
 * Windows of one size along an axis of length `len` (a multiple of `multiple`), at most `maxWindow`
 * long: the fewest that cover it with aligned starts and full halos between neighbours.
 */
export function planAxis(len: number, maxWindow: number, halo: number, multiple: number): AxisWindow[] {
  const m = Math.max(1, multiple);
  if (len % m !== 0) throw new Error(`axis length ${len} is not a multiple of ${m}`);
  const cap = roundDown(maxWindow, m);
  if (maxWindow <= 0 || len <= cap) return [{ start: 0, size: len, coreStart: 0, coreEnd: len }];
  // neighbours must overlap by 2·halo; rounding starts down to the grid can widen a gap by m − 1
  const minWindow = roundUp(2 * halo + m, m);
  if (cap < minWindow) throw new Error(`tile window ${maxWindow} px is too small for a ${halo} px halo (needs ≥ ${minWindow})`);
  for (let n = 2; ; n++) {
    // the smallest aligned window for which n windows cover len with full overlaps
    let w = roundUp(Math.ceil((len + 2 * halo * (n - 1)) / n), m);
    for (; w <= cap; w += m) {
      const starts = evenStarts(len, w, n, m);
      if (starts.every((s, k) => k === 0 || s - starts[k - 1] <= w - 2 * halo)) return axisWindows(starts, w, len, halo);
    }
  }
}

function evenStarts(len: number, w: number, n: number, m: number): number[] {
  const span = len - w;
  return Array.from({ length: n }, (_, k) => (k === n - 1 ? span : roundDown((k * span) / (n - 1), m)));
}

function axisWindows(starts: number[], w: number, len: number, halo: number): AxisWindow[] {
  return starts.map((start, k) => {
    // core boundaries halfway through each overlap: both sides keep at least a halo of context
    const lo = k === 0 ? 0 : Math.floor((start + halo + (starts[k - 1] + w - halo)) / 2);
    const hi = k === starts.length - 1 ? len : Math.floor((starts[k + 1] + halo + (start + w - halo)) / 2);
    return { start, size: w, coreStart: lo, coreEnd: hi };
  });
}

export function planTiles(width: number, height: number, o: TilePlanOptions): TilePlan {
  const m = Math.max(1, o.multiple);
  const W = roundUp(width, m);
  const H = roundUp(height, m);
  let maxWindow = o.maxWindow;
  // a memory budget caps the window's area; keep shrinking the cap until the plan fits it
  // (maxWindow 0 asks for no tiling at all, whatever the budget)
  for (;;) {
    const xs = planAxis(W, maxWindow, o.halo, m);
    const ys = planAxis(H, maxWindow, o.halo, m);
    const ww = xs[0].size;
    const wh = ys[0].size;
    const bytes = ww * wh * (o.bytesPerPixel ?? 0);
    const tooBig = maxWindow > 0 && o.memoryBytes && o.bytesPerPixel && bytes > o.memoryBytes;
    const next = roundDown(Math.max(ww, wh) - m, m);
    if (tooBig && next >= roundUp(2 * o.halo + m, m)) {
      maxWindow = next;
      continue;
    }
    const tiles = ys.flatMap((y) => xs.map((x) => ({ x, y })));
    return { width: W, height: H, windowWidth: ww, windowHeight: wh, tiles, overhead: (tiles.length * ww * wh) / (W * H) };
  }
}

/** Runs a batch of `n` windows of h×w (NCHW, C=1); returns the N×1×(h·s)×(w·s) output. */
export type BatchRunner = (data: Float32Array, n: number, h: number, w: number) => Promise<Float32Array>;

/** Receives each window's output once: `out` is the whole window on the fine grid (ow × oh). */
export type TileConsumer = (t: TileWindow, out: Float32Array, ow: number, oh: number) => void;

export interface TiledRunOptions {
  plan: TilePlan;
  scale: number;
  /** windows per network call */
  batch: number;
}

/**
 * The contract normalisation (minimum subtracted, unit sum × H·W/2500) as one affine map, so each
 * window is normalised as it is cut out and no normalised copy of the whole frame is made.
 */
export function contractAffine(frame: Image): { offset: number; gain: number } {
  const d = frame.data;
  let min = Number.POSITIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v < min) min = v;
    sum += v;
  }
  const shifted = sum - min * d.length;
  const k = (frame.width * frame.height) / 2500;
  // a flat frame has no emitters: the contract's uniform map
  return shifted > 0 ? { offset: min, gain: k / shifted } : { offset: min, gain: 0 };
}

/**
 * Frame pixels [x0, x0 + w) × [y0, y0 + h) mapped by the contract's affine into `into` (row-major,
 * `w` wide, from `at`). Pixels beyond the frame are left as they are: zero in a fresh array, as if
 * the normalised frame had been zero-padded.
 */
export function cutNormalised(
  frame: Image,
  a: { offset: number; gain: number },
  x0: number,
  y0: number,
  w: number,
  h: number,
  into: Float32Array,
  at = 0,
): void {
  const fw = frame.width;
  const xEnd = Math.min(fw, x0 + w);
  const yEnd = Math.min(frame.height, y0 + h);
  for (let y = y0; y < yEnd; y++) {
    const src = y * fw;
    const dst = at + (y - y0) * w - x0;
    for (let x = x0; x < xEnd; x++) into[dst + x] = (frame.data[src + x] - a.offset) * a.gain;
  }
}

/**
 * Normalise, cut into the plan's windows, run, and hand every window's output to `consume`, in
 * plan order. Pixels beyond the frame (alignment padding) are zero after normalisation, as if
 * the normalised frame had been zero-padded.
 */
export async function runTiled(frame: Image, o: TiledRunOptions, run: BatchRunner, consume: TileConsumer): Promise<void> {
  const { plan } = o;
  const affine = contractAffine(frame);
  const bw = plan.windowWidth;
  const bh = plan.windowHeight;
  const batch = Math.max(1, o.batch);
  const s = o.scale;
  for (let b0 = 0; b0 < plan.tiles.length; b0 += batch) {
    const group = plan.tiles.slice(b0, b0 + batch);
    const input = new Float32Array(group.length * bw * bh);
    for (const [k, t] of group.entries()) cutNormalised(frame, affine, t.x.start, t.y.start, bw, bh, input, k * bw * bh);
    const out = await run(input, group.length, bh, bw);
    const ow = bw * s;
    const oh = bh * s;
    if (out.length !== group.length * ow * oh) {
      throw new Error(`model output has ${out.length} values, expected ${group.length}×${oh}×${ow} (scale ${s})`);
    }
    for (let k = 0; k < group.length; k++) consume(group[k], out.subarray(k * ow * oh, (k + 1) * ow * oh), ow, oh);
  }
}

/** The core of one window's output, clamped at 0, on the fine grid of the (unpadded) frame. */
export interface CoreRegion {
  /** fine-grid rectangle [x0, x1) × [y0, y1) in frame coordinates, clipped to the frame */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  /** offset of the window's fine-grid origin in frame coordinates */
  ox: number;
  oy: number;
}

export function coreRegion(t: TileWindow, scale: number, frameWidth: number, frameHeight: number): CoreRegion {
  return {
    x0: t.x.coreStart * scale,
    x1: Math.min(t.x.coreEnd, frameWidth) * scale,
    y0: t.y.coreStart * scale,
    y1: Math.min(t.y.coreEnd, frameHeight) * scale,
    ox: t.x.start * scale,
    oy: t.y.start * scale,
  };
}

/** Stitch cores into the full fine-grid map, clamped at 0 and normalised to unit sum. */
export class MapStitcher {
  readonly map: Float32Array;
  readonly width: number;
  readonly height: number;

  constructor(
    private readonly frameWidth: number,
    private readonly frameHeight: number,
    private readonly scale: number,
  ) {
    this.width = frameWidth * scale;
    this.height = frameHeight * scale;
    this.map = new Float32Array(this.width * this.height);
  }

  readonly consume: TileConsumer = (t, out, ow) => {
    const c = coreRegion(t, this.scale, this.frameWidth, this.frameHeight);
    for (let y = c.y0; y < c.y1; y++) {
      const src = (y - c.oy) * ow - c.ox;
      const dst = y * this.width;
      for (let x = c.x0; x < c.x1; x++) {
        const v = out[src + x];
        this.map[dst + x] = v > 0 ? v : 0;
      }
    }
  };

  /** Divide by `sum` (the whole map's, known once every tile is in). */
  finish(sum: number): Image {
    if (sum > 0) for (let i = 0; i < this.map.length; i++) this.map[i] /= sum;
    else this.map.fill(1 / this.map.length);
    return makeImage(this.width, this.height, this.map);
  }
}

/** Sum and maximum of the clamped cores: what unit-sum normalisation and relative thresholds need. */
export class MapStats {
  sum = 0;
  max = 0;

  constructor(
    private readonly frameWidth: number,
    private readonly frameHeight: number,
    private readonly scale: number,
  ) {}

  readonly consume: TileConsumer = (t, out, ow) => {
    const c = coreRegion(t, this.scale, this.frameWidth, this.frameHeight);
    let sum = 0;
    let max = this.max;
    for (let y = c.y0; y < c.y1; y++) {
      const src = (y - c.oy) * ow - c.ox;
      for (let x = c.x0; x < c.x1; x++) {
        const v = out[src + x];
        if (v > 0) {
          sum += v;
          if (v > max) max = v;
        }
      }
    }
    this.sum += sum;
    this.max = max;
  };
}

/** Convenience for callers that want the whole map: normalise, tile, run, stitch, unit sum. */
export async function reconstructTiled(frame: Image, o: TiledRunOptions, run: BatchRunner): Promise<Image> {
  const stitch = new MapStitcher(frame.width, frame.height, o.scale);
  const stats = new MapStats(frame.width, frame.height, o.scale);
  await runTiled(frame, o, run, (t, out, ow, oh) => {
    stitch.consume(t, out, ow, oh);
    stats.consume(t, out, ow, oh);
  });
  return stitch.finish(stats.sum);
}
