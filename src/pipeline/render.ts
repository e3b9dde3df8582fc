/**
 * Images a subscriber can afford: a region of the super-resolved map (a region of interest, or
 * the whole field) sum-binned until it fits a pixel budget, built tile by tile so the full ×4 map
 * of a large sensor is never held; and the accumulated render, recent localisations histogrammed
 * on a fine grid (what SMLM and lucky-imaging users look at).
 */

import type { LocalizationColumns } from '../inference/peaks.ts';
import { encodePng16 } from '../io/png.ts';
import { type Image, makeImage } from '../optics/image.ts';

/** A rectangle in camera pixels. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface RegionRenderSpec {
  /** camera-pixel rectangle; absent = the whole frame */
  region?: Region;
  /** longest edge of the rendered image in pixels; the map is sum-binned by an integer factor to fit */
  maxEdge: number;
}

/** Clip a region to the frame; throws when nothing is left. */
export function clipRegion(r: Region | undefined, frameWidth: number, frameHeight: number): Region {
  if (!r) return { x: 0, y: 0, width: frameWidth, height: frameHeight };
  const x0 = Math.max(0, Math.floor(r.x));
  const y0 = Math.max(0, Math.floor(r.y));
  const x1 = Math.min(frameWidth, Math.ceil(r.x + r.width));
  const y1 = Math.min(frameHeight, Math.ceil(r.y + r.height));
  if (x1 <= x0 || y1 <= y0)
    throw new Error(`region ${r.x},${r.y} ${r.width}×${r.height} lies outside the ${frameWidth}×${frameHeight} frame`);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The integer factor that bins a w×h grid to fit within maxEdge on its longer side. */
export function binFactor(w: number, h: number, maxEdge: number): number {
  return Math.max(1, Math.ceil(Math.max(w, h) / Math.max(1, maxEdge)));
}

/** Accumulates the part of the fine map inside a region, sum-binned by `bin`. */
export class RegionRender {
  readonly region: Region;
  readonly bin: number;
  readonly width: number;
  readonly height: number;
  private readonly acc: Float32Array;
  /** fine-grid origin of the region */
  private readonly fx0: number;
  private readonly fy0: number;

  constructor(spec: RegionRenderSpec, frameWidth: number, frameHeight: number, scale: number) {
    this.region = clipRegion(spec.region, frameWidth, frameHeight);
    const fw = this.region.width * scale;
    const fh = this.region.height * scale;
    this.bin = binFactor(fw, fh, spec.maxEdge);
    this.width = Math.ceil(fw / this.bin);
    this.height = Math.ceil(fh / this.bin);
    this.acc = new Float32Array(this.width * this.height);
    this.fx0 = this.region.x * scale;
    this.fy0 = this.region.y * scale;
  }

  /** Add map values of the rectangle [x0,x1)×[y0,y1) (fine grid), read from `data` whose (0,0) is (ox, oy). */
  add(data: Float32Array, stride: number, ox: number, oy: number, x0: number, x1: number, y0: number, y1: number): void {
    const rx1 = this.fx0 + this.width * this.bin;
    const ry1 = this.fy0 + this.height * this.bin;
    const ax0 = Math.max(x0, this.fx0);
    const ax1 = Math.min(x1, rx1);
    const ay0 = Math.max(y0, this.fy0);
    const ay1 = Math.min(y1, ry1);
    if (ax1 <= ax0 || ay1 <= ay0) return;
    const b = this.bin;
    for (let y = ay0; y < ay1; y++) {
      const src = (y - oy) * stride - ox;
      const dst = Math.floor((y - this.fy0) / b) * this.width;
      for (let x = ax0; x < ax1; x++) {
        const v = data[src + x];
        if (v > 0) this.acc[dst + Math.floor((x - this.fx0) / b)] += v;
      }
    }
  }

  /** The rendered image divided by `sum` (the whole map's sum, so values stay on the unit-sum scale × bin²). */
  finish(sum: number): Image {
    const out = this.acc;
    if (sum > 0) for (let i = 0; i < out.length; i++) out[i] /= sum;
    return makeImage(this.width, this.height, out);
  }
}

/** 16-bit PNG scaled so the maximum is 65535; halves the image until it fits `maxBytes`. */
export function encodeWithin(img: Image, maxBytes: number): { png: Buffer; max: number; extraBin: number; width: number; height: number } {
  let cur = img;
  let extra = 1;
  for (;;) {
    let max = 0;
    for (let i = 0; i < cur.data.length; i++) if (cur.data[i] > max) max = cur.data[i];
    const png = encodePng16(cur, { max });
    if (png.length <= maxBytes || (cur.width <= 1 && cur.height <= 1))
      return { png, max, extraBin: extra, width: cur.width, height: cur.height };
    cur = halve(cur);
    extra *= 2;
  }
}

/** 2×2 sum-binning (odd edges keep their last row/column). */
export function halve(img: Image): Image {
  const w = Math.ceil(img.width / 2);
  const h = Math.ceil(img.height / 2);
  const out = new Float32Array(w * h);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) out[(y >> 1) * w + (x >> 1)] += img.data[y * img.width + x];
  }
  return makeImage(w, h, out);
}

export interface AccumulateSpec {
  /** localisations of the last `frames` frames and at most `seconds` old */
  frames: number;
  seconds: number;
  /** histogram bins per camera pixel (the model's scale shows what it resolves) */
  binsPerPixel: number;
  region?: Region;
  maxEdge: number;
}

interface Batch {
  at: number;
  x: Float32Array;
  y: Float32Array;
  photons: Float32Array;
}

/** Recent localisations, bounded by frame count and age; rendered as a photon-weighted histogram. */
export class Accumulator {
  private batches: Batch[] = [];
  private locs = 0;

  constructor(readonly capacity: number) {}

  add(c: LocalizationColumns, at: number): void {
    if (this.capacity <= 0) return;
    this.batches.push({ at, x: c.x.slice(0, c.count), y: c.y.slice(0, c.count), photons: c.photons.slice(0, c.count) });
    this.locs += c.count;
    while (this.batches.length > this.capacity) this.locs -= (this.batches.shift() as Batch).x.length;
  }

  get frames(): number {
    return this.batches.length;
  }

  get localizations(): number {
    return this.locs;
  }

  clear(): void {
    this.batches = [];
    this.locs = 0;
  }

  render(
    spec: AccumulateSpec,
    frameWidth: number,
    frameHeight: number,
    now: number,
  ): { image: Image; frames: number; localizations: number; bin: number; region: Region } {
    const region = clipRegion(spec.region, frameWidth, frameHeight);
    const fine = Math.max(1, spec.binsPerPixel);
    const bin = binFactor(region.width * fine, region.height * fine, spec.maxEdge);
    const perPx = fine / bin;
    const w = Math.max(1, Math.ceil(region.width * perPx));
    const h = Math.max(1, Math.ceil(region.height * perPx));
    const img = new Float32Array(w * h);
    const cutoff = now - spec.seconds * 1000;
    let frames = 0;
    let n = 0;
    for (const b of this.batches.slice(-spec.frames)) {
      if (b.at < cutoff) continue;
      frames++;
      for (let i = 0; i < b.x.length; i++) {
        const ix = Math.floor((b.x[i] - region.x) * perPx);
        const iy = Math.floor((b.y[i] - region.y) * perPx);
        if (ix < 0 || iy < 0 || ix >= w || iy >= h) continue;
        img[iy * w + ix] += b.photons[i] > 0 ? b.photons[i] : 0;
        n++;
      }
    }
    return { image: makeImage(w, h, img), frames, localizations: n, bin, region };
  }
}
