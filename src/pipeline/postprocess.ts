import { findPeaks, type LocalizationColumns, listToColumns } from '../inference/peaks.ts';
import { aduToElectrons } from '../optics/camera.ts';
import type { Localization } from '../optics/emitter.ts';
import { type FitResult, fitGaussiansWithSearch } from '../optics/gauss-fit.ts';
import { type Image, makeImage } from '../optics/image.ts';
import type { FrameStats, Photometry } from '../optics/ood.ts';
import { estimateFrameStats } from '../optics/ood.ts';
import { estimateBackground } from '../optics/richardson-lucy.ts';

/** How localisations are picked from the map (the collector itself is src/inference/peaks.ts). */
export interface PostprocessOptions {
  /** fraction of the map's maximum a peak must reach */
  threshold: number;
  /** fine pixels between peaks */
  minDistance: number;
  maxLocalizations: number;
  /** refine the map's peaks by a Gaussian fit to the frame (default none) */
  fit?: 'gauss' | 'none';
}

/**
 * How far the map's detection is trusted (px per axis, the fit's position prior) and how far a
 * fit may move from it. In a crowded window an undetected neighbour pulls a fit off by 0.3–1 px
 * while the map's centroid stays within ≈ 0.2 px of the truth (the eval's default condition,
 * seeds 5 000 000+: with a 1.5-px gate the fit lost 0.15 of the map's Jaccard; with 0.4, none):
 * such fits fall back to the map. An emitter alone in its window may move farther: the map puts
 * bright isolated emitters 0.5–0.8 px off (the isolated condition's Jaccard 0.79 → 0.96 with 0.7).
 */
const MAP_POSITION_SIGMA = 0.15;
const MAX_FIT_SHIFT = 0.4;
const MAX_FIT_SHIFT_ALONE = 0.7;

/** PSF width to start the fit from when the frame has too few isolated peaks to measure one (px, w). */
const FALLBACK_WIDTH = 1.5;

/**
 * Refines `locs` (camera px, from the map) in place (its arrays are replaced: an emitter found
 * twice is kept once) by a Poisson maximum-likelihood Gaussian fit
 * to the frame, adding their uncertainties (`locs.fit`). The frame is turned into photo-electrons
 * with the photometry when a gain is given, else taken as photon counts: photons, background and
 * the uncertainties are in those units, and calibrated only as far as that photometry is right.
 * `stats`: this frame's statistics if already measured (the out-of-distribution guard's).
 * `readNoiseMap`: an sCMOS sensor's read noise per pixel of this frame, ADU rms
 * (`pipeline.preprocess.readNoise`); it replaces the photometry's single read noise.
 */
export function refineLocalizations(
  frame: Image,
  locs: LocalizationColumns,
  photometry: Photometry = {},
  stats?: FrameStats,
  maxLocalizations = Number.POSITIVE_INFINITY,
  readNoiseMap?: Float32Array,
  /** the split test's threshold (src/optics/gauss-fit.ts SPLIT_THRESHOLD; Infinity: no split test) */
  splitThreshold?: number,
): void {
  const n = locs.count;
  if (n === 0) return;
  const st = stats ?? estimateFrameStats(frame, photometry);
  const offset = photometry.offset ?? 0;
  // without a gain the frame is taken as photon counts: the shot-noise estimate of the gain is
  // thrown off by emitter light in crowded frames, and a wrong gain miscalibrates every σ
  const perAdu = photometry.gain ? photometry.gain / (photometry.emGain ?? 1) : 1;
  const e = aduToElectrons(frame.data, { offset, gain: perAdu, emGain: 1 });
  const em = (photometry.emGain ?? 1) > 1;
  // the map's photons are photo-electrons already (signalPhotons applies the photometry); scaling
  // them by perAdu again started every fit 2–20× too faint on sCMOS and EMCCD frames
  const starts = Array.from({ length: n }, (_, i) => ({ x: locs.x[i], y: locs.y[i], photons: locs.photons[i] }));
  const { results: r, added } = fitGaussiansWithSearch(
    makeImage(frame.width, frame.height, e),
    starts,
    {
      width: st.psfWidth ?? FALLBACK_WIDTH,
      excess: em ? 2 : 1,
      priorSigma: MAP_POSITION_SIGMA,
      maxShift: MAX_FIT_SHIFT,
      maxShiftAlone: MAX_FIT_SHIFT_ALONE,
      readNoise: em ? (photometry.readNoise ?? 0) / (photometry.emGain ?? 1) : (photometry.readNoise ?? 0),
      // ADU rms → e⁻ at the sensor, the units of the frame the fit sees
      readNoiseMap,
      readNoiseMapScale: perAdu,
    },
    { maxAdded: Math.max(0, maxLocalizations - n), splitThreshold },
  );
  // an emitter the map found twice is kept once; the residual search's finds follow the map's
  const kept = r.flatMap((f, i) => (f.duplicate ? [] : [i]));
  const m = kept.length + added.length;
  const fit = {
    sigmaX: new Float32Array(m),
    sigmaY: new Float32Array(m),
    sigmaPhotons: new Float32Array(m),
    background: new Float32Array(m),
    width: new Float32Array(m),
  };
  const x = new Float32Array(m);
  const y = new Float32Array(m);
  const photons = new Float32Array(m);
  const peak = new Float32Array(m);
  const put = (k: number, f: FitResult, at: { x: number; y: number; photons: number }, mapPeak: number) => {
    x[k] = at.x;
    y[k] = at.y;
    photons[k] = at.photons;
    peak[k] = mapPeak;
    fit.sigmaX[k] = f.sigmaX;
    fit.sigmaY[k] = f.sigmaY;
    fit.sigmaPhotons[k] = f.sigmaPhotons;
    fit.background[k] = f.background;
    fit.width[k] = f.width;
  };
  // a failed fit keeps the map's position and photons
  for (const [k, i] of kept.entries())
    put(k, r[i], r[i].ok ? r[i] : { x: locs.x[i], y: locs.y[i], photons: locs.photons[i] }, locs.peak[i]);
  // not from the map: peak 0 says so
  for (const [a, f] of added.entries()) put(kept.length + a, f, f, 0);
  Object.assign(locs, { count: m, x, y, photons, peak, fit });
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
export function postprocess(output: Image, scale: number, frame: Image, o: PostprocessOptions, photometry?: Photometry): Localization[] {
  if (o.maxLocalizations === 0) return [];
  const peaks = findPeaks(output, scale, {
    threshold: o.threshold,
    minDistance: o.minDistance,
    totalPhotons: signalPhotons(frame, photometry),
    maxPeaks: o.maxLocalizations,
  });
  return o.fit === 'gauss' ? fitLocalizations(frame, peaks, photometry, o.maxLocalizations) : peaks;
}

/** `locs` refined by the frame fit, as new objects in the same order (see refineLocalizations). */
export function fitLocalizations(
  frame: Image,
  locs: ReadonlyArray<Localization>,
  photometry?: Photometry,
  maxLocalizations?: number,
  readNoiseMap?: Float32Array,
  splitThreshold?: number,
): FittedLocalization[] {
  const c = listToColumns(locs);
  refineLocalizations(frame, c, photometry, undefined, maxLocalizations, readNoiseMap, splitThreshold);
  return columnsToFittedList(c);
}

/** A localisation with the fit's uncertainties (NaN where its fit failed). */
export interface FittedLocalization extends Localization {
  sigmaX: number;
  sigmaY: number;
  sigmaPhotons: number;
  background: number;
  width: number;
}

function columnsToFittedList(c: LocalizationColumns): FittedLocalization[] {
  const f = c.fit as NonNullable<LocalizationColumns['fit']>;
  return Array.from({ length: c.count }, (_, i) => ({
    x: c.x[i],
    y: c.y[i],
    photons: c.photons[i],
    peak: c.peak[i],
    sigmaX: f.sigmaX[i],
    sigmaY: f.sigmaY[i],
    sigmaPhotons: f.sigmaPhotons[i],
    background: f.background[i],
    width: f.width[i],
  }));
}
