/**
 * Worker thread that owns one onnxruntime session, so inference never blocks the daemon's event
 * loop. Protocol (structured clone, pixel buffers transferred):
 *   init via workerData → posts {type:'ready', provider, fellBack, runtime} or {type:'failed', error}
 *   {type:'run', id, width, height, data} → {type:'result', id, width, height, data} | {type:'error', id, error}
 *   {type:'close'} → releases the session and exits
 */
import { parentPort, workerData } from 'node:worker_threads';
import { makeImage } from '../optics/image.ts';
import type { ProviderType } from './providers.ts';
import { type ModelSession, type NativeProbeResult, openModelSession, type RuntimeReport } from './runtime/index.ts';
import { reconstructTiled, type TiledRunOptions } from './tiling.ts';

export interface WorkerInit {
  model: Uint8Array;
  provider: ProviderType;
  /** the main thread's probe of onnxruntime-node, so each worker need not spawn its own */
  nativeProbe?: NativeProbeResult;
  threads: number;
  inputName: string;
  outputName: string;
  tiling: TiledRunOptions;
}

export type WorkerRequest = { type: 'run'; id: number; width: number; height: number; data: Float32Array } | { type: 'close' };

export type WorkerReply =
  | { type: 'ready'; provider: string; fellBack: string[]; runtime: RuntimeReport }
  | { type: 'failed'; error: string }
  | { type: 'result'; id: number; width: number; height: number; data: Float32Array }
  | { type: 'error'; id: number; error: string };

const port = parentPort;
if (!port) throw new Error('onnx-worker must run in a worker thread');
const init = workerData as WorkerInit;

async function open(): Promise<{ session: ModelSession; provider: string; fellBack: string[] }> {
  const { provider, threads, inputName, outputName, nativeProbe } = init;
  const session = await openModelSession(init.model, { provider, threads, inputName, outputName, nativeProbe });
  return { session, provider: session.provider, fellBack: [...session.report.fellBack] };
}

async function main(): Promise<void> {
  let opened: Awaited<ReturnType<typeof open>>;
  try {
    opened = await open();
    // warm-up: the first run allocates arenas and picks kernels; keep that off the first frame
    const side = Math.max(init.tiling.multiple, Math.min(64, init.tiling.size || 64));
    await reconstruct(opened.session, makeImage(side, side, new Float32Array(side * side).fill(1)));
  } catch (err) {
    port?.postMessage({ type: 'failed', error: (err as Error).message } satisfies WorkerReply);
    return;
  }
  const { session } = opened;
  port?.postMessage({ type: 'ready', provider: opened.provider, fellBack: opened.fellBack, runtime: session.report } satisfies WorkerReply);
  // one frame at a time: concurrent runs would multiply peak memory
  let queue: Promise<void> = Promise.resolve();
  port?.on('message', (msg: WorkerRequest) => {
    if (msg.type === 'close') {
      queue = queue.then(async () => {
        await session.release();
        port?.close();
      });
      return;
    }
    queue = queue.then(async () => {
      try {
        const frame = makeImage(msg.width, msg.height, msg.data);
        for (let i = 0; i < frame.data.length; i++) {
          if (!Number.isFinite(frame.data[i])) throw new Error('frame contains NaN or infinite values');
        }
        const out = await reconstruct(session, frame);
        port?.postMessage({ type: 'result', id: msg.id, width: out.width, height: out.height, data: out.data } satisfies WorkerReply, [
          out.data.buffer as ArrayBuffer,
        ]);
      } catch (err) {
        port?.postMessage({ type: 'error', id: msg.id, error: (err as Error).message } satisfies WorkerReply);
      }
    });
  });
}

function reconstruct(session: ModelSession, frame: ReturnType<typeof makeImage>) {
  return reconstructTiled(frame, init.tiling, (data, n, h, w) => session.run(data, n, h, w));
}

void main();
