import { BOOT_ID } from '../boot.ts';
import type { Frame, FrameSource } from '../camera/types.ts';
import { UserError } from '../errors.ts';
import type { HoleSettings } from '../inference/holes.ts';
import type { Reconstructor } from '../inference/types.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { metaBytesPerLocalization } from '../mqtt/payloads.ts';
import type { OodFlag, Photometry } from '../optics/ood.ts';
import type { AccumulateRender, FrameJob } from './frame-path.ts';
import type { PostprocessOptions } from './postprocess.ts';
import type { Calibration, SensorWindow } from './preprocess.ts';
import { DropOldestQueue } from './queue.ts';
import type { Region } from './render.ts';
import { PublishBudget, RateGate } from './schedule.ts';
import type { FrameResult, ResultSink } from './types.ts';

/**
 * One frame's whole path, on the main thread only as routing:
 *
 *   FrameSource ──push──▶ DropOldestQueue ──take──▶ engine worker (frame-path.ts: preprocess ▶
 *   normalise ▶ tiles ▶ network ▶ localisations ▶ due images) ──▶ sinks (awaited)
 *
 * Capture never waits on reconstruction; when reconstruction or a sink falls behind, the queue
 * drops the oldest frame and counts it. A frame that fails in any stage is counted and logged,
 * and the loop goes on with the next one. Every frame is counted in when it arrives (streamed or
 * captured on request), so frames in ≥ frames out + dropped + errors at every moment.
 */
export interface ImageProducts {
  /** the 16-bit result image: at most `maxRate` per second, `maxEdge` px, `maxBytes` */
  image: { enabled: boolean; maxRate: number; maxEdge: number; maxBytes: number; region?: Region };
  /** the accumulated render of recent localisations, every `everyMs` */
  accumulate: {
    enabled: boolean;
    frames: number;
    seconds: number;
    everyMs: number;
    binsPerPixel?: number;
    maxEdge: number;
    maxBytes: number;
    region?: Region;
  };
  /** dashboard previews, when a dashboard is running */
  previews?: { everyMs: number; maxEdge: number; gamma: number };
  /** the stream's average MQTT budget for everything it publishes, bytes/s */
  bytesPerSecond: number;
}

export interface PipelineOptions {
  stream: string;
  queueSize: number;
  reconstructor: Reconstructor;
  postprocess: PostprocessOptions;
  /** nanohole (unet) models: hole picking and the camera geometry (`pipeline.holes`) */
  holes?: HoleSettings;
  calibration?: Calibration;
  sinks?: ResultSink[];
  products?: ImageProducts;
  /** camera.roi / camera.binning */
  sensor?: SensorWindow;
  /** camera.photometry: photons in photo-electrons */
  photometry?: Photometry;
  /**
   * called once when frames start falling outside the model's trained ranges, and once when they
   * are back inside (one event per episode, not per frame): an episode starts after
   * OOD_EPISODE_FRAMES flagged frames in a row and ends after as many in range, and the call
   * names the first frame of that run
   */
  onOutOfRange?: (e: { inRange: boolean; seq: number; flags: OodFlag[] }) => void;
  /**
   * `pipeline.fits`: frames encoded as FITS in the engine worker (the map never reaches this
   * thread); `write` gets the file's bytes and is awaited, like the sinks
   */
  fits?: { maxRate: number; maxPixels: number; write: (r: FrameResult, fits: Uint8Array) => Promise<unknown> };
  log?: Logger;
}

export interface PipelineStats {
  framesIn: number;
  framesOut: number;
  dropped: number;
  errors: number;
  queueDepth: number;
  streaming: boolean;
  /** frames per second the engine sustains at the current frame size (from its busy time) */
  sustainableFps: number;
  /** images skipped because the byte budget had no room */
  imagesSkipped: number;
  /** frames whose estimated PSF width, photons, background or density lay outside the model's trained ranges */
  outOfRange: number;
  /** pipeline.fits: files written, and frames due that were not (map over maxPixels, nanohole model, write failed) */
  fits?: { written: number; skipped: number; failed: number };
  lastError?: string;
}

/**
 * A subscriber's request for the accumulated render (the render_accumulated command): each field
 * overrides `products.accumulate`'s, within its bounds (no more bytes, pixels or frames than the
 * device is configured to publish and keep).
 */
export interface AccumulatedRequest {
  region?: Region;
  maxEdge?: number;
  maxBytes?: number;
  frames?: number;
  seconds?: number;
  binsPerPixel?: number;
}

interface PendingRender {
  spec: Omit<AccumulateRender, 'now'>;
  /** seq of the frame rendering it, while one does */
  claimedBy?: number;
  resolve: (r: FrameResult) => void;
  reject: (e: Error) => void;
}

interface Queued {
  frame: Frame;
  enqueuedAt: number;
}

const NO_PRODUCTS: ImageProducts = {
  image: { enabled: false, maxRate: 0, maxEdge: 1, maxBytes: 1 },
  accumulate: { enabled: false, frames: 0, seconds: 0, everyMs: 0, maxEdge: 1, maxBytes: 1 },
  bytesPerSecond: Number.POSITIVE_INFINITY,
};

/**
 * Frames in a row that start or end an out-of-range episode. Why not 1: on the simulated
 * instrument's blinking scenes, single near-empty frames (density below the trained range) made
 * 11 out_of_range episodes in 69 frames, each with its event, while the field was in range.
 */
export const OOD_EPISODE_FRAMES = 3;
const META_BYTES_BASE = 600;
/** One hole in the meta's `holes` list (λ and px centres, radius, peak, keys). */
const META_BYTES_PER_HOLE = 100;

/** Where a result's frame sits on the sensor: frame pixel (0, 0) at sensor (x, y), `binning` sensor px per frame px. */
interface SensorPlacement {
  x: number;
  y: number;
  binning: number;
}

/**
 * What is left to cut of the configured window (`camera.roi`, `camera.binning`) from a frame that
 * starts at sensor `origin` (a source that read out a region), and where the result sits on the
 * sensor. A camera that read out exactly the ROI leaves only the binning; one that read out some
 * other region (a driver's own subframe) has the ROI cut from it, relative to where it starts.
 */
export function windowFor(
  w: SensorWindow | undefined,
  origin: { x: number; y: number } | undefined,
  frame: { width: number; height: number },
): { cut: SensorWindow | undefined; at: SensorPlacement } {
  const binning = w?.binning ?? 1;
  const roi = w?.roi;
  if (!origin) return { cut: w, at: { x: roi?.x ?? 0, y: roi?.y ?? 0, binning } };
  if (!roi) return { cut: binning > 1 ? { binning } : undefined, at: { x: origin.x, y: origin.y, binning } };
  const rel = { x: roi.x - origin.x, y: roi.y - origin.y, width: roi.width, height: roi.height };
  if (rel.x < 0 || rel.y < 0 || rel.x + rel.width > frame.width || rel.y + rel.height > frame.height) {
    throw new Error(
      `camera.roi ${roi.x},${roi.y} ${roi.width}×${roi.height} is not inside the ${frame.width}×${frame.height} region the camera read out from sensor (${origin.x}, ${origin.y})`,
    );
  }
  const exact = rel.x === 0 && rel.y === 0 && rel.width === frame.width && rel.height === frame.height;
  return { cut: exact ? (binning > 1 ? { binning } : undefined) : { roi: rel, binning }, at: { x: roi.x, y: roi.y, binning } };
}

/** Ground truth (sensor pixels) in the cropped, binned frame's pixels, dropping what falls outside. */
function toFramePixels(truth: Frame['truth'], at: SensorPlacement, frame: { width: number; height: number }): Frame['truth'] {
  if (!truth || (at.x === 0 && at.y === 0 && at.binning === 1)) return truth;
  return truth
    .map((e) => ({ ...e, x: (e.x - at.x) / at.binning, y: (e.y - at.y) / at.binning }))
    .filter((e) => e.x >= 0 && e.y >= 0 && e.x < frame.width && e.y < frame.height);
}

export class Pipeline {
  private queue: DropOldestQueue<Queued>;
  private source: FrameSource | null = null;
  private loop: Promise<void> | null = null;
  private recon: Reconstructor;
  private readonly sinks: ResultSink[];
  private readonly log: Logger;
  private framesIn = 0;
  private framesOut = 0;
  private errors = 0;
  private lastError: string | undefined;
  private droppedBefore = 0;
  private imagesSkipped = 0;
  private outOfRange = 0;
  private oodEpisode = false;
  /** frames in a row that disagree with oodEpisode, from the first one's seq and flags */
  private oodRun: { frames: number; seq: number; flags: OodFlag[] } = { frames: 0, seq: 0, flags: [] };
  /** exponential mean of the engine's busy time per frame, ms */
  private busyMs = 0;
  private readonly products: ImageProducts;
  private readonly imageGate: RateGate;
  private readonly accumulateGate: RateGate;
  private readonly previewGate: RateGate;
  private readonly fitsGate: RateGate;
  private readonly fitsCount = { written: 0, skipped: 0, failed: 0 };
  private fitsSkipWarned = false;
  private readonly budget: PublishBudget;
  private nextWaiters: Array<{ resolve: (r: FrameResult) => void; reject: (e: Error) => void }> = [];
  private pendingRender: PendingRender | undefined;
  private calibrationValue: Calibration;
  postprocessOptions: PostprocessOptions;
  holeSettings: HoleSettings | undefined;

  constructor(private readonly opts: PipelineOptions) {
    this.recon = opts.reconstructor;
    this.sinks = opts.sinks ?? [];
    this.log = opts.log ?? silentLogger;
    this.calibrationValue = opts.calibration ?? {};
    if (opts.calibration) this.recon.setCalibration(opts.calibration);
    this.postprocessOptions = opts.postprocess;
    this.holeSettings = opts.holes;
    this.queue = new DropOldestQueue<Queued>(opts.queueSize);
    this.products = opts.products ?? NO_PRODUCTS;
    const p = this.products;
    this.imageGate = new RateGate(p.image.maxRate > 0 ? Math.floor(1000 / p.image.maxRate) : Number.POSITIVE_INFINITY);
    this.accumulateGate = new RateGate(p.accumulate.everyMs);
    this.previewGate = new RateGate(p.previews?.everyMs ?? Number.POSITIVE_INFINITY);
    this.fitsGate = new RateGate(opts.fits ? Math.floor(1000 / opts.fits.maxRate) : Number.POSITIVE_INFINITY);
    const burst = Math.max(p.image.enabled ? p.image.maxBytes : 0, p.accumulate.enabled ? p.accumulate.maxBytes : 0, META_BYTES_BASE) * 2;
    this.budget = new PublishBudget(p.bytesPerSecond, burst);
  }

  get reconstructor(): Reconstructor {
    return this.recon;
  }

  get calibration(): Calibration {
    return this.calibrationValue;
  }

  set calibration(cal: Calibration) {
    this.calibrationValue = cal;
    this.recon.setCalibration(cal);
  }

  /** Takes effect from the next frame; the caller closes the old one when it wants. */
  setReconstructor(r: Reconstructor): Reconstructor {
    const old = this.recon;
    this.recon = r;
    r.setCalibration(this.calibrationValue);
    return old;
  }

  addSink(s: ResultSink): void {
    this.sinks.push(s);
  }

  get streaming(): boolean {
    return this.source !== null;
  }

  /**
   * The accumulated render, now: the next frame processed (streamed or captured) renders it as
   * soon as the byte budget has room for its `maxBytes`, and the promise resolves with that
   * frame's result once the sinks have published it. One request at a time; `signal` withdraws it.
   */
  requestAccumulated(req: AccumulatedRequest = {}, signal?: AbortSignal): Promise<FrameResult> {
    const a = this.products.accumulate;
    if (!a.enabled) return Promise.reject(new UserError('the accumulated render is off (pipeline.accumulate.enabled: false)'));
    const over = (key: 'maxEdge' | 'maxBytes' | 'frames', limit: number): UserError | undefined => {
      const v = req[key];
      return v !== undefined && v > limit
        ? new UserError(`${key} ${v} exceeds this device's pipeline.accumulate.${key} (${limit}): a request may ask for less, not more`)
        : undefined;
    };
    const refused = over('maxBytes', a.maxBytes) ?? over('maxEdge', a.maxEdge) ?? over('frames', a.frames);
    if (refused) return Promise.reject(refused);
    if (this.pendingRender)
      return Promise.reject(new UserError('an accumulated render is already pending; ask again once it is published'));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<FrameResult>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.pendingRender === pending) this.pendingRender = undefined;
        reject(signal?.reason as Error);
      };
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      const pending: PendingRender = {
        spec: {
          frames: req.frames ?? a.frames,
          seconds: req.seconds ?? a.seconds,
          binsPerPixel: req.binsPerPixel ?? a.binsPerPixel ?? this.recon.scale,
          region: req.region ?? a.region,
          maxEdge: req.maxEdge ?? a.maxEdge,
          maxBytes: req.maxBytes ?? a.maxBytes,
          trigger: 'request',
        },
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pendingRender = pending;
    });
  }

  async start(source: FrameSource): Promise<void> {
    if (this.source) throw new Error('pipeline is already streaming');
    this.queue = new DropOldestQueue<Queued>(this.opts.queueSize);
    this.source = source;
    this.loop = this.run(this.queue);
    try {
      await source.start(
        (frame) => {
          this.framesIn++;
          this.queue.push({ frame, enqueuedAt: performance.now() });
        },
        (err) => {
          this.lastError = `source: ${err.message}`;
          this.log.warn({ err: err.message }, 'frame source error');
        },
      );
    } catch (e) {
      this.source = null;
      this.queue.close();
      await this.loop;
      this.loop = null;
      throw e;
    }
  }

  /** Stop capture; with drain (default) the queued frames are still processed and published. */
  async stop(opts: { drain?: boolean } = {}): Promise<void> {
    const src = this.source;
    if (!src) return;
    this.source = null;
    try {
      await src.stop();
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'frame source did not stop cleanly');
    }
    if (opts.drain === false) this.queue.clear();
    this.queue.close();
    await this.loop;
    this.droppedBefore += this.queue.dropped;
    this.queue = new DropOldestQueue<Queued>(this.opts.queueSize);
    this.loop = null;
    for (const w of this.nextWaiters.splice(0)) w.reject(new Error('streaming stopped before the next frame'));
    const render = this.pendingRender;
    this.pendingRender = undefined;
    render?.reject(new UserError('streaming stopped before the accumulated render was made'));
  }

  /** Process one frame now, outside the stream (capture command, one-shot use). */
  async processOne(frame: Frame): Promise<FrameResult> {
    this.framesIn++;
    try {
      return await this.process(frame, performance.now());
    } catch (e) {
      this.errors++;
      this.lastError = `frame ${frame.seq}: ${(e as Error).message}`;
      throw e;
    }
  }

  /** The next result the stream produces (capture while streaming: the frame is not processed twice). */
  nextResult(timeoutMs = 30_000): Promise<FrameResult> {
    if (!this.streaming) return Promise.reject(new Error('not streaming'));
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      const t = setTimeout(() => {
        this.nextWaiters = this.nextWaiters.filter((x) => x !== w);
        reject(new Error(`no frame came out of the stream within ${timeoutMs} ms`));
      }, timeoutMs);
      t.unref();
      this.nextWaiters.push({
        resolve: (r) => {
          clearTimeout(t);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
    });
  }

  stats(): PipelineStats {
    return {
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      dropped: this.dropped,
      errors: this.errors,
      queueDepth: this.queue.depth,
      streaming: this.streaming,
      sustainableFps: this.busyMs > 0 ? 1000 / this.busyMs : 0,
      imagesSkipped: this.imagesSkipped,
      outOfRange: this.outOfRange,
      ...(this.opts.fits ? { fits: { ...this.fitsCount } } : {}),
      lastError: this.lastError,
    };
  }

  get dropped(): number {
    return this.droppedBefore + this.queue.dropped;
  }

  private async run(queue: DropOldestQueue<Queued>): Promise<void> {
    for (;;) {
      const item = await queue.take();
      if (!item) return;
      try {
        const r = await this.process(item.frame, item.enqueuedAt);
        for (const w of this.nextWaiters.splice(0)) w.resolve(r);
      } catch (e) {
        this.errors++;
        this.lastError = `frame ${item.frame.seq}: ${(e as Error).message}`;
        this.log.error({ seq: item.frame.seq, err: (e as Error).message }, 'frame failed');
      }
    }
  }

  /** What this frame should carry besides its localisations: decided here, produced in the worker. */
  private job(frame: Frame, cut: SensorWindow | undefined): FrameJob {
    const p = this.products;
    const now = Date.now();
    const job: FrameJob = {
      image: frame.image,
      sensor: cut,
      origin: frame.origin,
      photometry: this.opts.photometry,
      postprocess: this.postprocessOptions,
      tag: { stream: this.opts.stream, seq: frame.seq, boot: BOOT_ID },
    };
    // only the nanohole (unet) path reads them
    if (this.holeSettings) job.holes = this.holeSettings;
    if (p.image.enabled && this.imageGate.due(now) && this.budget.has(p.image.maxBytes, now)) {
      job.image16 = { region: p.image.region, maxEdge: p.image.maxEdge, maxBytes: p.image.maxBytes };
      this.imageGate.mark(now);
    } else if (p.image.enabled && this.imageGate.due(now)) {
      this.imagesSkipped++;
      this.imageGate.mark(now);
    }
    const a = p.accumulate;
    if (a.enabled) {
      job.accumulate = { at: frame.timestamp, keepFrames: a.frames };
      const preview = p.previews ? { maxEdge: p.previews.maxEdge, gamma: p.previews.gamma } : undefined;
      const asked = this.pendingRender;
      if (asked && asked.claimedBy === undefined && this.budget.has(asked.spec.maxBytes, now)) {
        asked.claimedBy = frame.seq;
        job.renderAccumulated = { ...asked.spec, now: frame.timestamp, preview };
        this.accumulateGate.mark(now);
      } else if (this.accumulateGate.due(now) && this.budget.has(a.maxBytes, now)) {
        job.renderAccumulated = {
          frames: a.frames,
          seconds: a.seconds,
          binsPerPixel: a.binsPerPixel ?? this.recon.scale,
          region: a.region,
          maxEdge: a.maxEdge,
          maxBytes: a.maxBytes,
          now: frame.timestamp,
          trigger: 'schedule',
          preview,
        };
        this.accumulateGate.mark(now);
      }
    }
    if (p.previews && this.previewGate.due(now)) {
      job.previews = { maxEdge: p.previews.maxEdge, gamma: p.previews.gamma };
      this.previewGate.mark(now);
    }
    const fits = this.opts.fits;
    if (fits && this.fitsGate.due(now)) {
      this.fitsGate.mark(now);
      // the map's size is known only after the worker's region of interest and binning: it checks maxPixels
      if (this.recon.task === 'unet') this.fitsSkipped(frame.seq, 'nanohole (unet) models publish holes, not a localisation table');
      else
        job.fits = {
          header: frame.meta?.header ?? [],
          seq: frame.seq,
          timestamp: frame.timestamp,
          model: { id: this.recon.id },
          maxPixels: fits.maxPixels,
        };
    }
    return job;
  }

  private fitsSkipped(seq: number, why: string): void {
    this.fitsCount.skipped++;
    if (!this.fitsSkipWarned) this.log.warn({ seq }, `pipeline.fits: not written: ${why}`);
    this.fitsSkipWarned = true;
  }

  private trackOutOfRange(inRange: boolean, seq: number, flags: OodFlag[]): void {
    if (!inRange) this.outOfRange++;
    // the frame agrees with the episode state: any run of frames that disagreed is over
    if (inRange === !this.oodEpisode) {
      this.oodRun.frames = 0;
      return;
    }
    if (this.oodRun.frames === 0) this.oodRun = { frames: 0, seq, flags };
    if (++this.oodRun.frames < OOD_EPISODE_FRAMES) return;
    const start = this.oodRun;
    this.oodEpisode = !inRange;
    this.oodRun = { frames: 0, seq: 0, flags: [] };
    try {
      this.opts.onOutOfRange?.({ inRange, seq: start.seq, flags: inRange ? [] : start.flags });
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'out-of-range listener failed');
    }
  }

  private async process(frame: Frame, enqueuedAt: number): Promise<FrameResult> {
    const t0 = performance.now();
    const recon = this.recon;
    const { cut, at: placement } = windowFor(this.opts.sensor, frame.origin, frame.image);
    const job = this.job(frame, cut);
    const asked = job.renderAccumulated?.trigger === 'request' ? this.pendingRender : undefined;
    let out: Awaited<ReturnType<Reconstructor['process']>>;
    try {
      out = await recon.process(job);
    } catch (e) {
      // the request waits for the next frame
      if (asked && this.pendingRender === asked) asked.claimedBy = undefined;
      throw e;
    }
    const t1 = performance.now();
    const busy = out.timings.preprocess + out.timings.reconstruct + out.timings.postprocess + out.timings.encode;
    this.busyMs = this.busyMs === 0 ? busy : 0.8 * this.busyMs + 0.2 * busy;
    const locs = out.localizations;
    const result: FrameResult = {
      stream: this.opts.stream,
      seq: frame.seq,
      timestamp: frame.timestamp,
      source: frame.source,
      model: { id: recon.id, fingerprint: recon.fingerprint, provider: recon.provider },
      input: out.input,
      sensor: placement,
      output: out.output,
      scale: recon.scale,
      localizations: locs,
      timings: {
        queue: t0 - enqueuedAt,
        preprocess: out.timings.preprocess,
        reconstruct: out.timings.reconstruct,
        postprocess: out.timings.postprocess,
        encode: out.timings.encode,
        total: t1 - enqueuedAt,
      },
      dropped: this.dropped,
      tiles: out.tiles,
      overhead: out.overhead,
      truth: toFramePixels(frame.truth, placement, out.input),
      image: out.image16,
      accumulated: out.accumulated,
      previews: out.previews,
      ood: out.ood,
      camera: frame.meta,
    };
    if (out.holes) result.holes = out.holes;
    if (out.ood) this.trackOutOfRange(out.ood.inRange, frame.seq, out.ood.flags);
    this.budget.spend(
      META_BYTES_BASE +
        locs.count * metaBytesPerLocalization(locs.fit !== undefined, 'typical') +
        (out.holes?.count ?? 0) * META_BYTES_PER_HOLE +
        (out.image16?.png.byteLength ?? 0) +
        (out.accumulated?.png.byteLength ?? 0),
    );
    this.framesOut++;
    await Promise.all(
      this.sinks.map(async (s) => {
        try {
          await s.publish(result);
        } catch (e) {
          this.log.error({ err: (e as Error).message }, 'result sink failed');
        }
      }),
    );
    if (out.fits && 'skipped' in out.fits) this.fitsSkipped(frame.seq, out.fits.skipped);
    else if (out.fits && this.opts.fits) {
      try {
        await this.opts.fits.write(result, out.fits.bytes);
        this.fitsCount.written++;
      } catch (e) {
        this.fitsCount.failed++;
        this.log.error({ seq: frame.seq, err: (e as Error).message }, 'pipeline.fits: write failed');
      }
    }
    if (asked && this.pendingRender === asked) {
      this.pendingRender = undefined;
      asked.resolve(result);
    }
    return result;
  }
}
