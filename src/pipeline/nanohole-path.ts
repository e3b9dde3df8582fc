/**
 * One frame's path for nanohole (unet) models, in the engine's worker thread like frame-path.ts:
 *
 *   preprocess (dark/flat, roi/binning) ▶ resample onto the recorded grid (128 px over 22λ)
 *     ▶ nanoholeInput() ▶ network (one 128×128 window) ▶ position map (128 px over 2.5λ)
 *     ▶ holes (src/inference/holes.ts) ▶ the PNGs that are due
 *
 * The network is not fully convolutional on the camera grid (22λ in, 2.5λ out on as many pixels),
 * so there is no tiling: the whole recorded field is one window. The holes also go out as the
 * frame's localisations (centres in frame px, photons 0, peak = the hole's highest probability),
 * so ground-truth scoring and the dashboard overlay work as for emitters.
 */

import {
  type CameraGeometry,
  DEFAULT_HOLE_SETTINGS,
  findHoles,
  type HoleReport,
  type HoleSettings,
  type MapGrid,
} from '../inference/holes.ts';
import type { LocalizationColumns } from '../inference/peaks.ts';
import { encodePng8Stretched, withPngText } from '../io/png.ts';
import { type Image, makeImage } from '../optics/image.ts';
import { NANOHOLE, nanoholeInput } from '../optics/nanohole.ts';
import type { FrameJob, FrameOutput } from './frame-path.ts';
import { applySensorWindow, type Calibration, preprocessInPlace, RegionCalibration } from './preprocess.ts';
import { encodeWithin } from './render.ts';

/** The network on one batch of recorded-grid inputs: n × 128 × 128 in, n × 128 × 128 probabilities out. */
export type NanoholeRunner = (data: Float32Array, n: number, h: number, w: number) => Promise<Float32Array>;

export const MAP_GRID: MapGrid = { size: NANOHOLE.mapSize, extent: NANOHOLE.mapExtent };

/**
 * The frame resampled (bilinear) onto the contract's recorded grid: `size` px over `extent` λ centred
 * on `centre`; outside the frame reads 0. Exact copy when the grids coincide.
 */
export function toRecordedGrid(
  frame: Image,
  camera: CameraGeometry,
  size: number = NANOHOLE.inputSize,
  extent: number = NANOHOLE.inputExtent,
): Float32Array {
  const out = new Float32Array(size * size);
  const step = extent / size / camera.pitch;
  const { width: W, height: H, data } = frame;
  const at = (x: number, y: number) => (x >= 0 && y >= 0 && x < W && y < H ? data[y * W + x] : 0);
  for (let i = 0; i < size; i++) {
    // frame index coordinate (pixel centres at integers) of this grid row's centre
    const v = camera.centre.y + (i + 0.5 - size / 2) * step - 0.5;
    const y0 = Math.floor(v);
    const fy = v - y0;
    for (let j = 0; j < size; j++) {
      const u = camera.centre.x + (j + 0.5 - size / 2) * step - 0.5;
      const x0 = Math.floor(u);
      const fx = u - x0;
      let val = at(x0, y0) * (1 - fx) * (1 - fy);
      if (fx > 0) val += at(x0 + 1, y0) * fx * (1 - fy);
      if (fy > 0) val += at(x0, y0 + 1) * (1 - fx) * fy;
      if (fx > 0 && fy > 0) val += at(x0 + 1, y0 + 1) * fx * fy;
      out[i * size + j] = val;
    }
  }
  return out;
}

/** Camera geometry of a frame: the configured pitch and centre (default: the frame's centre). */
export function cameraGeometry(s: HoleSettings, frame: { width: number; height: number }): CameraGeometry {
  return { pitch: s.pitch, centre: s.centre ? { ...s.centre } : { x: frame.width / 2, y: frame.height / 2 } };
}

/** Holes from a position map, placed on the frame. */
export function holesFromMap(map: ArrayLike<number>, s: HoleSettings, camera: CameraGeometry): HoleReport {
  const list = findHoles(
    map,
    MAP_GRID,
    {
      threshold: s.threshold,
      holeRadius: NANOHOLE.holeDiameter / 2,
      minFraction: s.minFraction,
      split: s.split,
      maxHoles: s.maxHoles,
    },
    camera,
  );
  return { ...list, threshold: s.threshold, grid: { ...MAP_GRID }, camera };
}

function holeColumns(r: HoleReport): LocalizationColumns {
  const n = r.count;
  const c: LocalizationColumns = {
    count: n,
    x: new Float32Array(n),
    y: new Float32Array(n),
    photons: new Float32Array(n),
    peak: new Float32Array(n),
  };
  r.holes.forEach((h, i) => {
    c.x[i] = h.px ?? Number.NaN;
    c.y[i] = h.py ?? Number.NaN;
    c.peak[i] = h.peak;
  });
  return c;
}

function own(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b);
}

function stretchPreview(img: Image, maxEdge: number): Image {
  const b = Math.max(1, Math.ceil(Math.max(img.width, img.height) / maxEdge));
  if (b === 1) return img;
  const w = Math.ceil(img.width / b);
  const h = Math.ceil(img.height / b);
  const out = new Float32Array(w * h);
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++) out[Math.floor(y / b) * w + Math.floor(x / b)] += img.data[y * img.width + x];
  return makeImage(w, h, out);
}

export class NanoholePath {
  calibration: Calibration = {};
  private region = new RegionCalibration(this.calibration);

  constructor(private readonly run: NanoholeRunner) {}

  async process(job: FrameJob): Promise<FrameOutput> {
    const t0 = performance.now();
    if (this.region.whole !== this.calibration) this.region = new RegionCalibration(this.calibration);
    const cal = this.region.at(job.origin, job.image.width, job.image.height);
    const frame = applySensorWindow(preprocessInPlace(job.image, cal), job.sensor);
    const settings = job.holes ?? DEFAULT_HOLE_SETTINGS;
    const camera = cameraGeometry(settings, frame);
    const input = nanoholeInput(toRecordedGrid(frame, camera));
    const t1 = performance.now();
    const N = NANOHOLE.inputSize;
    const M = NANOHOLE.mapSize;
    const map = await this.run(input, 1, N, N);
    const t2 = performance.now();
    if (map.length !== M * M) throw new Error(`nanohole model returned ${map.length} values, expected a ${M}×${M} position map`);
    for (let i = 0; i < map.length; i++) {
      if (!Number.isFinite(map[i])) throw new Error(`nanohole model returned a non-finite value at map pixel ${i}`);
    }
    const holes = holesFromMap(map, settings, camera);
    const t3 = performance.now();
    // the session's output buffer; `map` below is a copy because it is transferred to the caller
    const mapImage = makeImage(M, M, map);
    const result: FrameOutput = {
      input: { width: frame.width, height: frame.height },
      output: { width: M, height: M },
      localizations: holeColumns(holes),
      timings: { preprocess: t1 - t0, reconstruct: t2 - t1, postprocess: t3 - t2, encode: 0 },
      tiles: 1,
      overhead: (N * N) / (frame.width * frame.height),
      holes,
    };
    if (job.fullMap) result.map = makeImage(M, M, Float32Array.from(map));
    if (job.image16) {
      const enc = encodeWithin(mapImage, job.image16.maxBytes);
      // the frame pixels the 2.5λ map covers (it is not on the camera grid: `extent` says exactly where)
      const half = NANOHOLE.mapExtent / 2 / camera.pitch;
      const extent = { x: camera.centre.x - half, y: camera.centre.y - half, width: 2 * half, height: 2 * half };
      const region = {
        x: Math.floor(extent.x),
        y: Math.floor(extent.y),
        width: Math.ceil(extent.x + extent.width) - Math.floor(extent.x),
        height: Math.ceil(extent.y + extent.height) - Math.floor(extent.y),
      };
      const text = JSON.stringify({ ...job.tag, kind: 'position-map', max: enc.max, bin: enc.extraBin, extent });
      result.image16 = {
        png: own(withPngText(enc.png, 'rayleigh', text)),
        max: enc.max,
        bin: enc.extraBin,
        region,
        width: enc.width,
        height: enc.height,
        extent,
      };
    }
    if (job.previews) {
      result.previews = {
        frame: own(encodePng8Stretched(stretchPreview(frame, job.previews.maxEdge))),
        output: own(encodePng8Stretched(stretchPreview(mapImage, job.previews.maxEdge), job.previews.gamma)),
      };
    }
    result.timings.encode = performance.now() - t3;
    return result;
  }
}
