import { type Image, makeImage } from '../optics/image.ts';
import { FramePath } from '../pipeline/frame-path.ts';
import type { MapEngine, Reconstructor } from './types.ts';

/**
 * A whole-map engine run on the calling thread behind the Reconstructor interface: for tests and
 * one-shot tools that already own their thread. The daemon uses WorkerEngine instead.
 */
export function inThread(engine: MapEngine): Reconstructor {
  const path = new FramePath({ kind: 'frame', scale: engine.scale, reconstruct: (f: Image) => engine.reconstruct(f) });
  return {
    id: engine.id,
    scale: engine.scale,
    fingerprint: engine.fingerprint,
    provider: engine.provider,
    reconstruct: (f) => engine.reconstruct(f),
    // the frame path works in place; the caller keeps its frame
    process: (job) => path.process({ ...job, image: makeImage(job.image.width, job.image.height, Float32Array.from(job.image.data)) }),
    setCalibration: (cal) => {
      path.calibration = cal;
    },
    close: () => engine.close(),
  };
}
