/**
 * DLPC900 pattern image format for Pattern On-The-Fly uploads: a 48-byte header followed by 24-bit
 * pixel data, uncompressed or "enhanced RLE".
 *
 * Source: TI DLPU018 "DLPC900 Programmer's Guide" (rev. I/J), section 2.4.2 Image Header
 * (Table 2-109 in rev. I) and section 2.4.3 Image Compression, enhanced RLE control bytes
 * (Table 2-115 in rev. J):
 *
 *   header: 4  signature 0x53 0x70 0x6C 0x64 ("Spld")
 *           2  image width, 2 image height (little-endian)
 *           4  number of bytes in the encoded image data
 *           8  reserved 0xFF
 *           4  background colour BB GG RR 00
 *           1  reserved 0x00
 *           1  compression: 0 uncompressed, 1 RLE, 2 enhanced RLE
 *           1  reserved 0x01
 *          21  reserved 0x00
 *
 *   enhanced RLE:  [0, 0] end of line       [0, 1, 0] end of image
 *                  [0, 1, n] copy n pixels from the line above
 *                  [0, n, n pixels] n literal pixels      [n, pixel] repeat pixel n times
 *                  n < 128 is one byte; n >= 128 is two bytes: (n & 0x7F) | 0x80, then n >> 7
 *
 * ASSUMPTIONS (not verifiable from the excerpts we could read; stated in the report):
 *  - the two-byte count layout above (low 7 bits with bit 7 set, then the high bits) follows the
 *    guide's "n >= 128 is encoded with 2 bytes" rule as we recall its example 0x1234 → B4 24;
 *  - "Number of bytes in the encoded image data" excludes the 48-byte header (the Initialize
 *    Pattern BMP Load size includes it, per the guide's worked example: 6,009 + 48 = 6,057);
 *  - pixels are 3 bytes in B, G, R order (as the background colour field), rows top to bottom with
 *    no row padding, for both compressed ("right side up") and uncompressed data;
 *  - a 1-bit pattern at bit position k reads bit k of the 24-bit value B | G<<8 | R<<16. To be
 *    independent of that bit-plane order we light all 24 bits of an "on" pixel, so bit position 0
 *    shows the mask whatever the firmware's plane mapping is.
 */

export const IMAGE_HEADER_BYTES = 48;
export const SIGNATURE = [0x53, 0x70, 0x6c, 0x64] as const;

export type Dlpc900Compression = 'none' | 'rle' | 'erle';
const COMPRESSION_CODE: Record<Dlpc900Compression, number> = { none: 0, rle: 1, erle: 2 };

export interface DecodedImage {
  width: number;
  height: number;
  /** 24-bit pixel values B | G<<8 | R<<16, row-major */
  pixels: Uint32Array;
}

export class ImageFormatError extends Error {
  override name = 'ImageFormatError';
  constructor(
    message: string,
    /** DLPC900 error code this maps to (Read Error Code, 0x32): 9 bad compression, 16 bad pattern */
    readonly errorCode: number,
  ) {
    super(message);
  }
}

export function buildHeader(width: number, height: number, dataBytes: number, compression: Dlpc900Compression): Uint8Array {
  const h = new Uint8Array(IMAGE_HEADER_BYTES);
  const v = new DataView(h.buffer);
  h.set(SIGNATURE, 0);
  v.setUint16(4, width, true);
  v.setUint16(6, height, true);
  v.setUint32(8, dataBytes, true);
  h.fill(0xff, 12, 20);
  // background colour 20..23 = 0 (black), reserved 24 = 0
  h[25] = COMPRESSION_CODE[compression];
  h[26] = 0x01;
  return h;
}

export interface ParsedHeader {
  width: number;
  height: number;
  dataBytes: number;
  compression: number;
}

export function parseHeader(bytes: Uint8Array): ParsedHeader {
  if (bytes.length < IMAGE_HEADER_BYTES) throw new ImageFormatError('image shorter than its 48-byte header', 16);
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== SIGNATURE[i]) throw new ImageFormatError('image header signature is not "Spld"', 16);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: v.getUint16(4, true), height: v.getUint16(6, true), dataBytes: v.getUint32(8, true), compression: bytes[25] };
}

const ON = 0xffffff;

function pixelAt(bits: Uint8Array, i: number): number {
  return bits[i] ? ON : 0;
}

class ByteWriter {
  private buf = new Uint8Array(4096);
  length = 0;

  private grow(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): void {
    this.grow(1);
    this.buf[this.length++] = b & 0xff;
  }

  count(n: number): void {
    if (n < 128) this.byte(n);
    else {
      if (n >= 1 << 15) throw new Error(`run of ${n} pixels does not fit the two-byte count`);
      this.byte((n & 0x7f) | 0x80);
      this.byte(n >> 7);
    }
  }

  pixel(v: number): void {
    this.byte(v & 0xff);
    this.byte((v >> 8) & 0xff);
    this.byte((v >> 16) & 0xff);
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Uncompressed 24-bit data from a one-byte-per-mirror mask. */
export function encodeUncompressed(width: number, height: number, bits: Uint8Array): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    if (bits[i]) {
      out[3 * i] = 0xff;
      out[3 * i + 1] = 0xff;
      out[3 * i + 2] = 0xff;
    }
  }
  return out;
}

/**
 * Enhanced RLE. Per position we take the longer of "same as the line above" and "same pixel
 * repeated"; sparse point masks collapse to a few bytes per line.
 */
export function encodeEnhancedRle(width: number, height: number, bits: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let x = 0;
    while (x < width) {
      const v = pixelAt(bits, row + x);
      let rep = 1;
      while (x + rep < width && pixelAt(bits, row + x + rep) === v) rep++;
      let copy = 0;
      if (y > 0) {
        while (x + copy < width && pixelAt(bits, row + x + copy) === pixelAt(bits, row - width + x + copy)) copy++;
      }
      // a copy of 1 is [0,1,1]: one byte longer than its repeat, so only copy when it wins
      if (copy > rep || (copy === rep && copy >= 2)) {
        w.byte(0);
        w.byte(1);
        w.count(copy);
        x += copy;
      } else {
        w.count(rep);
        w.pixel(v);
        x += rep;
      }
    }
    w.byte(0);
    w.byte(0);
  }
  w.byte(0);
  w.byte(1);
  w.byte(0);
  return w.bytes();
}

/** Header + data, ready for Initialize Pattern BMP Load / Pattern BMP Load. */
export function encodePatternImage(width: number, height: number, bits: Uint8Array, compression: Dlpc900Compression): Uint8Array {
  if (compression === 'rle') throw new Error('plain BMP RLE (compression 1) is not implemented; use "erle" or "none"');
  const data = compression === 'none' ? encodeUncompressed(width, height, bits) : encodeEnhancedRle(width, height, bits);
  const out = new Uint8Array(IMAGE_HEADER_BYTES + data.length);
  out.set(buildHeader(width, height, data.length, compression), 0);
  out.set(data, IMAGE_HEADER_BYTES);
  return out;
}

class ByteReader {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}

  byte(): number {
    if (this.pos >= this.b.length) throw new ImageFormatError('compressed image data ends early', 16);
    return this.b[this.pos++];
  }

  countFrom(first: number): number {
    if (first < 128) return first;
    return (first & 0x7f) | (this.byte() << 7);
  }

  pixel(): number {
    const b = this.byte();
    const g = this.byte();
    const r = this.byte();
    return b | (g << 8) | (r << 16);
  }
}

export function decodePatternImage(bytes: Uint8Array): DecodedImage {
  const h = parseHeader(bytes);
  const data = bytes.subarray(IMAGE_HEADER_BYTES, IMAGE_HEADER_BYTES + h.dataBytes);
  if (data.length !== h.dataBytes) throw new ImageFormatError(`header announces ${h.dataBytes} data bytes, got ${data.length}`, 16);
  const { width, height } = h;
  const pixels = new Uint32Array(width * height);
  if (h.compression === 0) {
    if (data.length !== width * height * 3) {
      throw new ImageFormatError(`uncompressed ${width}x${height} image needs ${width * height * 3} bytes, got ${data.length}`, 16);
    }
    for (let i = 0; i < pixels.length; i++) pixels[i] = data[3 * i] | (data[3 * i + 1] << 8) | (data[3 * i + 2] << 16);
    return { width, height, pixels };
  }
  if (h.compression !== 2) throw new ImageFormatError(`unsupported compression type ${h.compression}`, 9);
  const r = new ByteReader(data);
  let y = 0;
  let x = 0;
  const put = (v: number): void => {
    if (x >= width || y >= height) throw new ImageFormatError(`pixel data overruns line ${y}`, 16);
    pixels[y * width + x] = v;
    x++;
  };
  for (;;) {
    const c1 = r.byte();
    if (c1 !== 0) {
      const n = r.countFrom(c1);
      const v = r.pixel();
      for (let i = 0; i < n; i++) put(v);
      continue;
    }
    const c2 = r.byte();
    if (c2 === 0) {
      if (x !== width) throw new ImageFormatError(`line ${y} has ${x} pixels, expected ${width}`, 16);
      y++;
      x = 0;
      continue;
    }
    if (c2 === 1) {
      const c3 = r.byte();
      if (c3 === 0) break;
      const n = r.countFrom(c3);
      if (y === 0) throw new ImageFormatError('copy-from-previous-line on the first line', 16);
      for (let i = 0; i < n; i++) put(pixels[(y - 1) * width + x]);
      continue;
    }
    const n = r.countFrom(c2);
    for (let i = 0; i < n; i++) put(r.pixel());
  }
  if (y !== height || x !== 0) throw new ImageFormatError(`image ended after ${y} of ${height} lines`, 16);
  return { width, height, pixels };
}

/** One bit plane of a decoded 24-bit image as one byte per mirror. */
export function bitPlane(img: DecodedImage, bit: number): Uint8Array {
  const out = new Uint8Array(img.pixels.length);
  for (let i = 0; i < out.length; i++) out[i] = (img.pixels[i] >> bit) & 1;
  return out;
}
