import { Worker } from 'node:worker_threads';
import { UserError } from '../errors.ts';
import { workerEntry } from '../inference/worker-entry.ts';
import type { Mask, MaskPoint, PatternSpec } from './patterns.ts';

type Reply = { ok: true; bits: Uint8Array; points: MaskPoint[] } | { ok: false; error: string; user: boolean };

/**
 * renderPattern in a worker thread: the event loop stays free however large the pattern, and an
 * abort (command timeout, e-stop) terminates the computation instead of waiting for it.
 */
export function renderPatternOffThread(spec: PatternSpec, width: number, height: number, signal?: AbortSignal): Promise<Mask> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const entry = workerEntry(import.meta.url, 'pattern-worker');
  return new Promise<Mask>((resolve, reject) => {
    const worker = new Worker(entry.spec, { eval: entry.eval, workerData: { spec, width, height } });
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = (): void => finish(() => reject(signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (m: Reply) =>
      finish(() => {
        if (m.ok) resolve({ width, height, bits: m.bits, points: m.points });
        else reject(m.user ? new UserError(m.error) : new Error(m.error));
      }),
    );
    worker.once('error', (e) => finish(() => reject(e)));
    worker.once('exit', (code) => finish(() => reject(new Error(`pattern worker exited with code ${code} before answering`))));
  });
}
