import { encodePng16 } from '../io/png.ts';
import type { Image } from '../optics/image.ts';

/**
 * The result image as 16-bit PNG scaled so its maximum is 65535; `max` (published in the meta)
 * lets consumers undo the scaling.
 */
export function encodePng16Scaled(img: Image): { png: Buffer; max: number } {
  let max = 0;
  for (let i = 0; i < img.data.length; i++) if (img.data[i] > max) max = img.data[i];
  if (!Number.isFinite(max)) max = 0;
  return { png: encodePng16(img, { max }), max };
}
