/**
 * Renders simulated camera frames off the event loop: a 1456×1088 frame of ~30 000 emitters took
 * 2.2 s of main-thread time here. Protocol: {id, emitters: Float64Array (x, y, photons)…, psf,
 * width, height, background, seed} → {id, data: Float32Array} | {id, error}.
 */
import { parentPort } from 'node:worker_threads';
import { type RenderRequest, renderPacked } from './sim-render.ts';

const port = parentPort;
if (!port) throw new Error('sim-render-worker must run in a worker thread');
port.on('message', (m: RenderRequest) => {
  try {
    const img = renderPacked(m);
    port.postMessage({ id: m.id, data: img.data }, [img.data.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ id: m.id, error: (e as Error).message });
  }
});
