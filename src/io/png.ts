/** PNG: read 8/16-bit grayscale (pngjs); write 16-bit grayscale scaled to the image maximum. */
import { PNG, type PNGWithMetadata } from 'pngjs';
import { UserError } from '../errors.ts';
import { type Image, makeImage } from '../optics/image.ts';
import { checkPixelBudget } from './budget.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function decodePng(buf: Buffer, name = 'input'): Image {
  // IHDR is the first chunk (PNG spec §5.6, §11.2.2): width and height at bytes 16 and 20, big
  // endian. pngjs allocates the full RGBA buffer from them, so they are checked first.
  if (buf.length >= 24 && buf.subarray(0, 8).equals(PNG_SIGNATURE) && buf.toString('latin1', 12, 16) === 'IHDR') {
    checkPixelBudget(buf.readUInt32BE(16), buf.readUInt32BE(20), name);
  }
  let png: PNGWithMetadata;
  try {
    png = PNG.sync.read(buf, { skipRescale: true });
  } catch (err) {
    throw new UserError(`${name}: malformed PNG (${(err as Error).message})`);
  }
  // gray or gray+alpha (alpha ignored); colour images are refused, not guessed at
  if (png.color || png.palette) {
    throw new UserError(`${name}: PNG is ${png.palette ? 'palette' : 'RGB'} colour; need an 8/16-bit grayscale PNG`);
  }
  const { width, height } = png;
  const src = png.data as unknown as ArrayLike<number>;
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = src[4 * i];
  return makeImage(width, height, out);
}

export interface Png16Options {
  /** value mapped to 65535 (default: the image maximum) */
  max?: number;
}

/** 16-bit grayscale PNG, linearly scaled so that `max` (default the maximum) → 65535. */
export function encodePng16(img: Image, opts: Png16Options = {}): Buffer {
  let max = opts.max;
  if (max === undefined) {
    max = 0;
    for (const v of img.data) if (v > max) max = v;
  }
  const k = max > 0 ? 65535 / max : 0;
  const data = new Uint16Array(img.width * img.height);
  for (let i = 0; i < data.length; i++) {
    const v = img.data[i] * k;
    data[i] = v > 0 ? Math.min(65535, Math.round(v)) : 0;
  }
  const png = new PNG({
    width: img.width,
    height: img.height,
    bitDepth: 16,
    colorType: 0,
    inputColorType: 0,
    inputHasAlpha: false,
  });
  (png as unknown as { data: Uint16Array }).data = data;
  return PNG.sync.write(png, {
    bitDepth: 16,
    colorType: 0,
    inputColorType: 0,
    inputHasAlpha: false,
  });
}

/** 8-bit grayscale PNG of raw values clamped to 0..255 (test fixtures, previews). */
export function encodePng8(img: Image): Buffer {
  const png = new PNG({
    width: img.width,
    height: img.height,
    bitDepth: 8,
    colorType: 0,
    inputColorType: 0,
    inputHasAlpha: false,
  });
  const data = Buffer.alloc(img.width * img.height);
  for (let i = 0; i < data.length; i++) data[i] = Math.min(255, Math.max(0, Math.round(img.data[i] || 0)));
  png.data = data;
  return PNG.sync.write(png, {
    bitDepth: 8,
    colorType: 0,
    inputColorType: 0,
    inputHasAlpha: false,
  });
}
