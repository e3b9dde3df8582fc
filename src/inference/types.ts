import type { Image } from '../optics/image.ts';
import type { FrameJob, FrameOutput } from '../pipeline/frame-path.ts';
import type { Calibration } from '../pipeline/preprocess.ts';
import type { RuntimeReport } from './runtime/index.ts';

/**
 * A reconstruction engine: Richardson–Lucy or an ONNX model, living in its own worker thread.
 * Input is a raw camera frame (any size); output is a unit-sum map on a grid `scale` times finer,
 * or — for the daemon — the frame path's small products (localisations, the images that are due).
 */
export interface MapEngine {
  readonly id: string;
  readonly scale: number;
  /** sha256 of the model file, or a description of the algorithm's parameters */
  readonly fingerprint: string;
  /** e.g. "cpu", "cuda", or "js" for pure TypeScript engines */
  readonly provider: string;
  /** the whole unit-sum map (one-shot use: infer, eval, bench) */
  reconstruct(frame: Image): Promise<Image>;
  close(): Promise<void>;
}

export interface Reconstructor extends MapEngine {
  /** the model's task: "unet" engines take recorded nanohole intensities and return position maps and holes */
  readonly task?: 'damn' | 'unet';
  /** what runs an ONNX model (native or WASM onnxruntime, and why); absent for Richardson–Lucy */
  readonly runtime?: RuntimeReport;
  /** the frame path in the worker; the frame's pixels are copied, the caller keeps its frame */
  process(job: FrameJob): Promise<FrameOutput>;
  /** dark/flat frames applied from the next frame on */
  setCalibration(cal: Calibration): void;
  /** settles every pending request (rejected) and releases the worker */
  close(): Promise<void>;
}
