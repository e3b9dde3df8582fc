/**
 * FITS primary HDU: 2-D images with BITPIX 8/16/32/-32/-64, BZERO/BSCALE applied. Rows are kept
 * in file order (FITS's first row is the bottom one in most viewers; we do not flip).
 */
import { UserError } from '../errors.ts';
import { type Image, makeImage } from '../optics/image.ts';
import { checkPixelBudget } from './budget.ts';

const BLOCK = 2880;
const CARD = 80;

export function decodeFits(buf: Buffer, name = 'input'): Image {
  if (buf.length < CARD || !buf.toString('latin1', 0, 30).startsWith('SIMPLE  =')) throw new UserError(`${name}: not a FITS file`);
  const cards = new Map<string, string>();
  let end = -1;
  for (let o = 0; o + CARD <= buf.length; o += CARD) {
    const card = buf.toString('latin1', o, o + CARD);
    const key = card.slice(0, 8).trim();
    if (key === 'END') {
      end = o + CARD;
      break;
    }
    if (card[8] === '=' && !cards.has(key)) cards.set(key, card.slice(10).split('/')[0].trim());
  }
  if (end < 0) throw new UserError(`${name}: truncated FITS header (no END card)`);
  const num = (k: string, dflt?: number): number => {
    const v = cards.get(k);
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw new UserError(`${name}: FITS header lacks ${k}`);
    }
    const n = Number(v.replace(/D/i, 'E'));
    if (!Number.isFinite(n)) throw new UserError(`${name}: FITS ${k} = ${v} is not a number`);
    return n;
  };
  const bitpix = num('BITPIX');
  const naxis = num('NAXIS');
  const dims: number[] = [];
  for (let i = 1; i <= naxis; i++) dims.push(num(`NAXIS${i}`));
  const sig = dims.filter((d, i) => i < 2 || d !== 1);
  if (naxis < 2 || sig.length !== 2) throw new UserError(`${name}: expected a 2-D FITS image, got NAXIS=${naxis} (${dims.join('×')})`);
  const [width, height] = dims;
  if (!(width > 0 && height > 0)) throw new UserError(`${name}: FITS image is empty`);
  checkPixelBudget(width, height, name);
  const bzero = num('BZERO', 0);
  const bscale = num('BSCALE', 1);
  const bytesPer = Math.abs(bitpix) / 8;
  if (![8, 16, 32, -32, -64].includes(bitpix)) throw new UserError(`${name}: unsupported BITPIX ${bitpix}`);
  const dataStart = Math.ceil(end / BLOCK) * BLOCK;
  const n = width * height;
  if (dataStart + n * bytesPer > buf.length) throw new UserError(`${name}: truncated FITS data`);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const o = dataStart + i * bytesPer;
    let v: number;
    switch (bitpix) {
      case 8:
        v = buf.readUInt8(o);
        break;
      case 16:
        v = buf.readInt16BE(o);
        break;
      case 32:
        v = buf.readInt32BE(o);
        break;
      case -32:
        v = buf.readFloatBE(o);
        break;
      default:
        v = buf.readDoubleBE(o);
    }
    out[i] = bzero + bscale * v;
  }
  return makeImage(width, height, out);
}

function card(key: string, value: string): string {
  return `${key.padEnd(8)}= ${value.padStart(20)}`.padEnd(CARD);
}

/** FITS primary image; BITPIX -32 (float) or 16 (uint16 stored with BZERO 32768). */
export function encodeFits(img: Image, bitpix: -32 | 16 = -32): Buffer {
  const cards = [
    card('SIMPLE', 'T'),
    card('BITPIX', String(bitpix)),
    card('NAXIS', '2'),
    card('NAXIS1', String(img.width)),
    card('NAXIS2', String(img.height)),
  ];
  if (bitpix === 16) cards.push(card('BZERO', '32768'), card('BSCALE', '1'));
  cards.push('END'.padEnd(CARD));
  const header = cards.join('');
  const headerBytes = Math.ceil(header.length / BLOCK) * BLOCK;
  const bytesPer = Math.abs(bitpix) / 8;
  const dataBytes = Math.ceil((img.data.length * bytesPer) / BLOCK) * BLOCK;
  const buf = Buffer.alloc(headerBytes + dataBytes);
  buf.fill(' ', 0, headerBytes, 'latin1');
  buf.write(header, 0, 'latin1');
  for (let i = 0; i < img.data.length; i++) {
    const o = headerBytes + i * bytesPer;
    if (bitpix === -32) buf.writeFloatBE(img.data[i], o);
    else buf.writeInt16BE(Math.min(65535, Math.max(0, Math.round(img.data[i] || 0))) - 32768, o);
  }
  return buf;
}
