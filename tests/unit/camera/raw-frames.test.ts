import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeStill } from '../../../src/camera/libcamera-still.ts';
import { decodeGray, decodeYuv420Luma, FrameAssembler, grayFrameBytes, yuv420Layout } from '../../../src/camera/raw-frames.ts';
import type { Image } from '../../../src/optics/image.ts';
import { gray16, luma, yuv420Frame } from '../../fixtures/camera/synthetic.mjs';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/camera/${name}`, import.meta.url));

/** deterministic pseudo-random chunking, including runs of 1-byte chunks */
function chunks(buf: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let s = seed;
  let off = 0;
  while (off < buf.length) {
    s = (s * 1103515245 + 12345) >>> 0;
    const r = s % 10;
    const n = r < 4 ? 1 : r < 8 ? 1 + (s % 97) : 1 + (s % 3000);
    out.push(buf.subarray(off, off + n));
    off += n;
  }
  return out;
}

function parseAll(stream: Buffer, frameBytes: number, seed: number): Buffer[] {
  const asm = new FrameAssembler(frameBytes);
  const frames: Buffer[] = [];
  for (const c of chunks(stream, seed)) frames.push(...asm.push(c));
  expect(asm.pending).toBe(stream.length % frameBytes);
  return frames;
}

function expectLuma(img: Image, k: number): void {
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) expect(img.data[y * img.width + x]).toBe(luma(x, y, k));
}

describe('rpicam YUV420 stream', () => {
  it('pads the Y stride to 64 bytes and halves it for chroma', () => {
    const l = yuv420Layout(70, 11);
    expect(l).toMatchObject({
      yStride: 128,
      uvStride: 64,
      uvHeight: 6,
      frameBytes: 128 * 11 + 2 * 64 * 6,
    });
    expect(yuv420Layout(1456, 1088).yStride).toBe(1472);
    expect(yuv420Layout(640, 480).frameBytes).toBe((640 * 480 * 3) / 2);
    expect(() => yuv420Layout(70, 11, 64)).toThrow(/smaller than width/);
  });

  it('recovers every Y plane from the recorded stream under any chunking', () => {
    const stream = fixture('yuv420-70x11-stride128-3frames.bin');
    const layout = yuv420Layout(70, 11);
    for (const seed of [1, 2, 3]) {
      const frames = parseAll(stream, layout.frameBytes, seed);
      expect(frames).toHaveLength(3);
      for (const [k, f] of frames.entries()) expectLuma(decodeYuv420Luma(f, layout), k);
    }
  });

  it('reassembles a stream fed one byte at a time, keeping a trailing partial frame', () => {
    const layout = yuv420Layout(70, 11);
    const stream = Buffer.concat([fixture('yuv420-70x11-stride128-3frames.bin'), yuv420Frame(70, 11, 128, 3).subarray(0, 100)]);
    const asm = new FrameAssembler(layout.frameBytes);
    const frames: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) frames.push(...asm.push(stream.subarray(i, i + 1)));
    expect(frames).toHaveLength(3);
    expect(asm.pending).toBe(100);
    expectLuma(decodeYuv420Luma(frames[2], layout), 2);
  });

  it('infers the stride of a still from its size', () => {
    expectLuma(decodeStill(yuv420Frame(70, 11, 128, 5), 70, 11), 5);
    expect(() => decodeStill(Buffer.alloc(1000), 70, 11)).toThrow(/not a 70x11 YUV420 frame/);
  });
});

describe('GStreamer GRAY8 / GRAY16_LE stream', () => {
  it('decodes GRAY16_LE little-endian with 4-byte row padding', () => {
    const stream = fixture('gray16le-13x5-2frames.bin');
    expect(grayFrameBytes(13, 5, 'GRAY16_LE')).toBe(28 * 5);
    const frames = parseAll(stream, grayFrameBytes(13, 5, 'GRAY16_LE'), 7);
    expect(frames).toHaveLength(2);
    frames.forEach((f, k) => {
      const img = decodeGray(f, 13, 5, 'GRAY16_LE');
      for (let y = 0; y < 5; y++) for (let x = 0; x < 13; x++) expect(img.data[y * 13 + x]).toBe(gray16(x, y, k));
    });
  });

  it('decodes GRAY8 with row padding', () => {
    const frames = parseAll(fixture('gray8-13x5-2frames.bin'), grayFrameBytes(13, 5, 'GRAY8'), 9);
    expect(frames).toHaveLength(2);
    for (const [k, f] of frames.entries()) expectLuma(decodeGray(f, 13, 5, 'GRAY8'), k);
  });
});
