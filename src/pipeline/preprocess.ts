import type { Image } from '../optics/image.ts';

/**
 * Dark/flat correction on the raw camera frame. Normalisation to the model's input contract
 * happens inside each reconstructor (it is part of the model contract, not of the camera).
 */
export interface Calibration {
  dark?: Image;
  flat?: Image;
  /** sCMOS: each sensor pixel's read noise, ADU rms (`rayleigh calibrate dark --read-noise`), for the fit */
  readNoise?: Image;
}

export function checkCalibration(cal: Calibration): void {
  const named = (['dark', 'flat', 'readNoise'] as const).flatMap((k) => (cal[k] ? [[k, cal[k]] as const] : []));
  for (const [k, img] of named.slice(1)) {
    const [k0, ref] = named[0];
    if (img.width !== ref.width || img.height !== ref.height) {
      throw new Error(`${k0} (${ref.width}x${ref.height}) and ${k} (${img.width}x${img.height}) differ in size`);
    }
  }
  if (cal.readNoise) {
    for (const v of cal.readNoise.data) {
      if (!(v >= 0) || !Number.isFinite(v)) throw new Error('read-noise map must be finite and ≥ 0 everywhere');
    }
  }
  if (cal.flat) {
    for (let i = 0; i < cal.flat.data.length; i++) {
      if (!(cal.flat.data[i] > 0) || !Number.isFinite(cal.flat.data[i]))
        throw new Error('flat field must be positive and finite everywhere');
    }
  }
}

/**
 * Dark-subtract and flat-divide the frame in place (the frame path owns the buffer it was sent);
 * a non-finite pixel is an error naming where it is.
 */
export function preprocessInPlace(frame: Image, cal: Calibration): Image {
  const d = frame.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) throw new Error(`frame has a non-finite pixel at x=${i % frame.width}, y=${Math.floor(i / frame.width)}`);
  }
  if (!cal.dark && !cal.flat) return frame;
  const ref = cal.dark ?? cal.flat;
  if (ref && (ref.width !== frame.width || ref.height !== frame.height)) {
    throw new Error(`calibration is ${ref.width}x${ref.height} but the frame is ${frame.width}x${frame.height}`);
  }
  const dk = cal.dark?.data;
  const f = cal.flat?.data;
  for (let i = 0; i < d.length; i++) {
    let v = d[i] - (dk ? dk[i] : 0);
    if (f) v /= f[i];
    d[i] = v;
  }
  return frame;
}

/** A `camera.roi` that does not lie inside a `width`×`height` sensor (or sensor mode) is an error saying so. */
export function checkRoiFits(
  r: { x: number; y: number; width: number; height: number },
  width: number,
  height: number,
  what = 'sensor',
): void {
  if (r.x + r.width > width || r.y + r.height > height) {
    throw new Error(`camera.roi ${r.x},${r.y} ${r.width}×${r.height} does not fit the ${width}×${height} ${what}`);
  }
}

/** A region of interest (sensor pixels) and a sum-binning factor. */
export interface SensorWindow {
  roi?: { x: number; y: number; width: number; height: number };
  binning: number;
}

/** Crop to the region of interest, then sum-bin: what the network sees. The identity returns the frame itself. */
export function applySensorWindow(frame: Image, w: SensorWindow | undefined): Image {
  if (!w || (!w.roi && w.binning <= 1)) return frame;
  const r = w.roi ?? { x: 0, y: 0, width: frame.width, height: frame.height };
  checkRoiFits(r, frame.width, frame.height);
  const b = Math.max(1, w.binning);
  const ow = Math.floor(r.width / b);
  const oh = Math.floor(r.height / b);
  if (ow < 1 || oh < 1) throw new Error(`camera.binning ${b} leaves nothing of a ${r.width}×${r.height} region`);
  const out = new Float32Array(ow * oh);
  for (let y = 0; y < oh * b; y++) {
    const src = (r.y + y) * frame.width + r.x;
    const dst = Math.floor(y / b) * ow;
    for (let x = 0; x < ow * b; x++) out[dst + Math.floor(x / b)] += frame.data[src + x];
  }
  return { width: ow, height: oh, data: out };
}

/**
 * The read-noise map of what the network sees: divided by the flat like the frame, then cropped
 * and binned like it. Binning sums pixels, so it sums their variances.
 */
export function sensorReadNoise(map: Image, w: SensorWindow | undefined, flat?: Image): Float32Array {
  const identity = !w || (!w.roi && w.binning <= 1);
  if (identity && !flat) return map.data;
  const f = flat?.data;
  const variance = Float32Array.from(map.data, (v, i) => (f ? (v / f[i]) ** 2 : v * v));
  return applySensorWindow({ width: map.width, height: map.height, data: variance }, w).data.map(Math.sqrt);
}

/**
 * A sensor's calibration and its cut to the region the camera reads out, made once per region
 * (regions rarely move). Frame paths keep one and replace it when the calibration changes.
 */
export class RegionCalibration {
  private cut: { key: string; cal: Calibration } | undefined;

  constructor(readonly whole: Calibration) {}

  /** The calibration for a width × height frame from sensor `origin`; the whole one without an origin. */
  at(origin: { x: number; y: number } | undefined, width: number, height: number): Calibration {
    if (!origin) return this.whole;
    const key = `${origin.x},${origin.y},${width}x${height}`;
    if (this.cut?.key !== key) this.cut = { key, cal: cropCalibration(this.whole, origin, width, height) };
    return this.cut.cal;
  }
}

/**
 * The sensor-sized calibration frames cut to the part of the sensor a source read out, so they
 * match a frame that starts at `origin` and is width × height.
 */
function cropCalibration(cal: Calibration, origin: { x: number; y: number }, width: number, height: number): Calibration {
  const cut = (img: Image | undefined, name: string): Image | undefined => {
    if (!img) return undefined;
    if (origin.x + width > img.width || origin.y + height > img.height) {
      throw new Error(
        `the ${width}x${height} frame at sensor (${origin.x}, ${origin.y}) is outside the ${img.width}x${img.height} ${name}`,
      );
    }
    const out = new Float32Array(width * height);
    for (let y = 0; y < height; y++)
      out.set(img.data.subarray((origin.y + y) * img.width + origin.x, (origin.y + y) * img.width + origin.x + width), y * width);
    return { width, height, data: out };
  };
  return { dark: cut(cal.dark, 'dark frame'), flat: cut(cal.flat, 'flat field'), readNoise: cut(cal.readNoise, 'read-noise map') };
}
