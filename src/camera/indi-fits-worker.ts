/** Worker thread: FITS data unit → Float32Array, so a full-sensor conversion never holds the daemon's event loop. */
import { parentPort } from 'node:worker_threads';
import { convertFitsPixels, type FitsImageLayout } from '../io/fits.ts';

export interface FitsWorkerRequest {
  id: number;
  /** the whole FITS file, transferred */
  bytes: ArrayBuffer;
  byteLength: number;
  layout: FitsImageLayout;
  name: string;
}

export type FitsWorkerReply = { type: 'pixels'; id: number; data: Float32Array } | { type: 'error'; id: number; error: string };

parentPort?.on('message', (req: FitsWorkerRequest) => {
  try {
    const out = new Float32Array(req.layout.width * req.layout.height);
    convertFitsPixels(Buffer.from(req.bytes, 0, req.byteLength), req.layout, out);
    const reply: FitsWorkerReply = { type: 'pixels', id: req.id, data: out };
    parentPort?.postMessage(reply, [out.buffer]);
  } catch (err) {
    const reply: FitsWorkerReply = { type: 'error', id: req.id, error: `${req.name}: ${(err as Error).message}` };
    parentPort?.postMessage(reply);
  }
});
