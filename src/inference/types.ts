import type { Image } from '../optics/image.ts';

/**
 * A reconstruction engine: Richardson–Lucy or an ONNX model. Input is a raw camera frame
 * (any size); output is a unit-sum map on a grid `scale` times finer.
 */
export interface Reconstructor {
  readonly id: string;
  readonly scale: number;
  /** sha256 of the model file, or a description of the algorithm's parameters */
  readonly fingerprint: string;
  /** e.g. "cpu", "cuda", or "js" for pure TypeScript engines */
  readonly provider: string;
  reconstruct(frame: Image): Promise<Image>;
  close(): Promise<void>;
}
