/** TIFF: read grayscale 8/16/32-bit integer and 32/64-bit float (via utif); write uint16 or float32. */
import UTIF, { type Ifd } from 'utif';
import { UserError } from '../errors.ts';
import { type Image, makeImage } from '../optics/image.ts';
import { checkPixelBudget } from './budget.ts';

function tag(ifd: Ifd, t: number): number[] | undefined {
  const v = ifd[`t${t}`];
  return Array.isArray(v) ? (v as number[]) : undefined;
}

export function decodeTiff(buf: Buffer, name = 'input'): Image {
  const sig = buf.subarray(0, 4).toString('latin1');
  if (sig !== 'II*\u0000' && sig !== 'MM\u0000*') throw new UserError(`${name}: not a TIFF file`);
  const ab = new Uint8Array(buf).buffer; // a private copy: utif wants a whole ArrayBuffer
  let ifds: Ifd[];
  try {
    ifds = UTIF.decode(ab);
  } catch (err) {
    throw new UserError(`${name}: malformed TIFF (${(err as Error).message})`);
  }
  const ifd = ifds[0];
  if (!ifd || !tag(ifd, 256) || !tag(ifd, 257)) throw new UserError(`${name}: TIFF has no image`);
  const spp = tag(ifd, 277)?.[0] ?? 1;
  if (spp !== 1) throw new UserError(`${name}: TIFF has ${spp} samples per pixel; need single-channel grayscale`);
  const bits = tag(ifd, 258)?.[0] ?? 1;
  const format = tag(ifd, 339)?.[0] ?? 1; // 1 uint, 2 int, 3 float
  const width = tag(ifd, 256)?.[0] ?? 0;
  const height = tag(ifd, 257)?.[0] ?? 0;
  if (!(width > 0 && height > 0)) throw new UserError(`${name}: TIFF has invalid size ${width}x${height}`);
  checkPixelBudget(width, height, name);
  const bytesPer = bits / 8;
  if (![8, 16, 32, 64].includes(bits) || (format === 3 && bits < 32)) {
    throw new UserError(`${name}: unsupported TIFF sample format (${bits}-bit, format ${format})`);
  }
  const offsets = tag(ifd, 273) ?? tag(ifd, 324);
  const counts = tag(ifd, 279) ?? tag(ifd, 325);
  if (!offsets || !counts) throw new UserError(`${name}: TIFF has no strip/tile offsets`);
  const compression = tag(ifd, 259)?.[0] ?? 1;
  if (compression === 1) {
    for (let i = 0; i < offsets.length; i++) {
      if (offsets[i] + (counts[i] ?? 0) > buf.length) throw new UserError(`${name}: truncated TIFF data`);
    }
  }
  try {
    UTIF.decodeImage(ab, ifd, ifds);
  } catch (err) {
    throw new UserError(`${name}: cannot decode TIFF (${(err as Error).message})`);
  }
  const raw = ifd.data;
  const n = width * height;
  if (!raw || raw.length < n * bytesPer) throw new UserError(`${name}: truncated TIFF data`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  // utif swaps 16-bit samples to little-endian itself; wider ones stay in file order
  const le = bits === 16 ? true : ifd.isLE;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * bytesPer;
    let v: number;
    if (format === 3) v = bits === 32 ? view.getFloat32(o, le) : view.getFloat64(o, le);
    else if (format === 2)
      v =
        bits === 8
          ? view.getInt8(o)
          : bits === 16
            ? view.getInt16(o, le)
            : bits === 32
              ? view.getInt32(o, le)
              : Number(view.getBigInt64(o, le));
    else
      v =
        bits === 8
          ? view.getUint8(o)
          : bits === 16
            ? view.getUint16(o, le)
            : bits === 32
              ? view.getUint32(o, le)
              : Number(view.getBigUint64(o, le));
    out[i] = v;
  }
  return makeImage(width, height, out);
}

/**
 * Little-endian baseline TIFF, one uncompressed strip. bits 32 → float32 samples; bits 16 →
 * uint16 (values rounded and clamped to 0..65535, no scaling).
 */
export function encodeTiff(img: Image, bits: 16 | 32 = 32): Buffer {
  const { width, height, data } = img;
  const bytesPer = bits / 8;
  const dataBytes = width * height * bytesPer;
  const entries: Array<[number, number, number]> = [
    // [tag, type (3 SHORT, 4 LONG), value]
    [256, 4, width],
    [257, 4, height],
    [258, 3, bits],
    [259, 3, 1],
    [262, 3, 1],
    [273, 4, 0], // strip offset, patched below
    [277, 3, 1],
    [278, 4, height],
    [279, 4, dataBytes],
    [284, 3, 1],
    [339, 3, bits === 32 ? 3 : 1],
  ];
  const ifdOffset = 8;
  const ifdBytes = 2 + entries.length * 12 + 4;
  const dataOffset = ifdOffset + ifdBytes;
  const buf = Buffer.alloc(dataOffset + dataBytes);
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(ifdOffset, 4);
  buf.writeUInt16LE(entries.length, ifdOffset);
  entries.forEach(([t, type, value], k) => {
    const o = ifdOffset + 2 + k * 12;
    buf.writeUInt16LE(t, o);
    buf.writeUInt16LE(type, o + 2);
    buf.writeUInt32LE(1, o + 4);
    const v = t === 273 ? dataOffset : value;
    if (type === 3) buf.writeUInt16LE(v, o + 8);
    else buf.writeUInt32LE(v, o + 8);
  });
  buf.writeUInt32LE(0, ifdOffset + 2 + entries.length * 12);
  for (let i = 0; i < data.length; i++) {
    const o = dataOffset + i * bytesPer;
    if (bits === 32) buf.writeFloatLE(data[i], o);
    else buf.writeUInt16LE(Math.min(65535, Math.max(0, Math.round(data[i] || 0))), o);
  }
  return buf;
}
