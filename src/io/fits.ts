/**
 * FITS primary HDU: 2-D images with BITPIX 8/16/32/-32/-64, BZERO/BSCALE applied, header
 * keywords parsed (FITS Standard 4.0 §4.2: string, logical, integer and real values). Rows are
 * kept in file order (FITS's first row is the bottom one in most viewers; we do not flip).
 */
import { UserError } from '../errors.ts';
import { type Image, makeImage } from '../optics/image.ts';
import { checkPixelBudget } from './budget.ts';

export const FITS_BLOCK = 2880;
const CARD = 80;

export type FitsValue = string | number | boolean;

export interface FitsCard {
  key: string;
  /** absent for commentary cards (COMMENT, HISTORY, blank) */
  value?: FitsValue;
  comment?: string;
}

export interface FitsHeader {
  cards: FitsCard[];
  /** first occurrence of each valued keyword */
  values: Map<string, FitsValue>;
  /** byte offset of the data unit (header padded to whole blocks) */
  dataStart: number;
}

export interface FitsImageLayout {
  bitpix: 8 | 16 | 32 | -32 | -64;
  width: number;
  height: number;
  bzero: number;
  bscale: number;
  dataStart: number;
}

/** §4.2.1: a quoted string ('' is a literal quote, trailing blanks insignificant), then an optional /comment. */
function parseValueField(field: string): { value: FitsValue; comment?: string } | undefined {
  const s = field.trimStart();
  if (s.startsWith("'")) {
    let out = '';
    let i = 1;
    for (; i < s.length; i++) {
      if (s[i] === "'") {
        if (s[i + 1] === "'") {
          out += "'";
          i++;
          continue;
        }
        break;
      }
      out += s[i];
    }
    const rest = s.slice(i + 1);
    const slash = rest.indexOf('/');
    return { value: out.trimEnd(), comment: slash >= 0 ? rest.slice(slash + 1).trim() : undefined };
  }
  const slash = s.indexOf('/');
  const raw = (slash >= 0 ? s.slice(0, slash) : s).trim();
  const comment = slash >= 0 ? s.slice(slash + 1).trim() : undefined;
  if (raw === '') return undefined; // undefined value (§4.2.5)
  if (raw === 'T' || raw === 'F') return { value: raw === 'T', comment };
  const n = Number(raw.replace(/D/i, 'E'));
  // complex values "(re, im)" and anything else unreadable are kept as their text
  return { value: Number.isFinite(n) ? n : raw, comment };
}

export function readFitsHeader(buf: Buffer, name = 'input'): FitsHeader {
  if (buf.length < CARD || !buf.toString('latin1', 0, 30).startsWith('SIMPLE  =')) throw new UserError(`${name}: not a FITS file`);
  const cards: FitsCard[] = [];
  const values = new Map<string, FitsValue>();
  for (let o = 0; o + CARD <= buf.length; o += CARD) {
    const card = buf.toString('latin1', o, o + CARD);
    const key = card.slice(0, 8).trim();
    if (key === 'END') return { cards, values, dataStart: Math.ceil((o + CARD) / FITS_BLOCK) * FITS_BLOCK };
    if (card.slice(8, 10) === '= ' || card[8] === '=') {
      const v = parseValueField(card.slice(10));
      if (v) {
        cards.push({ key, value: v.value, comment: v.comment });
        if (!values.has(key)) values.set(key, v.value);
        continue;
      }
    }
    const text = card.slice(8).trimEnd();
    if (key !== '' || text !== '') cards.push({ key, comment: text.trim() });
  }
  throw new UserError(`${name}: truncated FITS header (no END card)`);
}

export function fitsImageLayout(h: FitsHeader, name = 'input'): FitsImageLayout {
  const num = (k: string, dflt?: number): number => {
    const v = h.values.get(k);
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw new UserError(`${name}: FITS header lacks ${k}`);
    }
    if (typeof v !== 'number') throw new UserError(`${name}: FITS ${k} = ${String(v)} is not a number`);
    return v;
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
  if (bitpix !== 8 && bitpix !== 16 && bitpix !== 32 && bitpix !== -32 && bitpix !== -64) {
    throw new UserError(`${name}: unsupported BITPIX ${bitpix}`);
  }
  return { bitpix, width, height, bzero: num('BZERO', 0), bscale: num('BSCALE', 1), dataStart: h.dataStart };
}

/** bytes the data unit needs (without the padding to a whole block) */
export function fitsDataBytes(l: FitsImageLayout): number {
  return l.width * l.height * (Math.abs(l.bitpix) / 8);
}

/**
 * Converts pixels [from, to) of the data unit into `out` (physical value = BZERO + BSCALE × stored).
 * Split into ranges so a caller can convert a large image in slices between event-loop turns.
 */
export function convertFitsPixels(buf: Buffer, l: FitsImageLayout, out: Float32Array, from = 0, to = out.length): void {
  const view = new DataView(buf.buffer, buf.byteOffset + l.dataStart, buf.length - l.dataStart);
  const { bzero, bscale } = l;
  switch (l.bitpix) {
    case 8:
      for (let i = from; i < to; i++) out[i] = bzero + bscale * view.getUint8(i);
      break;
    case 16:
      for (let i = from; i < to; i++) out[i] = bzero + bscale * view.getInt16(i * 2, false);
      break;
    case 32:
      for (let i = from; i < to; i++) out[i] = bzero + bscale * view.getInt32(i * 4, false);
      break;
    case -32:
      for (let i = from; i < to; i++) out[i] = bzero + bscale * view.getFloat32(i * 4, false);
      break;
    case -64:
      for (let i = from; i < to; i++) out[i] = bzero + bscale * view.getFloat64(i * 8, false);
      break;
  }
}

export function decodeFitsWithHeader(buf: Buffer, name = 'input'): { image: Image; header: FitsHeader } {
  const header = readFitsHeader(buf, name);
  const l = fitsImageLayout(header, name);
  if (l.dataStart + fitsDataBytes(l) > buf.length) throw new UserError(`${name}: truncated FITS data`);
  const out = new Float32Array(l.width * l.height);
  convertFitsPixels(buf, l, out);
  return { image: makeImage(l.width, l.height, out), header };
}

export function decodeFits(buf: Buffer, name = 'input'): Image {
  return decodeFitsWithHeader(buf, name).image;
}

function formatValue(v: FitsValue): string {
  if (typeof v === 'boolean') return (v ? 'T' : 'F').padStart(20);
  if (typeof v === 'number') {
    const s = Number.isInteger(v) && Math.abs(v) < 1e15 ? String(v) : v.toExponential(12).toUpperCase();
    return s.padStart(20);
  }
  // §4.2.1.1: at least 8 characters between the quotes, '' for a quote
  return `'${v.replace(/'/g, "''").padEnd(8)}'`.padEnd(20);
}

/** one 80-character card; over-long strings and comments are cut to fit */
export function fitsCard(key: string, value?: FitsValue, comment?: string): string {
  const k = key.toUpperCase().padEnd(8).slice(0, 8);
  if (value === undefined) return `${k}${comment ? `  ${comment}` : ''}`.padEnd(CARD).slice(0, CARD);
  let body = `${k}= ${formatValue(value)}`;
  if (body.length > CARD && typeof value === 'string') body = `${body.slice(0, CARD - 1)}'`;
  if (comment) body += ` / ${comment}`;
  return body.padEnd(CARD).slice(0, CARD);
}

const STRUCTURAL = new Set([
  'SIMPLE',
  'XTENSION',
  'BITPIX',
  'NAXIS',
  'EXTEND',
  'BZERO',
  'BSCALE',
  'BLANK',
  'PCOUNT',
  'GCOUNT',
  'TFIELDS',
  'EXTNAME',
  'CHECKSUM',
  'DATASUM',
  'END',
]);
const STRUCTURAL_INDEXED = /^(NAXIS|TTYPE|TFORM|TUNIT|TSCAL|TZERO|TNULL|TDISP|TDIM)\d+$/;

/**
 * Keywords that describe a data unit's layout (or checksum it): an encoder writes its own,
 * never one copied from another file's header.
 */
export function isFitsStructural(key: string): boolean {
  return STRUCTURAL.has(key) || STRUCTURAL_INDEXED.test(key);
}

/** header cards joined and padded to whole blocks */
export function fitsHeaderBlock(cards: string[]): Buffer {
  const text = [...cards, 'END'.padEnd(CARD)].join('');
  const bytes = Math.ceil(text.length / FITS_BLOCK) * FITS_BLOCK;
  const buf = Buffer.alloc(bytes, ' ', 'latin1');
  buf.write(text, 0, 'latin1');
  return buf;
}

/**
 * FITS primary image; BITPIX -32 (float) or 16 (uint16 stored with BZERO 32768). `extra` cards
 * (for instance an input frame's keywords) follow the structural ones; `extend` announces
 * extensions (a binary table after it).
 */
export function encodeFits(img: Image, bitpix: -32 | 16 = -32, opts: { extra?: FitsCard[]; extend?: boolean } = {}): Buffer {
  const cards = [
    fitsCard('SIMPLE', true),
    fitsCard('BITPIX', bitpix),
    fitsCard('NAXIS', 2),
    fitsCard('NAXIS1', img.width),
    fitsCard('NAXIS2', img.height),
  ];
  if (opts.extend) cards.push(fitsCard('EXTEND', true));
  if (bitpix === 16) cards.push(fitsCard('BZERO', 32768), fitsCard('BSCALE', 1));
  for (const c of opts.extra ?? []) if (!isFitsStructural(c.key)) cards.push(fitsCard(c.key, c.value, c.comment));
  const header = fitsHeaderBlock(cards);
  const bytesPer = Math.abs(bitpix) / 8;
  const dataBytes = Math.ceil((img.data.length * bytesPer) / FITS_BLOCK) * FITS_BLOCK;
  const buf = Buffer.alloc(header.length + dataBytes);
  header.copy(buf, 0);
  for (let i = 0; i < img.data.length; i++) {
    const o = header.length + i * bytesPer;
    if (bitpix === -32) buf.writeFloatBE(img.data[i], o);
    else buf.writeInt16BE(Math.min(65535, Math.max(0, Math.round(img.data[i] || 0))) - 32768, o);
  }
  return buf;
}

export interface FitsTableColumn {
  name: string;
  unit?: string;
  /** 'E' float32, 'D' float64, 'J' int32 (FITS Standard 4.0 §7.3.3.1, table 18) */
  format: 'E' | 'D' | 'J';
  values: ArrayLike<number>;
}

const TFORM_BYTES = { E: 4, D: 8, J: 4 } as const;

/**
 * A binary-table extension HDU (§7.3): one row per entry, fields big-endian in column order,
 * the data unit zero-padded to whole blocks (§7.3.5).
 */
export function encodeFitsBinTable(columns: FitsTableColumn[], opts: { extname?: string; extra?: FitsCard[] } = {}): Buffer {
  const rows = columns[0]?.values.length ?? 0;
  for (const c of columns)
    if (c.values.length !== rows) throw new Error(`FITS table column ${c.name} has ${c.values.length} rows, not ${rows}`);
  const rowBytes = columns.reduce((n, c) => n + TFORM_BYTES[c.format], 0);
  const cards = [
    fitsCard('XTENSION', 'BINTABLE', 'binary table extension'),
    fitsCard('BITPIX', 8),
    fitsCard('NAXIS', 2),
    fitsCard('NAXIS1', rowBytes, 'bytes per row'),
    fitsCard('NAXIS2', rows, 'rows'),
    fitsCard('PCOUNT', 0),
    fitsCard('GCOUNT', 1),
    fitsCard('TFIELDS', columns.length),
  ];
  columns.forEach((c, i) => {
    cards.push(fitsCard(`TTYPE${i + 1}`, c.name), fitsCard(`TFORM${i + 1}`, `1${c.format}`));
    if (c.unit) cards.push(fitsCard(`TUNIT${i + 1}`, c.unit));
  });
  if (opts.extname) cards.push(fitsCard('EXTNAME', opts.extname));
  for (const c of opts.extra ?? []) if (!isFitsStructural(c.key)) cards.push(fitsCard(c.key, c.value, c.comment));
  const header = fitsHeaderBlock(cards);
  const data = Buffer.alloc(Math.ceil((rows * rowBytes) / FITS_BLOCK) * FITS_BLOCK);
  let o = 0;
  for (let r = 0; r < rows; r++) {
    for (const c of columns) {
      const v = c.values[r];
      if (c.format === 'E') data.writeFloatBE(v, o);
      else if (c.format === 'D') data.writeDoubleBE(v, o);
      else data.writeInt32BE(v, o);
      o += TFORM_BYTES[c.format];
    }
  }
  return Buffer.concat([header, data]);
}
