/**
 * DLPC900 pattern image encoder (src/hardware/dmd/dlpc900-image.ts) read back by the simulated
 * controller's independent decoder (src/hardware/sim/dmd-dlpc900-image.ts), with golden bytes from
 * DLPU018 §2.4.3 (the guide's 2-line RLE example) and the format rules.
 *
 * Mutation check (python3 tests/unit/hardware/dmd/mutation-check.py; mutation → test that catches it):
 *   M8  plain RLE: end of line before end of image  → "encodes a 5x2 mask to the bytes ...", "splits runs longer
 *                                                     than 255", "keeps every line on a 4-byte boundary ..."
 *   M9  uncompressed lines not padded to 16 bytes   → "uncompressed lines are 3-byte pixels padded ..."
 *   M16 header compression byte at offset 24        → every decode / round-trip test here, e2e devices (22)
 */
import { describe, expect, it } from 'vitest';
import { Dlpc900 } from '../../../../src/hardware/dmd/dlpc900.ts';
import {
  buildHeader,
  encodePatternImage,
  encodeRle,
  encodeUncompressed,
  IMAGE_HEADER_BYTES,
} from '../../../../src/hardware/dmd/dlpc900-image.ts';
import { masksEqual, randomPoints } from '../../../../src/hardware/patterns.ts';
import { SimDlpc900 } from '../../../../src/hardware/sim/dmd-dlpc900.ts';
import { readPatternImage as decodePatternImage, ImageRejected } from '../../../../src/hardware/sim/dmd-dlpc900-image.ts';
import { SimI2cBus } from '../../../../src/hardware/sim/i2c-bus.ts';
import { Rng } from '../../../../src/optics/random.ts';

const hex = (a: Uint8Array | number[]) => Array.from(a, (b) => b.toString(16).padStart(2, '0')).join(' ');
const bytes = (s: string) => Uint8Array.from(s.split(/\s+/).filter(Boolean), (b) => Number.parseInt(b, 16));

/** Header announcing `data` as an image of the given size and compression, followed by `data`. */
function withHeader(width: number, height: number, data: Uint8Array, compression: 'none' | 'rle' | 'erle' = 'rle'): Uint8Array {
  const out = new Uint8Array(IMAGE_HEADER_BYTES + data.length);
  out.set(buildHeader(width, height, data.length, compression));
  out.set(data, IMAGE_HEADER_BYTES);
  return out;
}

function randomBits(n: number, density: number, seed: number): Uint8Array {
  const r = new Rng(seed);
  return Uint8Array.from({ length: n }, () => (r.uniform() < density ? 1 : 0));
}

/** Header fields by DLPU018 §2.4.2 offsets, read here rather than through either codec. */
function header(image: Uint8Array) {
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  return { width: v.getUint16(4, true), height: v.getUint16(6, true), dataBytes: v.getUint32(8, true), compression: image[25] };
}

/** Encode with plain RLE, decode as the simulated controller does, and compare with the mask. */
function roundTrip(width: number, height: number, bits: Uint8Array): void {
  const image = encodePatternImage(width, height, bits, 'rle');
  const h = header(image);
  expect(h).toEqual({ width, height, dataBytes: image.length - IMAGE_HEADER_BYTES, compression: 1 });
  expect(h.dataBytes % 16).toBe(0);
  const img = decodePatternImage(image);
  expect(img.width).toBe(width);
  expect(img.height).toBe(height);
  const expected = Array.from(bits, (b) => (b ? 0xffffff : 0));
  expect(Array.from(img.pixels)).toEqual(expected);
}

describe('DLPC900 plain RLE, compression 1 (DLPU018 §2.4.3)', () => {
  it("decodes the guide's 2-line example (Table 2-111, rev. I) to its expanded pixels", () => {
    // width 13: 3 + 5 + 3 + 2 pixels on line 0, 7 + 6 on line 1; bytes 0..24 then 3 padding bytes
    // so line 1 starts at offset 28; the example ends line 1 with end of image, no end of line
    const data = bytes(`
      03 04 05 06   05 77 77 77   00 03 04 05 06 07 08 09 0a 0b 0c   02 78 9a bc   00 00   00 00 00
      07 1d 1e 1f   06 21 22 23   00 01`);
    const img = decodePatternImage(withHeader(13, 2, data));
    const px = (b: number, g: number, r: number) => b | (g << 8) | (r << 16);
    const line0 = [
      ...Array(3).fill(px(4, 5, 6)),
      ...Array(5).fill(px(0x77, 0x77, 0x77)),
      px(4, 5, 6),
      px(7, 8, 9),
      px(0xa, 0xb, 0xc),
      ...Array(2).fill(px(0x78, 0x9a, 0xbc)),
    ];
    const line1 = [...Array(7).fill(px(0x1d, 0x1e, 0x1f)), ...Array(6).fill(px(0x21, 0x22, 0x23))];
    expect(Array.from(img.pixels)).toEqual([...line0, ...line1]);
    // the same image the way TI's encoder ends it: end of line at 36, padding to 40, end of image at
    // 40..41, padding to 48
    const tiStyle = bytes(`
      03 04 05 06   05 77 77 77   00 03 04 05 06 07 08 09 0a 0b 0c   02 78 9a bc   00 00   00 00 00
      07 1d 1e 1f   06 21 22 23   00 00   00 00   00 01   00 00 00 00 00 00`);
    expect(tiStyle.length % 16).toBe(0);
    expect(Array.from(decodePatternImage(withHeader(13, 2, tiStyle)).pixels)).toEqual([...line0, ...line1]);
  });

  it("decodes a two-pixel literal [0, 2, ...], which TI's encoder writes and ours avoids", () => {
    // literal of 2 (0..7), one-pixel repeat (8..11), end of line (12..13), padding, end of image
    const data = bytes('00 02 01 02 03 04 05 06 01 09 09 09 00 00 00 00 00 01');
    expect(Array.from(decodePatternImage(withHeader(3, 1, data)).pixels)).toEqual([0x030201, 0x060504, 0x090909]);
  });

  it('encodes a 5x2 mask to the bytes the format description gives', () => {
    // line 0: 1 0 1 1 0 -> lone 1, lone 0 (two lone pixels: two one-pixel repeats, never [0, 2]),
    //   run of two 1s, lone 0; end of line at 16..17, padding to 20
    // line 1: 0 1 0 1 0 -> five lone pixels: literal [0, 5, ...] at 20..36; the last line ends with
    //   end of image [0, 1] at 37..38 directly (guide's 2-line example), then padding to 48
    const bits = Uint8Array.of(1, 0, 1, 1, 0, 0, 1, 0, 1, 0);
    const on = 'ff ff ff';
    const off = '00 00 00';
    const expected = [
      `01 ${on}`,
      `01 ${off}`,
      `02 ${on}`,
      `01 ${off}`,
      '00 00',
      '00 00',
      `00 05 ${off} ${on} ${off} ${on} ${off}`,
      '00 01',
      '00 00 00 00 00 00 00 00 00',
    ].join(' ');
    expect(hex(encodeRle(5, 2, bits))).toBe(expected);
    const image = encodePatternImage(5, 2, bits, 'rle');
    expect(image[25]).toBe(1); // header compression byte
    expect(hex(image.subarray(8, 12))).toBe('30 00 00 00'); // 48 data bytes, header excluded
    expect(hex(image.subarray(IMAGE_HEADER_BYTES))).toBe(expected);
  });

  it('uncompressed lines are 3-byte pixels padded with zeros to a multiple of 16 bytes', () => {
    // width 5: 15 pixel bytes + 1 padding byte per line; (1,0) and (4,1) lit
    const bits = Uint8Array.of(0, 1, 0, 0, 0, 0, 0, 0, 0, 1);
    expect(hex(encodeUncompressed(5, 2, bits))).toBe(
      '00 00 00 ff ff ff 00 00 00 00 00 00 00 00 00 00 ' + '00 00 00 00 00 00 00 00 00 00 00 00 ff ff ff 00',
    );
    const img = decodePatternImage(encodePatternImage(5, 2, bits, 'none'));
    expect(Array.from(img.pixels, (p) => (p ? 1 : 0))).toEqual(Array.from(bits));
    // width 16: 48 bytes per line, already a multiple of 16
    expect(encodeUncompressed(16, 3, new Uint8Array(48)).length).toBe(144);
  });

  it('splits runs longer than 255 into one-byte repeats (plain RLE has no two-byte count)', () => {
    // 600 = 255 + 255 + 90 (0x5a); the only line ends with end of image at 12..13, pad to 16
    const ones = new Uint8Array(600).fill(1);
    expect(hex(encodeRle(600, 1, ones))).toBe('ff ff ff ff ff ff ff ff 5a ff ff ff 00 01 00 00');
    // 256 = 255 + a lone pixel, which is a one-pixel repeat
    expect(hex(encodeRle(256, 1, new Uint8Array(256)).subarray(0, 8))).toBe('ff 00 00 00 01 00 00 00');
    // more than 255 lone pixels in a row need two literals
    const alt = Uint8Array.from({ length: 600 }, (_, i) => i & 1);
    const data = encodeRle(600, 1, alt);
    expect(hex(data.subarray(0, 2))).toBe('00 ff');
    expect(hex(data.subarray(2 + 255 * 3, 4 + 255 * 3))).toBe('00 ff');
    expect(hex(data.subarray(4 + 510 * 3, 6 + 510 * 3))).toBe('00 5a');
    for (const width of [255, 256, 257, 510, 511, 600, 1920, 2560]) {
      roundTrip(width, 2, new Uint8Array(2 * width).fill(1));
      roundTrip(
        width,
        2,
        Uint8Array.from({ length: 2 * width }, (_, i) => i & 1),
      );
    }
  });

  it('round-trips all-off, all-on and alternating masks at awkward widths', () => {
    for (const width of [1, 2, 3, 5, 7, 13, 127, 128, 129, 253, 255, 257, 1001]) {
      for (const height of [1, 2, 3, 7]) {
        const n = width * height;
        roundTrip(width, height, new Uint8Array(n));
        roundTrip(width, height, new Uint8Array(n).fill(1));
        const alternating = [
          (i: number) => i & 1, // columns alternate (a checkerboard at odd widths)
          (i: number) => ((i % width) + Math.floor(i / width)) & 1, // checkerboard
          (i: number) => Math.floor(i / width) & 1, // rows alternate
        ];
        for (const f of alternating)
          roundTrip(
            width,
            height,
            Uint8Array.from({ length: n }, (_, i) => f(i)),
          );
      }
    }
  });

  it('round-trips random masks of many densities', () => {
    let seed = 1;
    for (const [width, height] of [
      [97, 31],
      [300, 40],
      [1, 50],
      [250, 3],
    ]) {
      for (const density of [0.001, 0.05, 0.3, 0.5, 0.7, 0.97]) roundTrip(width, height, randomBits(width * height, density, seed++));
    }
    const points = randomPoints(300, 40, { count: 60, minSpacing: 3, seed: 5 });
    roundTrip(300, 40, points.bits);
  });

  it('keeps every line on a 4-byte boundary, ends the last line with end of image and the data on a 16-byte boundary', () => {
    const bits = randomBits(37 * 9, 0.4, 99);
    const data = encodeRle(37, 9, bits);
    expect(data.length % 16).toBe(0);
    // walk the commands: after each end of line the offset must be a multiple of 4
    let pos = 0;
    let lines = 0;
    for (;;) {
      const n = data[pos++];
      if (n !== 0) {
        pos += 3;
        continue;
      }
      const c = data[pos++];
      if (c === 1) break;
      if (c === 0) {
        while (pos % 4 !== 0) expect(data[pos++]).toBe(0);
        lines++;
        continue;
      }
      expect(c).toBeGreaterThanOrEqual(3);
      pos += 3 * c;
    }
    expect(lines).toBe(8); // nine lines, the last one closed by end of image
    expect(Array.from(data.subarray(pos)).every((b) => b === 0)).toBe(true);
  });

  it('the simulated controller refuses malformed data with error 16 (invalid pattern)', () => {
    const bad = (data: string, width = 2, height = 1): unknown => {
      try {
        decodePatternImage(withHeader(width, height, bytes(data)));
        return null;
      } catch (err) {
        return err;
      }
    };
    const expectRejected = (err: unknown, message: RegExp) => {
      expect(err).toBeInstanceOf(ImageRejected);
      expect((err as ImageRejected).errorCode).toBe(16);
      expect((err as Error).message).toMatch(message);
    };
    expect(bad('02 ff ff ff 00 00 00 00 00 01')).toBeNull(); // the well-formed reference (TI SDK form)
    expect(bad('02 ff ff ff 00 01')).toBeNull(); // the guide's form: end of image closes the last line
    expectRejected(bad('01 ff ff ff 00 00 00 00 00 01'), /end of line after 1 of 2 pixels/);
    expectRejected(bad('03 ff ff ff 00 00 00 00 00 01'), /crosses the end of line 0/);
    expectRejected(bad('02 ff ff ff 00 00 07 00 00 01'), /non-zero padding/);
    expectRejected(bad('02 ff ff ff 00 00 00 00'), /ends before the end-of-image/);
    expectRejected(bad('02 ff ff ff 00 00 00 00 00 01 00 05'), /non-zero padding/);
    expectRejected(bad('02 ff ff ff 00 00 00 00 00 01', 2, 2), /image ended on line 1 of 2/);
    // two lines with no end of line between them: plain RLE needs it (4-byte alignment follows it)
    expectRejected(bad('02 ff ff ff 02 00 00 00 00 01', 2, 2), /line 0 is not ended/);
    // a literal is [0, count] then the pixels: a count of 2 with one pixel runs off the end
    expectRejected(bad('00 02 ff ff ff'), /ends before/);
  });
});

describe('plain RLE through the simulated controller', () => {
  it('shows an uploaded mask bit-exact with compression "rle"', async () => {
    const bus = new SimI2cBus({ timeoutMs: 500 });
    const model = new SimDlpc900({ width: 64, height: 48 });
    bus.attach(0x1a, model);
    const dmd = new Dlpc900(bus, { width: 64, height: 48, compression: 'rle', ledCurrent: 0x64 });
    const mask = randomPoints(64, 48, { count: 40, minSpacing: 3, seed: 11 });
    await dmd.setLeds(true);
    await dmd.showMask(mask);
    expect(masksEqual(model.shownMask(), mask)).toBe(true);
    // the upload the model decoded was plain RLE: compression byte 1 in the header
    const first = bus.writes(0x1a).find((w) => w[0] === 0xab);
    expect(first?.[3 + 25]).toBe(1);
    expect(await dmd.status()).toMatchObject({ ok: true, mode: 'pattern-on-the-fly', running: true });
  });
});
