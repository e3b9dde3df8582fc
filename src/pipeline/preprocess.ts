import type { Image } from '../optics/image.ts';
import { makeImage } from '../optics/image.ts';

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

export function preprocess(frame: Image, cal: Calibration): Image {
  for (let i = 0; i < frame.data.length; i++) {
    if (!Number.isFinite(frame.data[i])) throw new Error(`frame has a non-finite pixel at index ${i}`);
  }
  if (!cal.dark && !cal.flat) return frame;
  const ref = cal.dark ?? cal.flat;
  if (ref && (ref.width !== frame.width || ref.height !== frame.height)) {
    throw new Error(`calibration is ${ref.width}x${ref.height} but the frame is ${frame.width}x${frame.height}`);
  }
  const out = new Float32Array(frame.data.length);
  const d = cal.dark?.data;
  const f = cal.flat?.data;
  for (let i = 0; i < out.length; i++) {
    let v = frame.data[i] - (d ? d[i] : 0);
    if (f) v /= f[i];
    out[i] = v;
  }
  return makeImage(frame.width, frame.height, out);
}
