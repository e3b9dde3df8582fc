import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import type { Image } from '../optics/image.ts';
import { RichardsonLucy } from '../optics/richardson-lucy.ts';
import type { FrameJob, FrameOutput } from '../pipeline/frame-path.ts';
import type { FrameWorkerInit, FrameWorkerReply, FrameWorkerRequest, TilingReport } from '../pipeline/frame-worker.ts';
import type { Calibration } from '../pipeline/preprocess.ts';
import type { LoadedModel } from './manifest.ts';
import { PEAK_DEFAULTS } from './peaks.ts';
import type { ProviderType } from './providers.ts';
import { describeRuntime, probeNativeRuntime, type RuntimeReport } from './runtime/index.ts';
import type { TilePlanOptions } from './tiling.ts';
import type { Reconstructor } from './types.ts';
import { PIXEL_WORKER_LIMITS, workerEntry } from './worker-entry.ts';

export interface OnnxEngineOptions {
  provider: ProviderType;
  threads: number;
  /**
   * mode (default trained): windows of the size the model holds its accuracy on (manifest
   * `frameWindow`; bands for a model without it), bands through the network's levels, or overlap windows;
   * window 0 = the whole frame in one run
   */
  tile: { mode?: 'trained' | 'bands' | 'windows'; window: number; memoryMB: number; halo?: number };
  /** windows per network call (default 1, or as many trained-size windows as the memory budget holds) */
  batch?: number;
  memoryArena?: boolean;
  log?: Logger;
}

export interface RlEngineOptions {
  psf: string;
  iterations: number;
  tolerance: number;
  scale: number;
}

/** Bytes of activations per window pixel assumed when the manifest does not record a measurement. */
const DEFAULT_BYTES_PER_PIXEL = 1024;
/**
 * context (px) each trained-size window keeps round its core: a window's core is then at least
 * this far from the edge the network sees. Of 4 and 8 with 64-px windows, 8 did as well for
 * `damn` and better for `damn-realism`, and 64-px windows better than 72 or 80 (512 × 512
 * selection frames, 2 per condition, map → fit; a one-off comparison, not kept as a command)
 */
const TRAINED_HALO = 8;

/** windows of the trained size per run: as many as the activation budget holds, 1…32 */
function trainedBatch(t: TilePlanOptions): number {
  const perWindow = t.maxWindow * t.maxWindow * (t.bytesPerPixel ?? DEFAULT_BYTES_PER_PIXEL);
  return Math.max(1, Math.min(32, Math.floor((t.memoryBytes ?? 0) / perWindow)));
}

/**
 * The main thread's handle on an engine worker (src/pipeline/frame-worker.ts): one class for
 * every engine, so closing, crashing and pending-request bookkeeping are written once.
 */
export class WorkerEngine implements Reconstructor {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (o: FrameOutput) => void; reject: (err: Error) => void }>();
  private dead: Error | undefined;
  private closing = false;

  private constructor(
    private readonly worker: Worker,
    readonly id: string,
    readonly scale: number,
    readonly fingerprint: string,
    readonly provider: string,
    /** the tiling the engine will use, for logs and health */
    readonly tiling: TilePlanOptions | undefined,
    /** what runs the model (runtime, provider, why it fell back), for health; absent for RL */
    readonly runtime: RuntimeReport | undefined,
    /** the manifest's task (damn for Richardson–Lucy): unet engines return position maps and holes */
    readonly task: 'damn' | 'unet' = 'damn',
    /** how frames are cut for the network: bands (with their parts) or windows (and why, when bands were asked for) */
    readonly tilingMode: TilingReport = { mode: 'windows' },
  ) {
    worker.on('message', (msg: FrameWorkerReply) => {
      if (msg.type !== 'processed' && msg.type !== 'error') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.type === 'processed') p.resolve(msg.out);
      else p.reject(new Error(`${this.id}: ${msg.error}`));
    });
    worker.on('error', (err) => this.fail(new Error(`${this.id}: engine worker crashed: ${err.message}`)));
    worker.on('exit', () => this.fail(new Error(`${this.id}: engine worker has exited`)));
  }

  private fail(err: Error): void {
    this.dead ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  static async onnx(model: LoadedModel, o: OnnxEngineOptions): Promise<WorkerEngine> {
    const e = model.entry;
    const mode = o.tile.mode ?? 'trained';
    // trained: windows of the model's frameWindow, each with its own zero-padded edge, as in training
    const frameWindow = mode === 'trained' && o.tile.window !== 0 ? e.frameWindow : undefined;
    const trained = frameWindow !== undefined;
    // one camera pixel beyond the receptive field: the peak test and centroid window at a core's
    // edge read their neighbours from the same window, and those must be exact too
    const halo = o.tile.halo ?? (trained ? TRAINED_HALO : e.receptiveField + 1);
    if (!trained && halo < e.receptiveField) {
      o.log?.warn(
        { model: e.id, halo, receptiveField: e.receptiveField },
        'tile halo is smaller than the receptive field: tile seams will show',
      );
    }
    // probed here once per process (cached), so a model switch does not spawn the probe again
    const nativeProbe = o.provider === 'wasm' ? undefined : await probeNativeRuntime({ threads: o.threads });
    const tiling: TilePlanOptions = {
      maxWindow: frameWindow ?? o.tile.window,
      halo,
      multiple: e.input.multiple,
      memoryBytes: o.tile.memoryMB * 1024 * 1024,
      bytesPerPixel: e.activationBytesPerPixel ?? DEFAULT_BYTES_PER_PIXEL,
    };
    const init: FrameWorkerInit = {
      kind: 'onnx',
      task: e.task,
      model: model.bytes,
      provider: o.provider,
      nativeProbe,
      threads: o.threads,
      inputName: e.input.name,
      outputName: e.output.name,
      memoryArena: o.memoryArena ?? true,
      scale: e.output.scale,
      tiling,
      bands: (mode === 'bands' || (mode === 'trained' && !trained)) && o.tile.window !== 0,
      bandBytesPerPixel: e.bandBytesPerPixel,
      // trained-size windows are small: several per run, as many as the memory budget holds (≤ 32);
      // 8 or 32 per run took 6–9 % less network time at 1456 × 1088 than one (a one-off run)
      batch: o.batch ?? (trained ? trainedBatch(tiling) : 1),
      trainedRanges: e.trainedRanges,
    };
    const { worker, ready } = await start(init, e.id);
    const runtime = ready.runtime;
    const say = runtime?.fellBack.length ? o.log?.warn.bind(o.log) : o.log?.info.bind(o.log);
    const plan = ready.tiling ?? { mode: 'windows' as const };
    say?.(
      { model: e.id, runtime, tiling: plan, maxWindow: tiling.maxWindow, halo, memoryMB: o.tile.memoryMB },
      runtime ? describeRuntime(runtime) : `inference runs on ${ready.provider}`,
    );
    if (plan.mode === 'windows' && plan.why) {
      o.log?.warn({ model: e.id, why: plan.why }, 'the network cannot run in bands: overlap windows instead');
    }
    return new WorkerEngine(worker, e.id, e.output.scale, model.sha256, ready.provider, tiling, runtime, e.task, plan);
  }

  static async rl(o: RlEngineOptions): Promise<WorkerEngine> {
    // a bad PSF spec is the user's mistake: say so here, not from the thread; same fingerprint as in-thread RL
    const fingerprint = new RichardsonLucy(o.psf, o).fingerprint;
    const { worker } = await start({ kind: 'rl', ...o }, 'rl');
    return new WorkerEngine(worker, 'rl', o.scale, fingerprint, 'js', undefined, undefined);
  }

  process(job: FrameJob): Promise<FrameOutput> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.closing) return Promise.reject(new Error(`${this.id}: engine closed`));
    const id = this.nextId++;
    // copy: the buffer is transferred to the worker and the caller keeps its frame
    const data = new Float32Array(job.image.data);
    const msg: FrameWorkerRequest = {
      type: 'process',
      id,
      job: { ...job, image: { width: job.image.width, height: job.image.height, data } },
    };
    return new Promise<FrameOutput>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(msg, [data.buffer as ArrayBuffer]);
    });
  }

  async reconstruct(frame: Image): Promise<Image> {
    const out = await this.process({ image: frame, fullMap: true, postprocess: { ...PEAK_DEFAULTS, maxLocalizations: 0 } });
    if (!out.map) throw new Error(`${this.id}: engine returned no map`);
    return out.map;
  }

  setCalibration(calibration: Calibration): void {
    if (!this.dead) this.worker.postMessage({ type: 'calibration', calibration } satisfies FrameWorkerRequest);
  }

  /**
   * Frames already sent may finish within `graceMs` (a model swap must not cost the frame in
   * flight); whatever is still pending then is rejected, so no caller waits forever.
   */
  async close(graceMs = 5000): Promise<void> {
    if (this.dead || this.closing) return;
    this.closing = true;
    if (this.pending.size > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        const check = setInterval(() => {
          if (this.pending.size === 0) {
            clearTimeout(t);
            clearInterval(check);
            resolve();
          }
        }, 10);
        t.unref();
      });
    }
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.fail(new Error(`${this.id}: engine closed`));
    this.worker.postMessage({ type: 'close' } satisfies FrameWorkerRequest);
    const timeout = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timeout);
  }
}

async function start(init: FrameWorkerInit, id: string): Promise<{ worker: Worker; ready: Extract<FrameWorkerReply, { type: 'ready' }> }> {
  const entry = workerEntry(import.meta.url, '../pipeline/frame-worker');
  const worker = new Worker(entry.spec, { workerData: init, eval: entry.eval, resourceLimits: PIXEL_WORKER_LIMITS });
  const ready = await new Promise<Extract<FrameWorkerReply, { type: 'ready' }>>((resolve, reject) => {
    const onMessage = (msg: FrameWorkerReply) => {
      if (msg.type === 'ready') resolve(msg);
      else if (msg.type === 'failed') reject(new Error(`${id}: ${msg.error}`));
      else return;
      cleanup();
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new Error(`${id}: engine worker failed to start: ${err.message}`));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`${id}: engine worker exited during start (code ${code})`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  }).catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });
  return { worker, ready };
}
