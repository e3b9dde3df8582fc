/**
 * Worker thread that renders one DMD pattern, so generating a large mask never blocks the
 * daemon's event loop (an e-stop, MQTT and the stage's step timing all run there).
 *   workerData: { spec, width, height } → posts { ok: true, bits, points } | { ok: false, error, user }
 */
import { parentPort, workerData } from 'node:worker_threads';
import { UserError } from '../errors.ts';
import { type PatternSpec, renderPattern } from './patterns.ts';

const port = parentPort;
if (!port) throw new Error('pattern-worker must run in a worker thread');
const job = workerData as { spec: PatternSpec; width: number; height: number };
try {
  const m = renderPattern(job.spec, job.width, job.height);
  port.postMessage({ ok: true, bits: m.bits, points: m.points }, [m.bits.buffer as ArrayBuffer]);
} catch (e) {
  port.postMessage({ ok: false, error: (e as Error).message, user: e instanceof UserError });
}
