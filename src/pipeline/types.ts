import type { Frame } from '../camera/types.ts';
import type { HoleReport } from '../inference/holes.ts';
import type { LocalizationColumns } from '../inference/peaks.ts';
import type { AccumulatedImage, EncodedImage, OodReport } from './frame-path.ts';

/** Milliseconds spent in each stage of one frame's path. */
export interface StageTimings {
  queue: number;
  preprocess: number;
  reconstruct: number;
  postprocess: number;
  /** PNG encodes of the images that were due */
  encode: number;
  total: number;
}

/** Everything known about one processed frame; sinks turn it into topics. Small: no pixel maps. */
export interface FrameResult {
  stream: string;
  seq: number;
  /** capture time, ms since epoch */
  timestamp: number;
  source: string;
  model: { id: string; fingerprint: string; provider: string };
  /** the frame the network saw, after the camera's region of interest and binning */
  input: { width: number; height: number };
  /** sensor = (x, y) + frame pixel × binning */
  sensor: { x: number; y: number; binning: number };
  /** the unit-sum map's grid (it is not materialised; see `image`) */
  output: { width: number; height: number };
  scale: number;
  localizations: LocalizationColumns;
  timings: StageTimings;
  /** frames dropped by the queue so far (cumulative) */
  dropped: number;
  /** windows the network ran for this frame, and network pixels per frame pixel */
  tiles: number;
  overhead: number;
  /** the frame's ground truth, when known (simulated, DMD) */
  truth?: Frame['truth'];
  /** what the camera said about the frame (INDI: from its FITS header) */
  camera?: Frame['meta'];
  /** the 16-bit result image (…/image), when the image schedule said it was due */
  image?: EncodedImage;
  /** the accumulated render of recent localisations (…/accumulated), when due or requested */
  accumulated?: AccumulatedImage;
  /** the frame against the model's trained ranges: when not inRange, do not trust the output */
  ood?: OodReport;
  /** nanohole (unet) models: holes in the position map, in λ and frame px */
  holes?: HoleReport;
  /** small 8-bit previews of the camera frame and the map (dashboard), when due */
  previews?: { frame: Uint8Array; output: Uint8Array };
}

/**
 * Receives results (MQTT publisher, dashboard, metrics, tests). The pipeline waits for every
 * sink's promise before it takes the next frame, so a slow sink backs frames up into the
 * drop-oldest queue instead of into memory. Must not throw.
 */
export interface ResultSink {
  publish(result: FrameResult): void | Promise<void>;
}
