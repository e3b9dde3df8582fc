import pngjs from 'pngjs';
import type { Image } from '../optics/image.ts';

const { PNG } = pngjs;

/**
 * A float image as an 8-bit grayscale PNG for the browser, stretched min..max so a dim raw frame
 * and a unit-sum map (values ~1e-4) are both visible. `gamma` < 1 lifts faint emitters in the
 * super-resolved map, whose peaks otherwise hide everything else.
 */
export function imageToPng8(img: Image, gamma = 1): Buffer {
  const n = img.width * img.height;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = img.data[i];
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max > min ? max - min : 1;
  const gray = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    const v = img.data[i];
    if (!Number.isFinite(v) || max <= min) continue;
    const t = (v - min) / span;
    gray[i] = Math.round(255 * (gamma === 1 ? t : t ** gamma));
  }
  const png = new PNG({ width: img.width, height: img.height, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  png.data = gray;
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
}
