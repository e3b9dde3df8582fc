import type { Frame } from '../camera/types.ts';
import type { Localization } from '../optics/emitter.ts';
import type { Image } from '../optics/image.ts';

/** Milliseconds spent in each stage of one frame's path. */
export interface StageTimings {
  queue: number;
  preprocess: number;
  reconstruct: number;
  postprocess: number;
  total: number;
}

/** Everything known about one processed frame; the publisher turns it into topics. */
export interface FrameResult {
  stream: string;
  seq: number;
  /** capture time, ms since epoch */
  timestamp: number;
  source: string;
  model: { id: string; fingerprint: string; provider: string };
  input: Image;
  /** unit-sum map on the model's grid */
  output: Image;
  scale: number;
  localizations: Localization[];
  timings: StageTimings;
  /** frames dropped by the queue so far (cumulative) */
  dropped: number;
  /** the frame's ground truth, when known (simulated, DMD) */
  truth?: Frame['truth'];
}

/** Receives results (MQTT publisher, dashboard, tests). Must not throw. */
export interface ResultSink {
  publish(result: FrameResult): void;
}
