/**
 * Worker thread that owns one onnxruntime session, so inference never blocks the daemon's event
 * loop. Protocol (structured clone, pixel buffers transferred):
 *   init via workerData → posts {type:'ready', provider, fellBack} or {type:'failed', error}
 *   {type:'run', id, width, height, data} → {type:'result', id, width, height, data} | {type:'error', id, error}
 *   {type:'close'} → releases the session and exits
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { makeImage } from '../optics/image.ts';
import { reconstructTiled, type TiledRunOptions } from './tiling.ts';

export interface WorkerInit {
  model: Uint8Array;
  providerChains: Array<{ name: string; providers: ort.InferenceSession.ExecutionProviderConfig[] }>;
  threads: number;
  inputName: string;
  outputName: string;
  tiling: TiledRunOptions;
}

export type WorkerRequest = { type: 'run'; id: number; width: number; height: number; data: Float32Array } | { type: 'close' };

export type WorkerReply =
  | { type: 'ready'; provider: string; fellBack: string[] }
  | { type: 'failed'; error: string }
  | { type: 'result'; id: number; width: number; height: number; data: Float32Array }
  | { type: 'error'; id: number; error: string };

const port = parentPort;
if (!port) throw new Error('onnx-worker must run in a worker thread');
const init = workerData as WorkerInit;

async function open(): Promise<{ session: ort.InferenceSession; provider: string; fellBack: string[] }> {
  const fellBack: string[] = [];
  for (const chain of init.providerChains) {
    try {
      const session = await ort.InferenceSession.create(init.model, {
        executionProviders: chain.providers,
        intraOpNumThreads: init.threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
      return { session, provider: chain.name, fellBack };
    } catch (err) {
      fellBack.push(`${chain.name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no execution provider could load the model (${fellBack.join('; ')})`);
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
  port?.postMessage({ type: 'ready', provider: opened.provider, fellBack: opened.fellBack } satisfies WorkerReply);
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

function reconstruct(session: ort.InferenceSession, frame: ReturnType<typeof makeImage>) {
  return reconstructTiled(frame, init.tiling, async (data, n, h, w) => {
    const feeds = { [init.inputName]: new ort.Tensor('float32', data, [n, 1, h, w]) };
    const result = await session.run(feeds, [init.outputName]);
    const out = result[init.outputName];
    const values = out.data as Float32Array;
    out.dispose();
    return values;
  });
}

void main();
