import { type Image, makeImage } from '../optics/image.ts';

/**
 * Cuts a byte stream of fixed-size frames into whole frames regardless of how the pipe chunks
 * it (reads of 1 byte or of several frames at once both happen).
 */
export class FrameAssembler {
  private buf: Buffer;
  private fill = 0;

  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new RangeError(`invalid frame size ${frameBytes}`);
    this.buf = Buffer.allocUnsafe(frameBytes);
  }

  /** returns the frames completed by this chunk (each a fresh Buffer) */
  push(chunk: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.fill, chunk.length - off);
      this.buf.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.frameBytes) {
        out.push(this.buf);
        this.buf = Buffer.allocUnsafe(this.frameBytes);
        this.fill = 0;
      }
    }
    return out;
  }

  /** drop a partial frame (after the producer restarted) */
  reset(): void {
    this.fill = 0;
  }

  get pending(): number {
    return this.fill;
  }
}

export function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export interface Yuv420Layout {
  width: number;
  height: number;
  /** bytes per Y row including padding */
  yStride: number;
  /** bytes per U or V row including padding (half the Y stride, as V4L2/libcamera lay out I420) */
  uvStride: number;
  uvHeight: number;
  frameBytes: number;
}

/**
 * rpicam-vid --codec yuv420 writes each frame buffer as the ISP produced it: planar I420 whose
 * rows are padded so the Y stride is a multiple of 64 bytes (the Pi ISP driver's
 * bytesperline_align for YUV420), chroma rows half as long, chroma planes ⌈H/2⌉ rows. For widths
 * that are multiples of 64 there is no padding. Pass `stride` when a platform pads differently.
 */
export function yuv420Layout(width: number, height: number, stride?: number): Yuv420Layout {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`invalid frame size ${width}x${height}`);
  }
  const yStride = stride ?? align(width, 64);
  if (yStride < width) throw new RangeError(`stride ${yStride} is smaller than width ${width}`);
  const uvStride = Math.ceil(yStride / 2);
  const uvHeight = Math.ceil(height / 2);
  return {
    width,
    height,
    yStride,
    uvStride,
    uvHeight,
    frameBytes: yStride * height + 2 * uvStride * uvHeight,
  };
}

/** the luma plane as a float image (0..255), padding dropped */
export function decodeYuv420Luma(frame: Uint8Array, l: Yuv420Layout): Image {
  if (frame.length < l.frameBytes) throw new RangeError(`YUV420 frame has ${frame.length} bytes, expected ${l.frameBytes}`);
  const data = new Float32Array(l.width * l.height);
  for (let y = 0; y < l.height; y++) {
    const row = y * l.yStride;
    const o = y * l.width;
    for (let x = 0; x < l.width; x++) data[o + x] = frame[row + x];
  }
  return makeImage(l.width, l.height, data);
}

export type GrayFormat = 'GRAY8' | 'GRAY16_LE';

/** GStreamer's default raw-video row stride: bytes per row rounded up to a multiple of 4 */
export function grayStride(width: number, format: GrayFormat): number {
  return align(width * (format === 'GRAY8' ? 1 : 2), 4);
}

export function grayFrameBytes(width: number, height: number, format: GrayFormat): number {
  return grayStride(width, format) * height;
}

/** GRAY8 or GRAY16_LE (little-endian 16-bit) raw frame as written by fdsink, row padding dropped */
export function decodeGray(frame: Uint8Array, width: number, height: number, format: GrayFormat): Image {
  const need = grayFrameBytes(width, height, format);
  if (frame.length < need) throw new RangeError(`${format} frame has ${frame.length} bytes, expected ${need}`);
  const stride = grayStride(width, format);
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    const o = y * width;
    if (format === 'GRAY8') for (let x = 0; x < width; x++) data[o + x] = frame[row + x];
    else for (let x = 0; x < width; x++) data[o + x] = frame[row + 2 * x] | (frame[row + 2 * x + 1] << 8);
  }
  return makeImage(width, height, data);
}
