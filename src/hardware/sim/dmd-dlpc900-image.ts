/**
 * The simulated DLPC900's own reading of an uploaded pattern image, written from TI's document and
 * TI's reference decoder, never from our encoder (src/hardware/dmd/dlpc900-image.ts), so an encoder
 * that misreads the format produces an image this decoder rejects or rebuilds differently.
 *
 * Sources: TI DLPU018J "DLPC900 Programmer's Guide" §2.4.2 Image Header, §2.4.3 Image Compression
 * (RLE control bytes and the 2-line example, Tables 2-110/2-111 in rev. I; enhanced RLE control
 * bytes, Table 2-115 in rev. J); TI's SPLASH_PerformRLEUnCompression (DLPC350/DLPC900 GUI sources)
 * and TI's answer in E2E thread 1117715 "DLPC900: RLE padding" for the 4-byte line alignment.
 */

/** DLPU018 §2.4.2 header: 48 bytes. */
const HEADER_BYTES = 48;
/** §2.4.2 bytes 0–3: signature 53h 70h 6Ch 64h ("Spld"). */
const SIGNATURE = [0x53, 0x70, 0x6c, 0x64];
/** §2.4.2 byte 25: 0 uncompressed, 1 RLE, 2 enhanced RLE. */
const UNCOMPRESSED = 0;
const RLE = 1;
const ENHANCED_RLE = 2;
/** RLE: every line starts on a 4-byte boundary (§2.4.3 RLE; E2E 1117715). */
const RLE_LINE_ALIGN = 4;
/**
 * Uncompressed data: each line of 3-byte pixels is padded to a multiple of 16 bytes. ASSUMPTION
 * (issue #14's reading of DLPU018 §2.4.3; TI's SDK encoder pads nothing, which is the same for every
 * DMD width TI ships except the DLP670S half-width of 1358): settled by DLPU018 §2.4.3.
 */
const UNCOMPRESSED_LINE_ALIGN = 16;

/** Read Error Code values this decoder maps to (DLPU018 §2.1.6). */
export const IMAGE_ERROR = { badCompression: 9, badPattern: 16 } as const;

export class ImageRejected extends Error {
  override name = 'ImageRejected';
  constructor(
    message: string,
    readonly errorCode: number,
  ) {
    super(message);
  }
}

export interface TwinImage {
  width: number;
  height: number;
  compression: number;
  /** 24-bit pixels B | G << 8 | R << 16 (§2.4.2: pixel bytes in B, G, R order like the background colour), row-major */
  pixels: Uint32Array;
}

const reject = (message: string): never => {
  throw new ImageRejected(message, IMAGE_ERROR.badPattern);
};

/** The image as its pixels are filled in: left to right, top to bottom; a full line wraps to the next. */
class Canvas {
  readonly pixels: Uint32Array;
  x = 0;
  y = 0;
  /** the last operation completed a line and no end-of-line has been seen for it yet */
  wrapped = false;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = new Uint32Array(width * height);
  }

  put(v: number): void {
    if (this.y >= this.height) reject(`pixel data runs past the last line (${this.height})`);
    this.pixels[this.y * this.width + this.x] = v;
    this.x++;
    this.wrapped = false;
    if (this.x === this.width) {
      this.x = 0;
      this.y++;
      this.wrapped = true;
    }
  }

  /** Runs never cross a line end (TI's encoders stop every run at the line's last pixel). */
  run(n: number, pixel: (i: number) => number): void {
    if (n > this.width - this.x) reject(`a run of ${n} pixels crosses the end of line ${this.y}`);
    for (let i = 0; i < n; i++) this.put(pixel(i));
  }

  above(): number {
    if (this.y === 0) reject('copy from the previous line on the first line');
    return this.pixels[(this.y - 1) * this.width + this.x];
  }

  /** An explicit end of line is only valid right after a line's last pixel. */
  endLine(): void {
    if (!this.wrapped) reject(`end of line after ${this.x} of ${this.width} pixels on line ${this.y}`);
    this.wrapped = false;
  }

  done(): void {
    if (this.y !== this.height || this.x !== 0) reject(`image ended on line ${this.y} of ${this.height}`);
  }
}

class Bytes {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}
  get left(): number {
    return this.b.length - this.pos;
  }
  next(): number {
    if (this.pos >= this.b.length) reject('image data ends before the end-of-image code');
    return this.b[this.pos++];
  }
  pixel(): number {
    const blue = this.next();
    const green = this.next();
    const red = this.next();
    return blue | (green << 8) | (red << 16);
  }
  /** Skip to the next multiple of `align` (0 = to the end); padding is zeros. */
  zerosTo(align: number): void {
    const end = align === 0 ? this.b.length : Math.min(this.b.length, Math.ceil(this.pos / align) * align);
    for (; this.pos < end; this.pos++) if (this.b[this.pos] !== 0) reject(`non-zero padding at data byte ${this.pos}`);
  }
}

function readUncompressed(data: Uint8Array, c: Canvas): void {
  const line = Math.ceil((c.width * 3) / UNCOMPRESSED_LINE_ALIGN) * UNCOMPRESSED_LINE_ALIGN;
  if (data.length !== line * c.height) {
    reject(`uncompressed ${c.width}x${c.height} needs ${c.height} lines of ${line} bytes (${line * c.height}), got ${data.length}`);
  }
  const r = new Bytes(data);
  for (let y = 0; y < c.height; y++) {
    r.pos = y * line;
    for (let x = 0; x < c.width; x++) c.put(r.pixel());
    r.zerosTo(UNCOMPRESSED_LINE_ALIGN);
  }
}

/**
 * §2.4.3 RLE control bytes: [n > 0, pixel] repeat; [0, 0] end of line then zero padding to a 4-byte
 * boundary; [0, 1] end of image; [0, n >= 2, n pixels] literal. The guide's 2-line example ends the
 * last line with end of image directly; TI's SDK encoder writes an end of line first. Both are read.
 */
function readRle(data: Uint8Array, c: Canvas): void {
  const r = new Bytes(data);
  for (;;) {
    const first = r.next();
    if (c.wrapped && c.y < c.height && first !== 0) reject(`line ${c.y - 1} is not ended by an end of line`);
    if (first !== 0) {
      const v = r.pixel();
      c.run(first, () => v);
      continue;
    }
    const second = r.next();
    if (second === 0) {
      c.endLine();
      r.zerosTo(RLE_LINE_ALIGN);
      continue;
    }
    if (second === 1) break;
    if (c.wrapped && c.y < c.height) reject(`line ${c.y - 1} is not ended by an end of line`);
    const pixels: number[] = [];
    for (let i = 0; i < second; i++) pixels.push(r.pixel());
    c.run(second, (i) => pixels[i]);
  }
  c.done();
  r.zerosTo(0);
}

/** §2.4.3 enhanced RLE counts: n < 128 in one byte; otherwise (n & 7Fh) | 80h, then n >> 7. */
function count(r: Bytes, first: number): number {
  if (first < 0x80) return first;
  return (first & 0x7f) | (r.next() << 7);
}

/**
 * §2.4.3 enhanced RLE (Table 2-115): [0, 0] end of line; [0, 1, 0] end of image; [0, 1, n] copy n
 * pixels from the line above; [0, n > 1, n pixels] literal; [n > 0, pixel] repeat. End of line is
 * optional (TI's encoder, SPLASH_PerformRLESplCompression, writes none; E2E 1117715), so a line
 * ends when its last pixel is filled.
 */
function readEnhancedRle(data: Uint8Array, c: Canvas): void {
  const r = new Bytes(data);
  for (;;) {
    const b1 = r.next();
    if (b1 !== 0) {
      const n = count(r, b1);
      const v = r.pixel();
      c.run(n, () => v);
      continue;
    }
    const b2 = r.next();
    if (b2 === 0) {
      c.endLine();
      continue;
    }
    if (b2 === 1) {
      const b3 = r.next();
      if (b3 === 0) break;
      c.run(count(r, b3), () => c.above());
      continue;
    }
    const n = count(r, b2);
    const pixels: number[] = [];
    for (let i = 0; i < n; i++) pixels.push(r.pixel());
    c.run(n, (i) => pixels[i]);
  }
  c.done();
  // anything after end of image is padding (optional, E2E 1117715)
  r.zerosTo(0);
}

/** Header + data as uploaded by Initialize Pattern BMP Load / Pattern BMP Load. */
export function readPatternImage(bytes: Uint8Array): TwinImage {
  if (bytes.length < HEADER_BYTES) reject('image shorter than the 48-byte header');
  for (let i = 0; i < SIGNATURE.length; i++) if (bytes[i] !== SIGNATURE[i]) reject('header signature is not "Spld"');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // §2.4.2: bytes 4–5 width, 6–7 height, 8–11 number of data bytes (after the header), 25 compression
  const width = v.getUint16(4, true);
  const height = v.getUint16(6, true);
  const dataBytes = v.getUint32(8, true);
  const compression = bytes[25];
  if (width === 0 || height === 0) reject(`image size ${width}x${height}`);
  if (HEADER_BYTES + dataBytes !== bytes.length) reject(`header announces ${dataBytes} data bytes, ${bytes.length - HEADER_BYTES} follow`);
  const data = bytes.subarray(HEADER_BYTES);
  const c = new Canvas(width, height);
  if (compression === UNCOMPRESSED) readUncompressed(data, c);
  else if (compression === RLE) readRle(data, c);
  else if (compression === ENHANCED_RLE) readEnhancedRle(data, c);
  else throw new ImageRejected(`compression type ${compression}`, IMAGE_ERROR.badCompression);
  return { width, height, compression, pixels: c.pixels };
}

/**
 * One bit plane as one byte per mirror. ASSUMPTION: bit position k of the Pattern Display LUT
 * Definition selects bit k of B | G << 8 | R << 16; settled by DLPU018 §2.4.2 / Pattern Display LUT
 * Definition. Our driver lights all 24 bits of an "on" pixel, so bit 0 shows the mask either way.
 */
export function plane(img: TwinImage, bit: number): Uint8Array {
  const out = new Uint8Array(img.pixels.length);
  for (let i = 0; i < out.length; i++) out[i] = (img.pixels[i] >> bit) & 1;
  return out;
}
