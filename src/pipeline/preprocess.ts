import type { Image } from '../optics/image.ts';

/**
 * Dark/flat correction on the raw camera frame. Normalisation to the model's input contract
 * happens inside each reconstructor (it is part of the model contract, not of the camera).
 */
export interface Calibration {
  dark?: Image;
  flat?: Image;
}

export function checkCalibration(cal: Calibration): void {
  if (cal.dark && cal.flat && (cal.dark.width !== cal.flat.width || cal.dark.height !== cal.flat.height)) {
    throw new Error(`dark (${cal.dark.width}x${cal.dark.height}) and flat (${cal.flat.width}x${cal.flat.height}) differ in size`);
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
