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
 * The decoder lives with the simulated controller (src/hardware/sim/dmd-dlpc900-image.ts), written
 * separately from the guide, so this encoder is checked against an independent reading.
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
 * Uncompressed data is 3-byte pixels, each line padded with zeros to a multiple of 16 bytes.
 * RLE lines start on 4-byte boundaries (E2E 1117715); the last line ends with [0, 1] directly, as
 * in the guide's 2-line example (DLPU018 rev. I Table 2-111), then zeros to a 16-byte boundary as
 * TI's encoder pads. Enhanced RLE ends every line with [0, 0] (optional per the guide) and never
 * lets a run cross a line end.
 *
 * ASSUMPTIONS (each names the document that would settle it):
 *  - the enhanced-RLE two-byte count layout above (low 7 bits with bit 7 set, then n >> 7) is what
 *    TI's SDK encoder (SPLASH_PerformRLESplCompression) writes; the guide's example row "82 01 → 513
 *    repeats" (Japanese rev. I) disagrees (that layout gives 130): settled by DLPU018 §2.4.3 Table 2-115;
 *  - "Number of bytes in the encoded image data" (header bytes 8–11) excludes the 48-byte header,
 *    while Initialize Pattern BMP Load counts it: settled by DLPU018 §2.4.2 Table 2-109 and the
 *    Initialize Pattern BMP Load table ("including the 48 byte header");
 *  - uncompressed lines are padded to 16 bytes (issue #14's reading; TI's SDK pads nothing, the same
 *    bytes for every TI DMD width but the DLP670S half-width of 1358): settled by DLPU018 §2.4.3;
 *  - pixels are 3 bytes in B, G, R order (as the background colour field), rows top to bottom
 *    ("right side up"): settled by DLPU018 §2.4.2/§2.4.3;
 *  - a 1-bit pattern at bit position k reads bit k of the 24-bit value B | G<<8 | R<<16. To be
 *    independent of that bit-plane order we light all 24 bits of an "on" pixel, so bit position 0
 *    shows the mask whatever the firmware's plane mapping is: settled by DLPU018 Pattern Display
 *    LUT Definition;
 *  - RLE: we never write [0, 2, ...]. The guide allows literals of 2 or more, but the format is "a
 *    subset of BMP RLE", where [0, 2] is the delta escape; two [1, pixel] cost the same 8 bytes
 *    (DLPU018 §2.4.3 RLE table would settle whether the firmware reads [0, 2] as a literal).
 */

export const IMAGE_HEADER_BYTES = 48;
export const SIGNATURE = [0x53, 0x70, 0x6c, 0x64] as const;

export type Dlpc900Compression = 'none' | 'rle' | 'erle';
const COMPRESSION_CODE: Record<Dlpc900Compression, number> = { none: 0, rle: 1, erle: 2 };

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

/** Uncompressed data pads every line to a multiple of 16 bytes (see the ASSUMPTIONS above). */
export const UNCOMPRESSED_LINE_ALIGN = 16;

/** Uncompressed 24-bit data from a one-byte-per-mirror mask, lines padded to 16 bytes. */
export function encodeUncompressed(width: number, height: number, bits: Uint8Array): Uint8Array {
  const line = Math.ceil((width * 3) / UNCOMPRESSED_LINE_ALIGN) * UNCOMPRESSED_LINE_ALIGN;
  const out = new Uint8Array(line * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (bits[y * width + x]) out.fill(0xff, y * line + 3 * x, y * line + 3 * x + 3);
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
    // the last line ends with end of image directly (guide's 2-line example)
    if (y < height - 1) {
      w.byte(0);
      w.byte(0);
      w.pad(RLE_LINE_ALIGN);
    }
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
