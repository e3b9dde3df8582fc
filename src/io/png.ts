/** PNG: read 8/16-bit grayscale (pngjs); write 16-bit grayscale scaled to the image maximum. */
import { crc32 } from 'node:zlib';
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

/**
 * A float image as an 8-bit grayscale PNG for the browser, stretched min..max so a dim raw frame
 * and a unit-sum map (values ~1e-4) are both visible. `gamma` < 1 lifts faint emitters in the
 * super-resolved map, whose peaks otherwise hide everything else.
 */
export function encodePng8Stretched(img: Image, gamma = 1): Buffer {
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

/** PNG signature (8 bytes) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC): text goes right after. */
const AFTER_IHDR = 33;

/**
 * The PNG with a tEXt chunk (PNG spec §11.3.4.3: Latin-1 keyword of 1–79 bytes, NUL, text) after
 * IHDR, so an image published on its own topic names the frame it belongs to.
 */
export function withPngText(png: Uint8Array, keyword: string, text: string): Buffer {
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword)) throw new Error(`PNG text keyword "${keyword}" must be 1–79 printable Latin-1 characters`);
  const data = Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]);
  const type = Buffer.from('tEXt', 'latin1');
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  type.copy(chunk, 4);
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(Buffer.concat([type, data])) >>> 0, 8 + data.length);
  const src = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  return Buffer.concat([src.subarray(0, AFTER_IHDR), chunk, src.subarray(AFTER_IHDR)]);
}

/** The tEXt chunks of a PNG, keyword → text. */
export function readPngText(png: Uint8Array): Record<string, string> {
  const b = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  for (let o = 8; o + 12 <= b.length; ) {
    const len = b.readUInt32BE(o);
    const type = b.toString('latin1', o + 4, o + 8);
    if (type === 'tEXt') {
      const d = b.subarray(o + 8, o + 8 + len);
      const nul = d.indexOf(0);
      if (nul > 0) out[d.toString('latin1', 0, nul)] = d.toString('latin1', nul + 1);
    }
    if (type === 'IEND') break;
    o += 12 + len;
  }
  return out;
}
