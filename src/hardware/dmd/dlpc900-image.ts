/**
 * DLPC900 pattern image format for Pattern On-The-Fly uploads: a 48-byte header followed by 24-bit
 * pixel data, uncompressed, plain RLE or "enhanced RLE".
 *
 * Source: TI DLPU018 "DLPC900 Programmer's Guide" (rev. I/J), section 2.4.2 Image Header
 * (Table 2-109 in rev. I) and section 2.4.3 Image Compression: RLE control bytes and the 2-line
 * example (Tables 2-110/2-111 in rev. I), enhanced RLE control bytes (Table 2-115 in rev. J).
 * TI's own encoder/decoder for both RLE forms, as shipped in the DLPC350/DLPC900 GUI and SDK sources
 * (SPLASH_PerformRLECompression / SPLASH_PerformRLEUnCompression / SPLASH_PerformRLESplCompression),
 * and TI's answer in E2E thread 1117715 "DLPC900: RLE padding" settle the details the tables leave open.
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
 *   RLE (1):       [n, pixel] repeat pixel n times, 1 <= n <= 255 (one byte, no long form)
 *                  [0, c, c pixels] c literal pixels, 2 <= c <= 255
 *                  [0, 0] end of line, then 0x00 padding so the next line starts on a 4-byte boundary
 *                  [0, 1] end of image (two bytes, unlike enhanced RLE's three)
 *
 *   enhanced RLE:  [0, 0] end of line       [0, 1, 0] end of image
 *                  [0, 1, n] copy n pixels from the line above
 *                  [0, n, n pixels] n literal pixels      [n, pixel] repeat pixel n times
 *                  n < 128 is one byte; n >= 128 is two bytes: (n & 0x7F) | 0x80, then n >> 7
 *
 * ASSUMPTIONS (not verifiable from the excerpts we could read; stated in the report):
 *  - the enhanced-RLE two-byte count layout above (low 7 bits with bit 7 set, then the high bits) is
 *    what TI's SDK encoder writes; the guide's own example row "82 01 → 513 repeats" (Japanese rev. I)
 *    disagrees (that layout gives 130), and we trust the code that TI ships over the table;
 *  - "Number of bytes in the encoded image data" excludes the 48-byte header (the Initialize
 *    Pattern BMP Load size includes it, per the guide's worked example: 6,009 + 48 = 6,057; TI's SDK
 *    sets it to the compressed size alone);
 *  - pixels are 3 bytes in B, G, R order (as the background colour field), rows top to bottom with
 *    no row padding, for both compressed ("right side up") and uncompressed data;
 *  - a 1-bit pattern at bit position k reads bit k of the 24-bit value B | G<<8 | R<<16. To be
 *    independent of that bit-plane order we light all 24 bits of an "on" pixel, so bit position 0
 *    shows the mask whatever the firmware's plane mapping is;
 *  - RLE: the 4-byte line alignment counts from the first data byte. TI's decoder counts from the
 *    start of the compressed buffer; the header is 48 bytes, so counting from the header start is the
 *    same boundary either way;
 *  - RLE: we end every line, the last one included, with [0, 0] + padding before [0, 1], and pad the
 *    data after [0, 1] to a 16-byte boundary, as TI's encoder does. TI support says padding after end
 *    of image is not needed and the guide's example puts [0, 1] straight after the last line's pixels;
 *    our decoder accepts both forms, so only the firmware's reading of our bytes rests on TI's code;
 *  - RLE: we never write [0, 2, ...]. The guide allows literals of 2 or more, but the format is "a
 *    subset of BMP RLE", where [0, 2] is the delta escape; two [1, pixel] cost the same 8 bytes.
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

  /** Zero bytes up to the next multiple of `align`, counted from the first data byte. */
  pad(align: number): void {
    while (this.length % align !== 0) this.byte(0);
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

/** Plain RLE counts are one byte: longer runs and literals are split. */
const RLE_MAX_COUNT = 255;
/** Shortest literal we write: two pixels cost 8 bytes as two repeats too, and avoid [0, 2]. */
const RLE_MIN_LITERAL = 3;
const RLE_LINE_ALIGN = 4;
const RLE_END_ALIGN = 16;

/**
 * Plain RLE. Runs of two or more become repeats (4 bytes, never more than a literal of the same
 * pixels); lone pixels between runs are gathered into literals. Nothing crosses a line end.
 */
export function encodeRle(width: number, height: number, bits: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  for (let y = 0; y < height; y++) {
    const row = y * width;
    // lone pixels not yet written: row + litStart .. row + litStart + litLen - 1
    let litStart = 0;
    let litLen = 0;
    const flushLiteral = (): void => {
      if (litLen >= RLE_MIN_LITERAL) {
        w.byte(0);
        w.byte(litLen);
        for (let i = 0; i < litLen; i++) w.pixel(pixelAt(bits, row + litStart + i));
      } else {
        for (let i = 0; i < litLen; i++) {
          w.byte(1);
          w.pixel(pixelAt(bits, row + litStart + i));
        }
      }
      litLen = 0;
    };
    let x = 0;
    while (x < width) {
      const v = pixelAt(bits, row + x);
      let rep = 1;
      while (x + rep < width && rep < RLE_MAX_COUNT && pixelAt(bits, row + x + rep) === v) rep++;
      if (rep >= 2) {
        flushLiteral();
        w.byte(rep);
        w.pixel(v);
      } else {
        if (litLen === 0) litStart = x;
        litLen++;
        if (litLen === RLE_MAX_COUNT) flushLiteral();
      }
      x += rep;
    }
    flushLiteral();
    w.byte(0);
    w.byte(0);
    w.pad(RLE_LINE_ALIGN);
  }
  w.byte(0);
  w.byte(1);
  w.pad(RLE_END_ALIGN);
  return w.bytes();
}

const ENCODERS: Record<Dlpc900Compression, (width: number, height: number, bits: Uint8Array) => Uint8Array> = {
  none: encodeUncompressed,
  rle: encodeRle,
  erle: encodeEnhancedRle,
};

/** Header + data, ready for Initialize Pattern BMP Load / Pattern BMP Load. */
export function encodePatternImage(width: number, height: number, bits: Uint8Array, compression: Dlpc900Compression): Uint8Array {
  const data = ENCODERS[compression](width, height, bits);
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

  /**
   * Skips padding up to the next multiple of `align` (or to the end, when `align` is 0). The firmware
   * skips it unread; a non-zero byte here means the encoder lost count, so we refuse it.
   */
  zeros(align: number): void {
    const end = align === 0 ? this.b.length : Math.min(this.b.length, Math.ceil(this.pos / align) * align);
    for (; this.pos < end; this.pos++) {
      if (this.b[this.pos] !== 0) throw new ImageFormatError(`non-zero padding byte at data offset ${this.pos}`, 16);
    }
  }
}

/** The image being rebuilt, filled left to right, top to bottom, with the checks every form shares. */
class Raster {
  readonly pixels: Uint32Array;
  x = 0;
  y = 0;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = new Uint32Array(width * height);
  }

  put(v: number): void {
    if (this.x >= this.width || this.y >= this.height) throw new ImageFormatError(`pixel data overruns line ${this.y}`, 16);
    this.pixels[this.y * this.width + this.x] = v;
    this.x++;
  }

  above(): number {
    if (this.y === 0) throw new ImageFormatError('copy-from-previous-line on the first line', 16);
    return this.pixels[(this.y - 1) * this.width + this.x];
  }

  endLine(): void {
    if (this.x !== this.width) throw new ImageFormatError(`line ${this.y} has ${this.x} pixels, expected ${this.width}`, 16);
    this.y++;
    this.x = 0;
  }

  finish(): DecodedImage {
    if (this.y !== this.height || this.x !== 0) throw new ImageFormatError(`image ended after ${this.y} of ${this.height} lines`, 16);
    return { width: this.width, height: this.height, pixels: this.pixels };
  }
}

function decodeUncompressed(data: Uint8Array, out: Raster): DecodedImage {
  const { width, height } = out;
  if (data.length !== width * height * 3) {
    throw new ImageFormatError(`uncompressed ${width}x${height} image needs ${width * height * 3} bytes, got ${data.length}`, 16);
  }
  for (let i = 0; i < out.pixels.length; i++) out.pixels[i] = data[3 * i] | (data[3 * i + 1] << 8) | (data[3 * i + 2] << 16);
  return { width, height, pixels: out.pixels };
}

function decodeRle(data: Uint8Array, out: Raster): DecodedImage {
  const r = new ByteReader(data);
  for (;;) {
    const n = r.byte();
    if (n !== 0) {
      const v = r.pixel();
      for (let i = 0; i < n; i++) out.put(v);
      continue;
    }
    const c = r.byte();
    if (c === 0) {
      out.endLine();
      r.zeros(RLE_LINE_ALIGN);
      continue;
    }
    if (c === 1) break;
    for (let i = 0; i < c; i++) out.put(r.pixel());
  }
  // the guide's example ends its last line with [0, 1] directly, TI's encoder with [0, 0] first
  if (out.y === out.height - 1 && out.x === out.width) out.endLine();
  r.zeros(0);
  return out.finish();
}

function decodeEnhancedRle(data: Uint8Array, out: Raster): DecodedImage {
  const r = new ByteReader(data);
  for (;;) {
    const c1 = r.byte();
    if (c1 !== 0) {
      const n = r.countFrom(c1);
      const v = r.pixel();
      for (let i = 0; i < n; i++) out.put(v);
      continue;
    }
    const c2 = r.byte();
    if (c2 === 0) {
      out.endLine();
      continue;
    }
    if (c2 === 1) {
      const c3 = r.byte();
      if (c3 === 0) break;
      const n = r.countFrom(c3);
      for (let i = 0; i < n; i++) out.put(out.above());
      continue;
    }
    const n = r.countFrom(c2);
    for (let i = 0; i < n; i++) out.put(r.pixel());
  }
  return out.finish();
}

const DECODERS: ReadonlyArray<(data: Uint8Array, out: Raster) => DecodedImage> = [decodeUncompressed, decodeRle, decodeEnhancedRle];

export function decodePatternImage(bytes: Uint8Array): DecodedImage {
  const h = parseHeader(bytes);
  const data = bytes.subarray(IMAGE_HEADER_BYTES, IMAGE_HEADER_BYTES + h.dataBytes);
  if (data.length !== h.dataBytes) throw new ImageFormatError(`header announces ${h.dataBytes} data bytes, got ${data.length}`, 16);
  const decode = DECODERS[h.compression];
  if (!decode) throw new ImageFormatError(`unsupported compression type ${h.compression}`, 9);
  return decode(data, new Raster(h.width, h.height));
}

/** One bit plane of a decoded 24-bit image as one byte per mirror. */
export function bitPlane(img: DecodedImage, bit: number): Uint8Array {
  const out = new Uint8Array(img.pixels.length);
  for (let i = 0; i < out.length; i++) out[i] = (img.pixels[i] >> bit) & 1;
  return out;
}
