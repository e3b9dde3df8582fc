import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import { type Image, makeImage } from '../optics/image.ts';
import type { WorkerInit, WorkerReply, WorkerRequest } from './onnx-worker.ts';
import type { ProviderType } from './providers.ts';
import type { LoadedModel } from './registry.ts';
import { describeRuntime, probeNativeRuntime, type RuntimeReport } from './runtime/index.ts';
import type { Reconstructor } from './types.ts';
import { workerEntry } from './worker-entry.ts';

export interface OnnxReconstructorOptions {
  provider: ProviderType;
  threads: number;
  tile: { size: number; halo?: number };
  /** windows per network call (default 1: on a CPU batching buys little and multiplies peak memory) */
  batch?: number;
  log?: Logger;
}

/** An ONNX model behind the Reconstructor interface; the session lives in a worker thread. */
export class OnnxReconstructor implements Reconstructor {
  readonly id: string;
  readonly scale: number;
  readonly fingerprint: string;
  readonly provider: string;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (img: Image) => void; reject: (err: Error) => void }>();
  private dead: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    model: LoadedModel,
    provider: string,
    /** what runs (runtime, provider, why it fell back), for health */
    readonly runtime: RuntimeReport,
  ) {
    this.id = model.entry.id;
    this.scale = model.entry.output.scale;
    this.fingerprint = model.sha256;
    this.provider = provider;
    worker.on('message', (msg: WorkerReply) => {
      if (msg.type !== 'result' && msg.type !== 'error') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.type === 'result') p.resolve(makeImage(msg.width, msg.height, msg.data));
      else p.reject(new Error(`${this.id}: ${msg.error}`));
    });
    const fail = (err: Error) => {
      this.dead ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(new Error(`${this.id}: inference worker crashed: ${err.message}`)));
    worker.on('exit', () => fail(new Error(`${this.id}: inference worker has exited`)));
  }

  static async create(model: LoadedModel, o: OnnxReconstructorOptions): Promise<OnnxReconstructor> {
    const e = model.entry;
    const halo = o.tile.halo ?? e.receptiveField;
    if (halo < e.receptiveField) {
      o.log?.warn(
        { model: e.id, halo, receptiveField: e.receptiveField },
        'tile halo is smaller than the receptive field: tile seams will show',
      );
    }
    // probed here once per process (cached), so a model switch does not spawn the probe again
    const nativeProbe = o.provider === 'wasm' ? undefined : await probeNativeRuntime({ threads: o.threads });
    const init: WorkerInit = {
      model: model.bytes,
      provider: o.provider,
      nativeProbe,
      threads: o.threads,
      inputName: e.input.name,
      outputName: e.output.name,
      tiling: { size: o.tile.size, halo, multiple: e.input.multiple, scale: e.output.scale, batch: o.batch ?? 1 },
    };
    const entry = workerEntry(import.meta.url, 'onnx-worker');
    const worker = new Worker(entry.spec, { workerData: init, eval: entry.eval });
    const ready = await new Promise<Extract<WorkerReply, { type: 'ready' }>>((resolve, reject) => {
      const onMessage = (msg: WorkerReply) => {
        if (msg.type === 'ready') resolve(msg);
        else if (msg.type === 'failed') reject(new Error(`${e.id}: ${msg.error}`));
        else return;
        cleanup();
      };
      const onError = (err: Error) => {
        cleanup();
        reject(new Error(`${e.id}: inference worker failed to start: ${err.message}`));
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`${e.id}: inference worker exited during start (code ${code})`));
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
    // a fallback is worth a warning: the board runs slower than configured
    const say = ready.runtime.fellBack.length ? o.log?.warn.bind(o.log) : o.log?.info.bind(o.log);
    say?.({ model: e.id, runtime: ready.runtime, tile: o.tile.size, halo }, describeRuntime(ready.runtime));
    return new OnnxReconstructor(worker, model, ready.provider, ready.runtime);
  }

  reconstruct(frame: Image): Promise<Image> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    // copy: the buffer is transferred to the worker and the caller keeps its frame
    const data = new Float32Array(frame.data);
    return new Promise<Image>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'run', id, width: frame.width, height: frame.height, data } satisfies WorkerRequest, [data.buffer]);
    });
  }

  async close(): Promise<void> {
    if (this.dead) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ type: 'close' } satisfies WorkerRequest);
    const timeout = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timeout);
  }
}
