/**
 * The camera: expected photons per pixel → what a real sensor delivers, in ADU.
 *
 *   photons ─QE (binomial thinning of Poisson = Poisson(QE·λ))→ photo-electrons
 *           + hot-pixel dark electrons (Poisson, fixed pixels)
 *           ─full well clip→ ─EM register (Gamma(n, G): excess noise F² = 2 at high gain)→
 *           + Gaussian read noise (e⁻ rms; sCMOS: a per-pixel map)
 *           ─÷ e⁻/ADU, + offset→ ─round→ ─clip to [0, 2^bits − 1]→ ADU
 *
 * The `ideal` preset is the original simulator (Poisson photon counts, no offset, no gain, not
 * quantised), and renderCameraFrame() with it returns exactly renderFrame()'s frame.
 *
 * The EM register: n input electrons leave as a sum of n independent stage cascades whose sum is
 * well modelled by Gamma(shape n, scale G) (Basden et al. 2003, MNRAS 345, 985; Hirsch et al.
 * 2013, PLoS ONE 8, e53671): variance n·G², i.e. twice the Poisson variance of n·G — the excess
 * noise factor F = √2 that the Mortensen CRLB's F = 2 accounts for.
 *
 * Preset values are typical of each class, not one vendor's datasheet (cited where they come
 * from one). Documented ranges: QE 0.3–1, EM gain 1 (none) or 10–1000, read noise 0–100 e⁻ rms,
 * e⁻/ADU 0.1–50, offset 0–1000 ADU, 8–16 bits, hot-pixel fraction 0–1 %.
 */
import { UserError } from '../errors.ts';
import { Rng } from './random.ts';

export interface CameraModel {
  name: string;
  /** quantum efficiency, fraction of photons that become photo-electrons */
  qe: number;
  /** EM register mean gain; 1 = no EM register */
  emGain: number;
  /** read noise, e⁻ rms at the output (after the EM register) */
  readNoise: number;
  /**
   * sCMOS: per-pixel read noise, log-normal around readNoise with this σ of ln (0 = uniform).
   * The map is fixed per camera (mapSeed), as a real sensor's is.
   */
  readNoiseSpread: number;
  /** e⁻ per ADU at the ADC */
  gain: number;
  /** ADU added to every pixel (bias) */
  offset: number;
  /** ADC bits; saturation at 2^bits − 1. 0 = not quantised, no ADC clip (the ideal camera) */
  bits: number;
  /** full well in e⁻ (before the EM register); 0 = unlimited */
  fullWell: number;
  /** fraction of pixels that are hot */
  hotFraction: number;
  /** hot pixels' dark electrons per frame, log-uniform in [lo, hi] (fixed per pixel) */
  hotRate: [number, number];
  /** seed of the fixed-pattern maps (read noise, hot pixels) */
  mapSeed: number;
}

export const CAMERA_PRESETS = ['ideal', 'scmos', 'emccd', 'cmos-astro'] as const;
export type CameraPreset = (typeof CAMERA_PRESETS)[number];

const NO_HOT: [number, number] = [0, 0];

export function cameraPreset(name: CameraPreset): CameraModel {
  switch (name) {
    case 'ideal':
      return {
        name,
        qe: 1,
        emGain: 1,
        readNoise: 0,
        readNoiseSpread: 0,
        gain: 1,
        offset: 0,
        bits: 0,
        fullWell: 0,
        hotFraction: 0,
        hotRate: NO_HOT,
        mapSeed: 1,
      };
    case 'scmos':
      // Flash4.0-class back-end: ~1.4–1.6 e⁻ rms median read noise with a long per-pixel tail,
      // ~0.5 e⁻/ADU, 100 ADU offset, 16 bit, 30 000 e⁻ full well, QE ~0.8 in the green.
      return {
        name,
        qe: 0.8,
        emGain: 1,
        readNoise: 1.5,
        readNoiseSpread: 0.4,
        gain: 0.46,
        offset: 100,
        bits: 16,
        fullWell: 30_000,
        hotFraction: 5e-4,
        hotRate: [20, 500],
        mapSeed: 2,
      };
    case 'emccd':
      // iXon Ultra 897-class: back-illuminated QE ~0.95, 50 e⁻ rms read noise at 10 MHz (Andor
      // iXon Ultra hardware guide v1.1, §3.1.2), EM gain 200, ~10 e⁻/ADU at the output, 100 ADU
      // offset, 16 bit.
      return {
        name,
        qe: 0.95,
        emGain: 200,
        readNoise: 50,
        readNoiseSpread: 0,
        gain: 10,
        offset: 100,
        bits: 16,
        fullWell: 180_000,
        hotFraction: 2e-4,
        hotRate: [1, 20],
        mapSeed: 3,
      };
    case 'cmos-astro':
      // IMX477-like (Raspberry Pi HQ camera) raw at unity-ish analogue gain: 12-bit, black level
      // 256 ADU, ~2 e⁻/ADU, ~3 e⁻ rms read noise, ~8 000 e⁻ full well, uncooled so hot pixels.
      return {
        name,
        qe: 0.7,
        emGain: 1,
        readNoise: 3,
        readNoiseSpread: 0.25,
        gain: 2,
        offset: 256,
        bits: 12,
        fullWell: 8000,
        hotFraction: 2e-3,
        hotRate: [20, 2000],
        mapSeed: 4,
      };
  }
}

/** a camera that adds nothing to the photon counts (the original simulator) */
export function isIdealCamera(c: CameraModel): boolean {
  return (
    c.qe === 1 &&
    c.emGain === 1 &&
    c.readNoise === 0 &&
    c.gain === 1 &&
    c.offset === 0 &&
    c.bits === 0 &&
    c.fullWell === 0 &&
    c.hotFraction === 0
  );
}

export function parseCameraPresets(text: string): CameraPreset[] {
  const names = String(text)
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new UserError(`--camera: give at least one of ${CAMERA_PRESETS.join(', ')}`);
  for (const n of names) {
    if (!(CAMERA_PRESETS as readonly string[]).includes(n)) {
      throw new UserError(`--camera: unknown camera "${n}" (use ${CAMERA_PRESETS.join(', ')})`);
    }
  }
  return names as CameraPreset[];
}

export function validateCamera(c: CameraModel): void {
  const bad = (what: string): never => {
    throw new UserError(`camera ${c.name}: ${what}`);
  };
  if (!(c.qe > 0 && c.qe <= 1)) bad(`qe ${c.qe} outside (0, 1]`);
  if (!(c.emGain >= 1 && Number.isFinite(c.emGain))) bad(`emGain ${c.emGain} must be ≥ 1`);
  if (!(c.readNoise >= 0 && Number.isFinite(c.readNoise))) bad(`readNoise ${c.readNoise} must be ≥ 0`);
  if (!(c.readNoiseSpread >= 0)) bad(`readNoiseSpread ${c.readNoiseSpread} must be ≥ 0`);
  if (!(c.gain > 0 && Number.isFinite(c.gain))) bad(`gain ${c.gain} e⁻/ADU must be > 0`);
  if (!(c.offset >= 0 && Number.isFinite(c.offset))) bad(`offset ${c.offset} must be ≥ 0`);
  if (!(Number.isInteger(c.bits) && c.bits >= 0 && c.bits <= 24)) bad(`bits ${c.bits} must be an integer in 0..24`);
  if (!(c.fullWell >= 0)) bad(`fullWell ${c.fullWell} must be ≥ 0`);
  if (!(c.hotFraction >= 0 && c.hotFraction < 0.1)) bad(`hotFraction ${c.hotFraction} outside [0, 0.1)`);
}

/** Per-pixel fixed patterns of a camera for one frame size (build once, reuse every frame). */
export interface CameraMaps {
  width: number;
  height: number;
  /** read noise e⁻ rms per pixel, or null when uniform */
  readNoise: Float32Array | null;
  /** hot pixel indices and their mean dark electrons per frame */
  hotIndex: Int32Array;
  hotRate: Float32Array;
  /** the same as a dense map (null without hot pixels) */
  hotDense: Float32Array | null;
}

export function cameraMaps(c: CameraModel, width: number, height: number): CameraMaps {
  const rng = new Rng(c.mapSeed);
  const n = width * height;
  let readNoise: Float32Array | null = null;
  if (c.readNoiseSpread > 0 && c.readNoise > 0) {
    readNoise = new Float32Array(n);
    // log-normal with median readNoise: sCMOS per-pixel noise is right-skewed (a few "noisy" pixels)
    for (let i = 0; i < n; i++) readNoise[i] = c.readNoise * Math.exp(c.readNoiseSpread * rng.normal());
  }
  const hot: number[] = [];
  const rates: number[] = [];
  if (c.hotFraction > 0) {
    const m = Math.round(c.hotFraction * n);
    const seen = new Set<number>();
    while (hot.length < m) {
      const i = rng.int(n);
      if (seen.has(i)) continue;
      seen.add(i);
      hot.push(i);
      rates.push(rng.logUniform(c.hotRate[0], c.hotRate[1]));
    }
  }
  let hotDense: Float32Array | null = null;
  if (hot.length > 0) {
    hotDense = new Float32Array(n);
    for (let k = 0; k < hot.length; k++) hotDense[hot[k]] = rates[k];
  }
  return { width, height, readNoise, hotIndex: Int32Array.from(hot), hotRate: Float32Array.from(rates), hotDense };
}

/** ADU at which the ADC saturates (Infinity when not quantised) */
export function saturationAdu(c: CameraModel): number {
  return c.bits > 0 ? 2 ** c.bits - 1 : Number.POSITIVE_INFINITY;
}

/**
 * One frame: `expected` photons per pixel (signal + background) through the camera, into `out`
 * (ADU). With rng null, the expected ADU without any noise (no quantisation either).
 */
export function exposeFrame(
  expected: ArrayLike<number>,
  c: CameraModel,
  maps: CameraMaps,
  rng: Rng | null,
  out: Float32Array = new Float32Array(expected.length),
): Float32Array {
  const n = expected.length;
  if (maps.width * maps.height !== n) throw new Error('exposeFrame: maps are for another frame size');
  const hotExtra = maps.hotDense;
  const toAdu = 1 / c.gain;
  const sat = saturationAdu(c);
  const quantise = c.bits > 0;
  const fullWell = c.fullWell > 0 ? c.fullWell : Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const lam = hotExtra ? c.qe * expected[i] + hotExtra[i] : c.qe * expected[i];
    let e: number;
    if (!rng) {
      e = Math.min(lam, fullWell) * c.emGain;
    } else {
      let pe = Math.min(rng.poisson(lam), fullWell);
      if (c.emGain > 1) pe = pe > 0 ? c.emGain * rng.gamma(pe) : 0;
      const sr = maps.readNoise ? maps.readNoise[i] : c.readNoise;
      e = sr > 0 ? pe + sr * rng.normal() : pe;
    }
    let adu = e * toAdu + c.offset;
    if (rng && quantise) adu = Math.round(adu);
    if (adu < 0 && quantise) adu = 0;
    if (adu > sat) adu = sat;
    out[i] = adu;
  }
  return out;
}

/**
 * Photo-electrons per pixel from ADU, given the photometry (offset, e⁻/ADU, EM gain): what a
 * calibrated pipeline would hand a photon-counting method such as Richardson–Lucy.
 */
export function aduToElectrons(adu: ArrayLike<number>, c: Pick<CameraModel, 'offset' | 'gain' | 'emGain'>): Float32Array {
  const out = new Float32Array(adu.length);
  const k = c.gain / c.emGain;
  for (let i = 0; i < adu.length; i++) out[i] = (adu[i] - c.offset) * k;
  return out;
}
