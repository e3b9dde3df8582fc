import { Worker } from 'node:worker_threads';
import { type Image, makeImage } from '../optics/image.ts';
import { parsePsfSpec, RichardsonLucy } from '../optics/richardson-lucy.ts';
import type { RlWorkerInit } from './rl-worker.ts';
import type { Reconstructor } from './types.ts';
import { workerEntry } from './worker-entry.ts';

type Reply =
  | { type: 'ready' }
  | { type: 'result'; id: number; width: number; height: number; data: Float32Array }
  | { type: 'error'; id: number; error: string };

/** Richardson–Lucy behind the Reconstructor interface, computed in a worker thread. */
export class WorkerRichardsonLucy implements Reconstructor {
  readonly id = 'rl';
  readonly provider = 'js';
  readonly scale: number;
  readonly fingerprint: string;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (img: Image) => void; reject: (e: Error) => void }>();
  private closed = false;
  private onDrained: (() => void) | undefined;

  private constructor(
    private readonly worker: Worker,
    init: RlWorkerInit,
  ) {
    this.scale = init.scale;
    // the same fingerprint as the in-thread engine: same algorithm, same parameters
    this.fingerprint = new RichardsonLucy(init.psf, {
      iterations: init.iterations,
      tolerance: init.tolerance,
      scale: init.scale,
    }).fingerprint;
    worker.on('message', (m: Reply) => {
      if (m.type === 'ready') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(makeImage(m.width, m.height, m.data));
      else p.reject(new Error(`Richardson–Lucy: ${m.error}`));
      if (this.pending.size === 0) this.onDrained?.();
    });
    const failAll = (e: Error): void => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => failAll(e));
    worker.on('exit', () => {
      if (!this.closed) failAll(new Error('Richardson–Lucy worker exited'));
    });
  }

  static async create(init: RlWorkerInit): Promise<WorkerRichardsonLucy> {
    parsePsfSpec(init.psf); // a bad spec is the user's mistake: say so here, not from the thread
    const entry = workerEntry(import.meta.url, 'rl-worker');
    const worker = new Worker(entry.spec, { workerData: init, eval: entry.eval });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    return new WorkerRichardsonLucy(worker, init);
  }

  reconstruct(frame: Image): Promise<Image> {
    if (this.closed) return Promise.reject(new Error('Richardson–Lucy engine is closed'));
    const id = this.nextId++;
    const data = Float32Array.from(frame.data);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'run', id, width: frame.width, height: frame.height, data }, [data.buffer]);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // frames in flight finish first: a model swap closes the old engine while the pipeline awaits
    // its current frame, and a promise that never settles would stall the pipeline for good
    if (this.pending.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        this.onDrained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.worker.postMessage({ type: 'close' });
    await this.worker.terminate();
    const left = new Error('Richardson–Lucy engine closed before the frame finished');
    for (const p of this.pending.values()) p.reject(left);
    this.pending.clear();
  }
}
