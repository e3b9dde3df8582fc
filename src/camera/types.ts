import type { Emitter } from '../optics/emitter.ts';
import type { Image } from '../optics/image.ts';

export interface Frame {
  /** monotonically increasing per source */
  seq: number;
  /** capture time, ms since epoch */
  timestamp: number;
  image: Image;
  /** which source produced it (e.g. "sim", "rpicam") */
  source: string;
  /** ground truth when known (simulator, DMD mask), camera pixels */
  truth?: Emitter[];
}

export interface FrameSourceStats {
  frames: number;
  restarts: number;
  errors: number;
  lastError?: string;
}

/**
 * Anything that yields frames: simulator, file replay, rpicam, GStreamer.
 * start() begins pushing frames to onFrame until stop(). Errors that the source
 * recovers from (restart with backoff) are reported through onError, never thrown.
 */
export interface FrameSource {
  readonly kind: string;
  start(onFrame: (frame: Frame) => void, onError: (err: Error) => void): Promise<void>;
  stop(): Promise<void>;
  /** one frame now, independent of streaming */
  capture(): Promise<Frame>;
  stats(): FrameSourceStats;
}
