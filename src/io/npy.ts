/** NumPy .npy: read any 2-D numeric array, write float32. */
import { UserError } from '../errors.ts';
import { type Image, makeImage } from '../optics/image.ts';
import { checkPixelBudget } from './budget.ts';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

interface NpyHeader {
  descr: string;
  fortran: boolean;
  shape: number[];
  dataOffset: number;
}

function parseHeader(buf: Buffer, name: string): NpyHeader {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new UserError(`${name}: not a .npy file (bad magic)`);
  const major = buf[6];
  let len: number;
  let start: number;
  if (major === 1) {
    len = buf.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new UserError(`${name}: truncated .npy header`);
    len = buf.readUInt32LE(8);
    start = 12;
  } else throw new UserError(`${name}: unsupported .npy version ${major}`);
  if (start + len > buf.length) throw new UserError(`${name}: truncated .npy header`);
  const text = buf.toString(major === 3 ? 'utf8' : 'latin1', start, start + len);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new UserError(`${name}: malformed .npy header (structured arrays are not supported)`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s));
  if (shape.some((v) => !Number.isInteger(v) || v < 0)) throw new UserError(`${name}: malformed .npy shape (${shapeText})`);
  return { descr, fortran: fortran === 'True', shape, dataOffset: start + len };
}

type Reader = (b: Buffer, off: number) => number;

function readerFor(descr: string, name: string): { size: number; read: Reader } {
  const m = /^([<>|=])([biuf])(\d+)$/.exec(descr);
  if (!m) throw new UserError(`${name}: unsupported .npy dtype '${descr}' (need a numeric 2-D array)`);
  const little = m[1] !== '>';
  const kind = m[2];
  const size = Number(m[3]);
  const key = `${kind}${size}`;
  const L = little;
  const table: Record<string, Reader> = {
    b1: (b, o) => b[o],
    u1: (b, o) => b.readUInt8(o),
    i1: (b, o) => b.readInt8(o),
    u2: L ? (b, o) => b.readUInt16LE(o) : (b, o) => b.readUInt16BE(o),
    i2: L ? (b, o) => b.readInt16LE(o) : (b, o) => b.readInt16BE(o),
    u4: L ? (b, o) => b.readUInt32LE(o) : (b, o) => b.readUInt32BE(o),
    i4: L ? (b, o) => b.readInt32LE(o) : (b, o) => b.readInt32BE(o),
    u8: L ? (b, o) => Number(b.readBigUInt64LE(o)) : (b, o) => Number(b.readBigUInt64BE(o)),
    i8: L ? (b, o) => Number(b.readBigInt64LE(o)) : (b, o) => Number(b.readBigInt64BE(o)),
    f2: L ? (b, o) => half(b.readUInt16LE(o)) : (b, o) => half(b.readUInt16BE(o)),
    f4: L ? (b, o) => b.readFloatLE(o) : (b, o) => b.readFloatBE(o),
    f8: L ? (b, o) => b.readDoubleLE(o) : (b, o) => b.readDoubleBE(o),
  };
  const read = table[key];
  if (!read) throw new UserError(`${name}: unsupported .npy dtype '${descr}'`);
  return { size, read };
}

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Decode a 2-D .npy (a trailing or leading axis of length 1 is squeezed away). */
export function decodeNpy(buf: Buffer, name = 'input'): Image {
  const h = parseHeader(buf, name);
  const shape = h.shape.length > 2 ? h.shape.filter((v, i) => !(v === 1 && (i === 0 || i === h.shape.length - 1))) : h.shape;
  if (shape.length !== 2) {
    throw new UserError(`${name}: expected a 2-D array, got shape (${h.shape.join(', ')})`);
  }
  const [rows, cols] = shape;
  if (rows === 0 || cols === 0) throw new UserError(`${name}: empty array (${h.shape.join(', ')})`);
  checkPixelBudget(cols, rows, name);
  const { size, read } = readerFor(h.descr, name);
  const n = rows * cols;
  if (h.dataOffset + n * size > buf.length) {
    throw new UserError(`${name}: truncated .npy data (need ${n * size} bytes, have ${buf.length - h.dataOffset})`);
  }
  const data = new Float32Array(n);
  let o = h.dataOffset;
  if (h.fortran) {
    // column-major on disk → row-major in memory
    for (let c = 0; c < cols; c++) {
      for (let r = 0; r < rows; r++, o += size) data[r * cols + c] = read(buf, o);
    }
  } else {
    for (let i = 0; i < n; i++, o += size) data[i] = read(buf, o);
  }
  return makeImage(cols, rows, data);
}

/** Encode as float32 little-endian, C order, .npy version 1.0. */
export function encodeNpy(img: Image): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${img.height}, ${img.width}), }`;
  const total = 10 + header.length + 1;
  header += `${' '.repeat((64 - (total % 64)) % 64)}\n`;
  const pre = Buffer.alloc(10);
  MAGIC.copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(img.data.length * 4);
  for (let i = 0; i < img.data.length; i++) body.writeFloatLE(img.data[i], i * 4);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), body]);
}
