import { type Image, makeImage, normaliseUnitSum } from '../optics/image.ts';

/** The one input normalisation the shipped models are trained with (manifest `input.normalisation`). */
export const INPUT_NORMALISATION = 'min-sub-unit-sum-x-hw/2500';

/** Subtract the minimum, scale to unit sum, then × H·W/2500 so a pixel's typical value does not depend on frame size. */
export function normaliseInput(frame: Image): Image {
  const unit = normaliseUnitSum(frame);
  const k = (frame.width * frame.height) / 2500;
  for (let i = 0; i < unit.data.length; i++) unit.data[i] *= k;
  return unit;
}

/** Zero-pad right and bottom so both sides are multiples of `multiple` (pooling networks need it). */
export function padToMultiple(img: Image, multiple: number): Image {
  const w = Math.ceil(img.width / multiple) * multiple;
  const h = Math.ceil(img.height / multiple) * multiple;
  if (w === img.width && h === img.height) return img;
  const out = new Float32Array(w * h);
  for (let y = 0; y < img.height; y++) out.set(img.data.subarray(y * img.width, (y + 1) * img.width), y * w);
  return makeImage(w, h, out);
}
