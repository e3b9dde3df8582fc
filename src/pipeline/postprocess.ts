import { findPeaks } from '../inference/peaks.ts';
import type { Localization } from '../optics/emitter.ts';
import type { Image } from '../optics/image.ts';
import { estimateBackground } from '../optics/richardson-lucy.ts';

/** How localisations are picked from the map (the collector itself is src/inference/peaks.ts). */
export interface PostprocessOptions {
  /** fraction of the map's maximum a peak must reach */
  threshold: number;
  /** fine pixels between peaks */
  minDistance: number;
  maxLocalizations: number;
}

/** Frames bigger than this are sampled for the background estimate (a clipped median needs no more). */
const BACKGROUND_SAMPLE = 1 << 16;

function backgroundSample(data: Float32Array): Float32Array {
  if (data.length <= BACKGROUND_SAMPLE) return data;
  const step = data.length / BACKGROUND_SAMPLE;
  const out = new Float32Array(BACKGROUND_SAMPLE);
  for (let i = 0; i < BACKGROUND_SAMPLE; i++) out[i] = data[Math.floor(i * step)];
  return out;
}

/**
 * Frame photons above background. The map only says where the light is; the photons come from
 * the frame: its signal is shared out in proportion to each peak's share of the map.
 */
export function signalPhotons(frame: Image, photometry?: { gain?: number; emGain?: number }): number {
  const bg = estimateBackground(backgroundSample(frame.data));
  let total = 0;
  for (let i = 0; i < frame.data.length; i++) total += frame.data[i] - bg;
  // background subtraction removes the bias; the gain turns ADU into photo-electrons
  const k = photometry?.gain ? photometry.gain / (photometry.emGain ?? 1) : 1;
  return Math.max(total * k, 0);
}

/** Localisations from a whole unit-sum map (one-shot tools; the daemon collects them tile by tile). */
export function postprocess(output: Image, scale: number, frame: Image, o: PostprocessOptions): Localization[] {
  if (o.maxLocalizations === 0) return [];
  return findPeaks(output, scale, {
    threshold: o.threshold,
    minDistance: o.minDistance,
    totalPhotons: signalPhotons(frame),
    maxPeaks: o.maxLocalizations,
  });
}
