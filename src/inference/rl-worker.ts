/**
 * Worker thread running Richardson–Lucy, so a slow deconvolution never blocks the daemon's event
 * loop (MQTT, the dashboard and software step generation for the stage all live there).
 *   init via workerData (RlWorkerInit) → posts {type:'ready'}
 *   {type:'run', id, width, height, data} → {type:'result', id, width, height, data} | {type:'error', id, error}
 */
import { parentPort, workerData } from 'node:worker_threads';
import { makeImage } from '../optics/image.ts';
import { RichardsonLucy } from '../optics/richardson-lucy.ts';

export interface RlWorkerInit {
  psf: string;
  iterations: number;
  tolerance: number;
  scale: number;
}

const port = parentPort;
if (!port) throw new Error('rl-worker must run in a worker thread');
const init = workerData as RlWorkerInit;
const rl = new RichardsonLucy(init.psf, { iterations: init.iterations, tolerance: init.tolerance, scale: init.scale });

port.on('message', (msg: { type: 'run'; id: number; width: number; height: number; data: Float32Array } | { type: 'close' }) => {
  if (msg.type === 'close') {
    port.close();
    return;
  }
  rl.reconstruct(makeImage(msg.width, msg.height, msg.data)).then(
    (out) =>
      port.postMessage({ type: 'result', id: msg.id, width: out.width, height: out.height, data: out.data }, [
        out.data.buffer as ArrayBuffer,
      ]),
    (err: Error) => port.postMessage({ type: 'error', id: msg.id, error: err.message }),
  );
});
port.postMessage({ type: 'ready' });
