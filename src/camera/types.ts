import type { FitsCard } from '../io/fits.ts';
import type { Emitter } from '../optics/emitter.ts';
import type { Image } from '../optics/image.ts';

/**
 * What the camera said about a frame (FITS header of an INDI image). Units are the FITS
 * conventions INDI drivers write: seconds, microns, degrees Celsius, UTC.
 */
export interface FrameMeta {
  /** INDI device (FITS INSTRUME) */
  device?: string;
  /** s (EXPTIME) */
  exposure?: number;
  /** driver units (GAIN) */
  gain?: number;
  /** ADU (OFFSET) */
  offset?: number;
  /** XBINNING × YBINNING */
  binning?: { x: number; y: number };
  /** µm of one binned pixel (XPIXSZ/YPIXSZ, else PIXSIZE1/2 × binning) */
  pixelSize?: { x: number; y: number };
  /** °C (CCD-TEMP) */
  ccdTemperature?: number;
  /** UTC start of the exposure as the camera host wrote it (DATE-OBS); its clock, not ours */
  dateObs?: string;
  telescope?: string;
  object?: string;
  filter?: string;
  /** Light, Dark, Flat, Bias (IMAGETYP / FRAME) */
  frameType?: string;
  /** TOP-DOWN or BOTTOM-UP (ROWORDER); rows are kept in file order either way */
  rowOrder?: string;
  /** every non-structural header card in file order, to carry into FITS output */
  header?: FitsCard[];
}

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
  /** camera metadata when the source has it (INDI FITS header) */
  meta?: FrameMeta;
  /**
   * the sensor pixel of this frame's (0, 0) when the source read out only `camera.roi` (on the
   * sensor or in its driver); absent: the frame is the whole sensor, and the ROI is cut in software
   */
  origin?: { x: number; y: number };
}

export interface FrameSourceStats {
  frames: number;
  restarts: number;
  errors: number;
  lastError?: string;
  /** frames the source discarded because its consumer fell behind (drop-oldest) */
  dropped?: number;
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
