import { findPeaks } from '../inference/peaks.ts';
import type { Localization } from '../optics/emitter.ts';
import type { Image } from '../optics/image.ts';
import { estimateBackground } from '../optics/richardson-lucy.ts';

export interface PostprocessOptions {
  /** fraction of the map's maximum a peak must reach */
  threshold: number;
  /** fine pixels between peaks */
  minDistance: number;
  maxLocalizations: number;
}

/**
 * Localisations from a unit-sum reconstruction. The map only says where the light is; the
 * photons come from the frame: its signal (total minus the estimated flat background) is
 * shared out in proportion to each peak's share of the map.
 */
export function postprocess(output: Image, scale: number, frame: Image, o: PostprocessOptions): Localization[] {
  if (o.maxLocalizations === 0) return [];
  const bg = estimateBackground(frame.data);
  let total = 0;
  for (let i = 0; i < frame.data.length; i++) total += frame.data[i] - bg;
  return findPeaks(output, scale, {
    threshold: o.threshold,
    minDistance: o.minDistance,
    totalPhotons: Math.max(total, 0),
    maxPeaks: o.maxLocalizations,
  });
}
