import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.ts';
import { decodeFits, encodeFits } from '../../../src/io/fits.ts';
import { readImage, writeImage } from '../../../src/io/image-file.ts';
import { decodeNpy, encodeNpy } from '../../../src/io/npy.ts';
import { decodePng, encodePng8, encodePng16 } from '../../../src/io/png.ts';
import { decodeTiff, encodeTiff } from '../../../src/io/tiff.ts';
import { makeImage } from '../../../src/optics/image.ts';
import { pngDeclaring } from '../../helpers/huge-png.ts';

const W = 5;
const H = 3;
const values = Float32Array.from({ length: W * H }, (_, i) => ((i * 37) % 101) + 0.25 * (i % 4));
const img = makeImage(W, H, values);
const ints = makeImage(
  W,
  H,
  Float32Array.from({ length: W * H }, (_, i) => (i * 977) % 60000),
);

/** hand-made .npy with any descr / order, data given in C order */
function npy(
  descr: string,
  shape: number[],
  cOrder: number[],
  write: (b: Buffer, o: number, v: number) => void,
  size: number,
  fortran = false,
): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += `${' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64)}\n`;
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(cOrder.length * size);
  const [rows, cols] = shape.length === 2 ? shape : [1, cOrder.length];
  cOrder.forEach((v, i) => {
    const pos = fortran ? (i % cols) * rows + Math.floor(i / cols) : i;
    write(body, pos * size, v);
  });
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), body]);
}

describe('npy', () => {
  it('round-trips float32', () => {
    const back = decodeNpy(encodeNpy(img));
    expect(back.width).toBe(W);
    expect(back.height).toBe(H);
    expect(Array.from(back.data)).toEqual(Array.from(values));
  });

  it('reads integer, float64, big-endian and Fortran-ordered arrays', () => {
    const v = Array.from(ints.data);
    const cases: Array<[string, number, (b: Buffer, o: number, x: number) => void]> = [
      ['<u2', 2, (b, o, x) => b.writeUInt16LE(x, o)],
      ['>u2', 2, (b, o, x) => b.writeUInt16BE(x, o)],
      ['<i4', 4, (b, o, x) => b.writeInt32LE(x, o)],
      ['>i8', 8, (b, o, x) => b.writeBigInt64BE(BigInt(x), o)],
      ['<f8', 8, (b, o, x) => b.writeDoubleLE(x, o)],
      ['>f4', 4, (b, o, x) => b.writeFloatBE(x, o)],
    ];
    for (const [descr, size, write] of cases) {
      for (const fortran of [false, true]) {
        const back = decodeNpy(npy(descr, [H, W], v, write, size, fortran));
        expect(back.width).toBe(W);
        expect(Array.from(back.data)).toEqual(v);
      }
    }
    const bytes = decodeNpy(
      npy(
        '|u1',
        [H, W],
        v.map((x) => x % 256),
        (b, o, x) => b.writeUInt8(x, o),
        1,
      ),
    );
    expect(bytes.data[4]).toBe(v[4] % 256);
  });

  it('squeezes a singleton axis and rejects real 3-D, 1-D, truncated and garbage', () => {
    const v = Array.from(ints.data);
    const w = (b: Buffer, o: number, x: number): void => {
      b.writeFloatLE(x, o);
    };
    expect(decodeNpy(npy('<f4', [1, H, W], v, w, 4)).height).toBe(H);
    expect(decodeNpy(npy('<f4', [H, W, 1], v, w, 4)).width).toBe(W);
    expect(() => decodeNpy(npy('<f4', [3, 1, 5], v, w, 4))).toThrow(/2-D/);
    expect(() => decodeNpy(npy('<f4', [3, 5, 2], [...v, ...v], w, 4))).toThrow(/2-D/);
    expect(() => decodeNpy(npy('<f4', [15], v, w, 4))).toThrow(UserError);
    const good = encodeNpy(img);
    expect(() => decodeNpy(good.subarray(0, good.length - 3))).toThrow(/truncated/);
    expect(() => decodeNpy(Buffer.from('hello world, not numpy'))).toThrow(UserError);
    expect(() => decodeNpy(npy('<c8', [H, W], v, w, 8))).toThrow(UserError);
  });
});

describe('tiff', () => {
  it('round-trips float32 and uint16', () => {
    expect(Array.from(decodeTiff(encodeTiff(img, 32)).data)).toEqual(Array.from(values));
    const back16 = decodeTiff(encodeTiff(ints, 16));
    expect(back16.width).toBe(W);
    expect(Array.from(back16.data)).toEqual(Array.from(ints.data));
  });

  it('rejects truncated and non-TIFF data', () => {
    const t = encodeTiff(img, 32);
    expect(() => decodeTiff(t.subarray(0, t.length - 10))).toThrow(UserError);
    expect(() => decodeTiff(Buffer.from('II*\0garbage'))).toThrow(UserError);
    expect(() => decodeTiff(Buffer.from('not a tiff at all'))).toThrow(UserError);
  });
});

describe('png', () => {
  it('16-bit round-trip is scaled to the maximum', () => {
    const back = decodePng(encodePng16(img));
    let max = 0;
    for (const v of values) max = Math.max(max, v);
    for (let i = 0; i < values.length; i++) expect(back.data[i]).toBe(Math.round((values[i] * 65535) / max));
  });

  it('reads 8-bit grayscale', () => {
    const small = makeImage(
      W,
      H,
      Float32Array.from({ length: W * H }, (_, i) => i * 10),
    );
    expect(Array.from(decodePng(encodePng8(small)).data)).toEqual(Array.from(small.data));
  });

  it('rejects RGB and garbage', () => {
    const rgb = new PNG({ width: 2, height: 2 });
    rgb.data = Buffer.alloc(16, 200);
    const buf = PNG.sync.write(rgb, { colorType: 2 });
    expect(() => decodePng(buf)).toThrow(/grayscale/);
    expect(() => decodePng(Buffer.from('\x89PNG\r\n\x1a\nbroken'))).toThrow(UserError);
  });
});

describe('fits', () => {
  it('round-trips BITPIX -32 and 16 (BZERO)', () => {
    expect(Array.from(decodeFits(encodeFits(img, -32)).data)).toEqual(Array.from(values));
    expect(Array.from(decodeFits(encodeFits(ints, 16)).data)).toEqual(Array.from(ints.data));
  });

  it('reads BITPIX 8/32/-64 with BSCALE', () => {
    for (const [bitpix, size, write] of [
      [8, 1, (b: Buffer, o: number, x: number) => b.writeUInt8(x % 256, o)],
      [32, 4, (b: Buffer, o: number, x: number) => b.writeInt32BE(x, o)],
      [-64, 8, (b: Buffer, o: number, x: number) => b.writeDoubleBE(x, o)],
    ] as const) {
      const cards = [
        `SIMPLE  =                    T`,
        `BITPIX  = ${String(bitpix).padStart(20)}`,
        'NAXIS   =                    3',
        `NAXIS1  = ${String(W).padStart(20)}`,
        `NAXIS2  = ${String(H).padStart(20)}`,
        'NAXIS3  =                    1',
        'BSCALE  =                  2.0 / doubled',
        'END',
      ];
      const header = Buffer.alloc(2880, ' ');
      cards.forEach((c, i) => {
        header.write(c, i * 80, 'latin1');
      });
      const data = Buffer.alloc(2880);
      ints.data.forEach((v, i) => {
        write(data, i * size, v);
      });
      const back = decodeFits(Buffer.concat([header, data]));
      expect(back.width).toBe(W);
      expect(back.data[7]).toBe(2 * (bitpix === 8 ? ints.data[7] % 256 : ints.data[7]));
    }
  });

  it('rejects truncated and non-FITS data', () => {
    const f = encodeFits(img, -32);
    expect(() => decodeFits(f.subarray(0, 2880 + 8))).toThrow(/truncated/);
    expect(() => decodeFits(f.subarray(0, 400))).toThrow(UserError);
    expect(() => decodeFits(Buffer.from('SIMPLE = F but nothing else'))).toThrow(UserError);
  });
});

describe('readImage / writeImage', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rayleigh-io-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('dispatches by extension and round-trips .npy and .tiff exactly', async () => {
    for (const ext of ['npy', 'tiff', 'tif']) {
      const p = join(dir, `a.${ext}`);
      await writeImage(p, img);
      expect(Array.from((await readImage(p)).data)).toEqual(Array.from(values));
    }
    const p = join(dir, 'a.png');
    await writeImage(p, img);
    const back = await readImage(p);
    expect(back.width).toBe(W);
    expect(Math.max(...back.data)).toBe(65535);
  });

  it('gives UserErrors for unknown extensions, missing files and malformed content', async () => {
    await expect(readImage(join(dir, 'x.jpg'))).rejects.toThrow(UserError);
    await expect(readImage(join(dir, 'missing.npy'))).rejects.toThrow(/no such file/);
    await writeFile(join(dir, 'bad.fits'), 'not fits');
    await expect(readImage(join(dir, 'bad.fits'))).rejects.toThrow(UserError);
    await expect(writeImage(join(dir, 'out.fits'), img)).rejects.toThrow(UserError);
    await expect(writeImage(join(dir, 'no', 'such', 'dir.npy'), img)).rejects.toThrow(UserError);
  });
});

describe('pixel budget', () => {
  it('refuses a small PNG that declares 30000×30000 before decoding it', () => {
    const png = pngDeclaring(30_000, 30_000);
    expect(png.length).toBeLessThan(200_000);
    const before = process.memoryUsage().arrayBuffers;
    expect(() => decodePng(png, 'bomb.png')).toThrow(/bomb\.png: image of 30000×30000 pixels exceeds/);
    // nothing near 30000² × 4 bytes was allocated for it
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    // a normal-sized declaration still decodes
    expect(decodePng(pngDeclaring(8, 4), 'ok.png').width).toBe(8);
  });

  it('every reader checks the declared size (npy, FITS, TIFF)', () => {
    const npyHeader = (rows: number, cols: number) => {
      const h = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`.padEnd(117, ' ');
      return Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, 118, 0]), Buffer.from(`${h}\n`, 'latin1')]);
    };
    expect(() => decodeNpy(npyHeader(30_000, 30_000), 'big.npy')).toThrow(/big\.npy: image of 30000×30000 pixels exceeds/);
    const fits = encodeFits(makeImage(4, 4));
    const text = fits
      .toString('latin1')
      .replace(/NAXIS1 {2}=\s+4/, (m) => m.replace(/ {4}4$/, '30000'))
      .replace(/NAXIS2 {2}=\s+4/, (m) => m.replace(/ {4}4$/, '30000'));
    expect(() => decodeFits(Buffer.from(text, 'latin1'), 'big.fits')).toThrow(/big\.fits: image of 30000×30000 pixels exceeds/);
    const tiff = encodeTiff(makeImage(4, 4), 16);
    // ImageWidth (256) and ImageLength (257) are LONG entries written by our encoder: patch their values
    const patched = Buffer.from(tiff);
    const entries = patched.readUInt16LE(patched.readUInt32LE(4));
    for (let i = 0; i < entries; i++) {
      const at = patched.readUInt32LE(4) + 2 + i * 12;
      const t = patched.readUInt16LE(at);
      if (t === 256 || t === 257) patched.writeUInt32LE(30_000, at + 8);
    }
    expect(() => decodeTiff(patched, 'big.tiff')).toThrow(/big\.tiff: image of 30000×30000 pixels exceeds/);
  });
});
