/**
 * One frame's heavy path, run inside the engine's worker thread so the daemon's event loop only
 * routes small messages:
 *
 *   preprocess (dark/flat) ▶ contract normalisation ▶ tile plan ▶ network per window
 *     ▶ per tile: sum/max, peak candidates, region renders (and the full map only if asked)
 *     ▶ localisations ▶ PNG encodes of what is due ▶ the result as FITS when due
 *
 * Memory: the frame, one batch of windows and the small renders. The full ×4 map exists only for
 * callers that ask for it (`infer`, `eval`) and for a frame the daemon writes as FITS: that map is
 * encoded here and only the file's bytes leave the worker.
 */

import { type BandGraph, type BandShape, bandShape } from '../inference/band-plan.ts';
import { type PartRunner, runBands } from '../inference/band-run.ts';
import type { HoleReport, HoleSettings } from '../inference/holes.ts';
import { type LocalizationColumns, PeakCollector } from '../inference/peaks.ts';
import {
  type BatchRunner,
  coreRegion,
  MapStats,
  MapStitcher,
  planTiles,
  runTiled,
  type TilePlan,
  type TilePlanOptions,
  type TileWindow,
} from '../inference/tiling.ts';
import type { FitsCard } from '../io/fits.ts';
import { encodeResultFits } from '../io/fits-result.ts';
import { encodePng8Stretched, withPngText } from '../io/png.ts';
import { type Image, makeImage } from '../optics/image.ts';
import { compareWithTrainedRanges, FrameStatsEstimator, type OodFlag, type Photometry, type TrainedRanges } from '../optics/ood.ts';
import { type PostprocessOptions, refineLocalizations, signalPhotons } from './postprocess.ts';
import {
  applySensorWindow,
  type Calibration,
  preprocessInPlace,
  RegionCalibration,
  type SensorWindow,
  sensorReadNoise,
} from './preprocess.ts';
import { type AccumulateSpec, Accumulator, encodeWithin, halve, type Region, RegionRender } from './render.ts';

/**
 * A network run window by window or band by band through its levels (ONNX), or an engine that
 * takes the whole frame (Richardson–Lucy).
 */
export type FrameEngine =
  | { kind: 'windows'; scale: number; tiling: Omit<TilePlanOptions, 'maxWindow'> & { maxWindow: number }; batch: number; run: BatchRunner }
  | { kind: 'bands'; scale: number; graph: BandGraph; multiple: number; memoryBytes: number; run: PartRunner }
  | { kind: 'frame'; scale: number; reconstruct: (frame: Image) => Promise<Image> };

export interface ImageRequest {
  /** camera-pixel region; absent = whole frame */
  region?: Region;
  maxEdge: number;
  maxBytes: number;
}

export interface FrameJob {
  image: Image;
  /** region of interest and binning, applied after dark/flat */
  sensor?: SensorWindow;
  /** the frame is the part of the sensor from here (the source read out the ROI): calibrations are cut to it */
  origin?: { x: number; y: number };
  /** camera photometry: photons in photo-electrons when given */
  photometry?: Photometry;
  /** written into each published PNG as a tEXt "rayleigh" chunk (JSON), with the image's own scale */
  tag?: Record<string, string | number>;
  postprocess: PostprocessOptions;
  /** the 16-bit result image for …/image, when it is due */
  image16?: ImageRequest;
  /** 8-bit previews of the camera frame and the map, for the dashboard */
  previews?: { maxEdge: number; gamma: number };
  /** return the full unit-sum map (one-shot callers) */
  fullMap?: boolean;
  /** keep this frame's localisations for the accumulated render: capture time (ms), frames kept */
  accumulate?: { at: number; keepFrames: number };
  /** render the accumulated localisations now */
  renderAccumulated?: AccumulateRender;
  /** nanohole (unet) models: how holes are picked from the position map and placed on the frame */
  holes?: HoleSettings;
  /** `pipeline.fits`: this frame's result as a FITS file (src/io/fits-result.ts), encoded here */
  fits?: FitsRequest;
}

/** What the FITS encoder needs that the frame path does not know itself. */
export interface FitsRequest {
  /** the camera's header keywords (frame.meta.header), carried into the primary HDU */
  header: FitsCard[];
  seq: number;
  /** capture time, ms since epoch */
  timestamp: number;
  model: { id: string };
  /** a map with more pixels than this is not made: the output says why instead */
  maxPixels: number;
}

/** Why an accumulated render was made: its schedule, or a subscriber's request. */
export type AccumulateTrigger = 'schedule' | 'request';

export interface AccumulateRender extends AccumulateSpec {
  maxBytes: number;
  /** capture time of the frame that renders it: the age cut-off counts from here */
  now: number;
  trigger: AccumulateTrigger;
  /** an 8-bit stretched preview too (for the dashboard), at most `maxEdge` px */
  preview?: { maxEdge: number; gamma: number };
}

export interface EncodedImage {
  png: Uint8Array;
  /** pixel/65535 × max = the unit-sum map summed over a bin×bin block of fine pixels */
  max: number;
  /** fine pixels per image pixel along each axis */
  bin: number;
  region: Region;
  width: number;
  height: number;
  /**
   * frame pixels the image covers exactly, when it is not on the camera grid (the nanohole
   * position map: 2.5λ around the optical axis); `region` is then the enclosing integer rectangle
   */
  extent?: { x: number; y: number; width: number; height: number };
}

/** The accumulated render as published: the 16-bit PNG, what it covers, and why it was made. */
export interface AccumulatedImage extends EncodedImage {
  frames: number;
  localizations: number;
  binsPerPixel: number;
  trigger: AccumulateTrigger;
  /** 8-bit stretched PNG for the dashboard, when asked for */
  preview?: Uint8Array;
}

export interface FrameOutput {
  /** the frame the network saw (after region of interest and binning) */
  input: { width: number; height: number };
  output: { width: number; height: number };
  localizations: LocalizationColumns;
  timings: { preprocess: number; reconstruct: number; postprocess: number; encode: number };
  tiles: number;
  /** network work per frame pixel (≥ 1: halos and alignment; windows count pixels, bands MACs) */
  overhead: number;
  image16?: EncodedImage;
  previews?: { frame: Uint8Array; output: Uint8Array };
  accumulated?: AccumulatedImage;
  map?: Image;
  /** the FITS file asked for by `job.fits`, or why it was not made */
  fits?: { bytes: Uint8Array } | { skipped: string };
  /** the frame compared with the model's trained ranges (absent when the model records none) */
  ood?: OodReport;
  /** nanohole (unet) models: the holes found in the position map */
  holes?: HoleReport;
}

export interface OodReport {
  inRange: boolean;
  flags: OodFlag[];
  /** the estimates, frame units or photo-electrons (see units) */
  psfWidth: number | null;
  background: number;
  photons: number | null;
  density: number;
  units: 'electrons' | 'equivalent-photons';
}

/** A buffer that owns its memory, so it can be transferred (small Node buffers share a pool). */
function own(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b);
}

/** A downscaled camera frame for the dashboard (nearest of block means, min..max stretch). */
function framePreview(frame: Image, maxEdge: number): Image {
  const b = Math.max(1, Math.ceil(Math.max(frame.width, frame.height) / maxEdge));
  const w = Math.ceil(frame.width / b);
  const h = Math.ceil(frame.height / b);
  const out = new Float32Array(w * h);
  const n = new Uint16Array(w * h);
  for (let y = 0; y < frame.height; y++) {
    const row = Math.floor(y / b) * w;
    for (let x = 0; x < frame.width; x++) {
      const i = row + Math.floor(x / b);
      out[i] += frame.data[y * frame.width + x];
      n[i]++;
    }
  }
  for (let i = 0; i < out.length; i++) out[i] /= n[i] || 1;
  return makeImage(w, h, out);
}

export class FramePath {
  private planCache: { key: string; plan: TilePlan } | undefined;
  private shapeCache: { key: string; shape: BandShape } | undefined;
  private noiseCache: { source: Image; flat: Image | undefined; key: string; map: Float32Array } | undefined;
  calibration: Calibration = {};
  private region = new RegionCalibration(this.calibration);
  private accumulator: Accumulator | undefined;
  private readonly estimator = new FrameStatsEstimator();

  /** `trainedRanges`: the model's, from its manifest entry; the guard runs when given */
  constructor(
    private readonly engine: FrameEngine,
    private readonly trainedRanges?: TrainedRanges,
  ) {}

  /** The read-noise map for what the network sees of a raw frame this size (cached), if calibrated. */
  private readNoiseFor(cal: Calibration, width: number, height: number, sensor: SensorWindow | undefined): Float32Array | undefined {
    const map = cal.readNoise;
    if (!map) return undefined;
    if (map.width !== width || map.height !== height) {
      throw new Error(`the read-noise map is ${map.width}x${map.height} but the frame is ${width}x${height}`);
    }
    // keyed by the (possibly cut) map and flat themselves: a region that moves is a new cut
    const key = JSON.stringify(sensor ?? null);
    const c = this.noiseCache;
    if (c && c.source === map && c.flat === cal.flat && c.key === key) return c.map;
    this.noiseCache = { source: map, flat: cal.flat, key, map: sensorReadNoise(map, sensor, cal.flat) };
    return this.noiseCache.map;
  }

  /** The plan for a frame size (cached: sizes rarely change). */
  plan(width: number, height: number): TilePlan | undefined {
    const e = this.engine;
    if (e.kind !== 'windows') return undefined;
    const key = `${width}x${height}`;
    if (this.planCache?.key !== key) this.planCache = { key, plan: planTiles(width, height, e.tiling) };
    return this.planCache.plan;
  }

  async process(job: FrameJob): Promise<FrameOutput> {
    const t0 = performance.now();
    if (this.region.whole !== this.calibration) this.region = new RegionCalibration(this.calibration);
    const cal = this.region.at(job.origin, job.image.width, job.image.height);
    const readNoise = this.readNoiseFor(cal, job.image.width, job.image.height, job.sensor);
    const frame = applySensorWindow(preprocessInPlace(job.image, cal), job.sensor);
    const t1 = performance.now();
    const e = this.engine;
    const s = e.scale;
    const W = frame.width * s;
    const H = frame.height * s;
    const stats = new MapStats(frame.width, frame.height, s);
    const pp = job.postprocess;
    const peaks = new PeakCollector(W, H, s, { threshold: pp.threshold, minDistance: pp.minDistance, maxPeaks: pp.maxLocalizations });
    const renders: RegionRender[] = [];
    const r16 = job.image16 ? new RegionRender(job.image16, frame.width, frame.height, s) : undefined;
    if (r16) renders.push(r16);
    const rPreview = job.previews ? new RegionRender({ maxEdge: job.previews.maxEdge }, frame.width, frame.height, s) : undefined;
    if (rPreview) renders.push(rPreview);
    let fitsSkipped: string | undefined;
    if (job.fits && W * H > job.fits.maxPixels) fitsSkipped = `the ${W}×${H} map exceeds pipeline.fits.maxPixels (${job.fits.maxPixels})`;
    const wantMap = job.fullMap || (job.fits !== undefined && fitsSkipped === undefined);
    const stitch = wantMap ? new MapStitcher(frame.width, frame.height, s) : undefined;
    let inferMs = 0;
    let tiles = 1;
    let overhead = 1;

    const consumeTile = (t: TileWindow, out: Float32Array, ow: number, oh: number) => {
      stats.consume(t, out, ow, oh);
      stitch?.consume(t, out, ow, oh);
      const c = coreRegion(t, s, frame.width, frame.height);
      if (pp.maxLocalizations > 0)
        peaks.add({ data: out, stride: ow, rows: oh, ox: c.ox, oy: c.oy, x0: c.x0, x1: c.x1, y0: c.y0, y1: c.y1 });
      for (const r of renders) r.add(out, ow, c.ox, c.oy, c.x0, c.x1, c.y0, c.y1);
    };

    if (e.kind === 'windows') {
      const plan = this.plan(frame.width, frame.height) as TilePlan;
      tiles = plan.tiles.length;
      overhead = plan.overhead;
      const timedRun: BatchRunner = async (data, n, h, w) => {
        const ti = performance.now();
        const out = await e.run(data, n, h, w);
        inferMs += performance.now() - ti;
        return out;
      };
      await runTiled(frame, { plan, scale: s, batch: e.batch }, timedRun, consumeTile);
    } else if (e.kind === 'bands') {
      const timedRun: PartRunner = async (k, feeds) => {
        const ti = performance.now();
        const out = await e.run(k, feeds);
        inferMs += performance.now() - ti;
        return out;
      };
      // cached like the window plan: frame sizes rarely change, and the shape search is not free
      const key = `${frame.width}x${frame.height}`;
      if (this.shapeCache?.key !== key)
        this.shapeCache = { key, shape: bandShape(e.graph, frame.width, frame.height, e.multiple, e.memoryBytes) };
      const shape = this.shapeCache.shape;
      // one camera pixel beyond each core: the peak test and centroid at a band's edge read it
      const streamed = await runBands(frame, { graph: e.graph, ...shape, multiple: e.multiple, context: 1 }, timedRun, consumeTile);
      tiles = streamed.bands;
      overhead = streamed.overhead;
    } else {
      const ti = performance.now();
      const map = await e.reconstruct(frame);
      inferMs = performance.now() - ti;
      if (map.width !== W || map.height !== H) throw new Error(`engine returned ${map.width}×${map.height}, expected ${W}×${H}`);
      const whole = {
        x: { start: 0, size: frame.width, coreStart: 0, coreEnd: frame.width },
        y: { start: 0, size: frame.height, coreStart: 0, coreEnd: frame.height },
      };
      consumeTile(whole, map.data, W, H);
    }

    const sum = stats.sum;
    const totalPhotons = pp.maxLocalizations > 0 ? signalPhotons(frame, job.photometry) : 0;
    const locs = peaks.finish(stats.max, sum);
    for (let i = 0; i < locs.count; i++) locs.photons[i] *= totalPhotons;
    // one measurement of the frame serves the fit's starting width and the guard
    const frameStats =
      this.trainedRanges || (pp.fit === 'gauss' && locs.count > 0) ? this.estimator.estimate(frame, job.photometry ?? {}) : undefined;
    if (pp.fit === 'gauss') refineLocalizations(frame, locs, job.photometry, frameStats, pp.maxLocalizations, readNoise);
    const t2 = performance.now();

    const result: FrameOutput = {
      input: { width: frame.width, height: frame.height },
      output: { width: W, height: H },
      localizations: locs,
      timings: { preprocess: t1 - t0, reconstruct: inferMs, postprocess: t2 - t1 - inferMs, encode: 0 },
      tiles,
      overhead,
    };
    const map = stitch?.finish(sum);
    if (map && job.fullMap) result.map = map;
    if (this.trainedRanges && frameStats) {
      const v = compareWithTrainedRanges(frameStats, this.trainedRanges);
      result.ood = {
        inRange: v.inRange,
        flags: v.flags,
        psfWidth: frameStats.psfWidth,
        background: frameStats.background,
        photons: frameStats.photons,
        density: frameStats.density,
        units: frameStats.units,
      };
    }
    if (r16 && job.image16) {
      const enc = encodeWithin(r16.finish(sum), job.image16.maxBytes);
      const bin = r16.bin * enc.extraBin;
      const text = JSON.stringify({ ...job.tag, kind: 'image', max: enc.max, bin, region: r16.region });
      result.image16 = {
        png: own(withPngText(enc.png, 'rayleigh', text)),
        max: enc.max,
        bin,
        region: r16.region,
        width: enc.width,
        height: enc.height,
      };
    }
    if (rPreview && job.previews) {
      result.previews = {
        frame: own(encodePng8Stretched(framePreview(frame, job.previews.maxEdge))),
        output: own(encodePng8Stretched(rPreview.finish(sum), job.previews.gamma)),
      };
    }
    if (job.accumulate) {
      if (this.accumulator?.capacity !== job.accumulate.keepFrames) this.accumulator = new Accumulator(job.accumulate.keepFrames);
      this.accumulator.add(locs, job.accumulate.at);
    }
    const ra = job.renderAccumulated;
    if (ra && this.accumulator) {
      const r = this.accumulator.render(ra, frame.width, frame.height, ra.now);
      const enc = encodeWithin(r.image, ra.maxBytes);
      const text = JSON.stringify({
        ...job.tag,
        kind: 'accumulated',
        max: enc.max,
        bin: r.bin * enc.extraBin,
        region: r.region,
        frames: r.frames,
        trigger: ra.trigger,
      });
      result.accumulated = {
        png: own(withPngText(enc.png, 'rayleigh', text)),
        max: enc.max,
        bin: r.bin * enc.extraBin,
        region: r.region,
        width: enc.width,
        height: enc.height,
        frames: r.frames,
        localizations: r.localizations,
        binsPerPixel: ra.binsPerPixel,
        trigger: ra.trigger,
      };
      if (ra.preview) {
        let img = r.image;
        while (Math.max(img.width, img.height) > ra.preview.maxEdge) img = halve(img);
        result.accumulated.preview = own(encodePng8Stretched(img, ra.preview.gamma));
      }
    }
    if (job.fits) {
      const f = job.fits;
      result.fits =
        map && fitsSkipped === undefined
          ? {
              bytes: own(
                encodeResultFits(
                  { seq: f.seq, timestamp: f.timestamp, model: f.model, scale: s, output: map, localizations: locs },
                  f.header,
                ),
              ),
            }
          : { skipped: fitsSkipped ?? 'no map was made' };
    }
    result.timings.encode = performance.now() - t2;
    return result;
  }
}
