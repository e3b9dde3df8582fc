import { Worker } from 'node:worker_threads';
import { PIXEL_WORKER_LIMITS, workerEntry } from '../inference/worker-entry.ts';
import type { Emitter } from '../optics/emitter.ts';
import type { Image } from '../optics/image.ts';
import type { Psf } from '../optics/psf.ts';
import { Rng } from '../optics/random.ts';
import { renderFrame } from '../optics/simulate.ts';

/** A frame to render in sim-render-worker.ts (emitters packed x, y, photons…). */
export interface RenderRequest {
  id: number;
  emitters: Float64Array;
  psf: Psf;
  width: number;
  height: number;
  background: number;
  seed: number;
}

/** Frames up to this many pixels render in-thread (a 64×64 frame takes ~1 ms); larger ones in a worker. */
export const IN_THREAD_PIXELS = 128 * 128;

export function packEmitters(emitters: ReadonlyArray<Emitter>): Float64Array {
  const p = new Float64Array(emitters.length * 3);
  emitters.forEach((e, i) => {
    p[3 * i] = e.x;
    p[3 * i + 1] = e.y;
    p[3 * i + 2] = e.photons;
  });
  return p;
}

/** One render, the same numbers wherever it runs: noise from its own seeded generator. */
export function renderPacked(m: Omit<RenderRequest, 'id'>): Image {
  const emitters: Emitter[] = [];
  for (let i = 0; i < m.emitters.length; i += 3) emitters.push({ x: m.emitters[i], y: m.emitters[i + 1], photons: m.emitters[i + 2] });
  return renderFrame(emitters, m.psf, m.width, m.height, m.background, new Rng(m.seed));
}

/** A render worker started on first use; renders one frame at a time in request order. */
export class SimRenderer {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (d: Float32Array) => void; reject: (e: Error) => void }>();

  render(req: Omit<RenderRequest, 'id'>): Promise<Image> {
    if (req.width * req.height <= IN_THREAD_PIXELS) return Promise.resolve(renderPacked(req));
    const w = this.start();
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...req, id } satisfies RenderRequest, [req.emitters.buffer as ArrayBuffer]);
    }).then((data) => ({ width: req.width, height: req.height, data }));
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const entry = workerEntry(import.meta.url, 'sim-render-worker');
    const w = new Worker(entry.spec, { eval: entry.eval, resourceLimits: PIXEL_WORKER_LIMITS });
    w.unref();
    w.on('message', (m: { id: number; data?: Float32Array; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.data) p.resolve(m.data);
      else p.reject(new Error(`simulated camera: ${m.error}`));
    });
    const fail = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.worker = undefined;
    };
    w.on('error', fail);
    w.on('exit', () => fail(new Error('simulated camera render worker exited')));
    this.worker = w;
    return w;
  }

  /** renders sent to the worker and not yet back */
  get pendingRenders(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
