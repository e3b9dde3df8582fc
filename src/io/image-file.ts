/** Image files by extension: .npy, .tif/.tiff, .png, .fits/.fit/.fts. */
import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { UserError } from '../errors.ts';
import type { Image } from '../optics/image.ts';
import { decodeFits, encodeFits } from './fits.ts';
import { decodeNpy, encodeNpy } from './npy.ts';
import { decodePng, encodePng16 } from './png.ts';
import { decodeTiff, encodeTiff } from './tiff.ts';

export type ImageFormat = 'npy' | 'tiff' | 'png' | 'fits';

export const INPUT_EXTENSIONS: readonly string[] = ['.npy', '.tif', '.tiff', '.png', '.fits', '.fit', '.fts'];
export const OUTPUT_EXTENSIONS: readonly string[] = ['.npy', '.tif', '.tiff', '.png'];

export function formatFromPath(path: string): ImageFormat | null {
  switch (extname(path).toLowerCase()) {
    case '.npy':
      return 'npy';
    case '.tif':
    case '.tiff':
      return 'tiff';
    case '.png':
      return 'png';
    case '.fits':
    case '.fit':
    case '.fts':
      return 'fits';
    default:
      return null;
  }
}

export function decodeImage(buf: Buffer, format: ImageFormat, name = 'input'): Image {
  switch (format) {
    case 'npy':
      return decodeNpy(buf, name);
    case 'tiff':
      return decodeTiff(buf, name);
    case 'png':
      return decodePng(buf, name);
    case 'fits':
      return decodeFits(buf, name);
  }
}

export async function readImage(path: string): Promise<Image> {
  const format = formatFromPath(path);
  if (!format) throw new UserError(`${path}: unsupported image type (use ${INPUT_EXTENSIONS.join(', ')})`);
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${path}: cannot read (${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)})`);
  }
  return decodeImage(buf, format, path);
}

export interface WriteImageOptions {
  /** override the format implied by the extension */
  format?: 'npy' | 'tiff' | 'png';
  /** PNG: value mapped to 65535 (default image max) */
  pngMax?: number;
}

export function encodeImage(img: Image, format: 'npy' | 'tiff' | 'png', opts: WriteImageOptions = {}): Buffer {
  if (format === 'npy') return encodeNpy(img);
  if (format === 'tiff') return encodeTiff(img, 32);
  return encodePng16(img, { max: opts.pngMax });
}

/** .npy float32, .tiff float32, .png 16-bit scaled to the maximum. */
export async function writeImage(path: string, img: Image, opts: WriteImageOptions = {}): Promise<void> {
  const f = opts.format ?? formatFromPath(path);
  if (f !== 'npy' && f !== 'tiff' && f !== 'png') {
    throw new UserError(`${path}: unsupported output type (use ${OUTPUT_EXTENSIONS.join(', ')})`);
  }
  try {
    await writeFile(path, encodeImage(img, f, opts));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code) throw new UserError(`${path}: cannot write (${code})`);
    throw err;
  }
}

export { encodeFits, encodeNpy, encodePng16, encodeTiff };
