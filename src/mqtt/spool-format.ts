import { crc32 } from 'node:zlib';

/**
 * On-disk record of the spool's segment files: records are appended back to back, each with a
 * header carrying its id, lengths and a CRC over header fields and payload, so a record torn by a
 * crash or flipped by the medium is detected and never published.
 *
 *   0 "RSG1"  4 id u64be  12 meta length u32be  16 image length u32be  20 crc32(bytes 4..20 ‖ meta ‖ image)  24 meta, image
 */
export const RECORD_MAGIC = Buffer.from('RSG1');
export const RECORD_HEADER = 24;

export interface DecodedRecord {
  id: number;
  meta: Buffer;
  image: Buffer;
}

function checksum(head: Buffer, meta: Buffer, image: Buffer): number {
  return crc32(image, crc32(meta, crc32(head.subarray(4, 20)))) >>> 0;
}

/** Header for a record; the caller writes header, meta, image in that order. */
export function encodeHeader(id: number, meta: Buffer, image: Buffer): Buffer {
  const head = Buffer.alloc(RECORD_HEADER);
  RECORD_MAGIC.copy(head, 0);
  head.writeBigUInt64BE(BigInt(id), 4);
  head.writeUInt32BE(meta.length, 12);
  head.writeUInt32BE(image.length, 16);
  head.writeUInt32BE(checksum(head, meta, image), 20);
  return head;
}

export type ScanItem =
  | { kind: 'record'; id: number; offset: number; size: number }
  /** structure intact (the next record lines up) but the CRC fails: skip this one */
  | { kind: 'corrupt'; id: number; offset: number; size: number }
  /** bytes from `offset` to `end` hold no record that checks out: a damaged header, or at the end a torn tail */
  | { kind: 'torn'; offset: number; end: number };

/** Decode the record at `offset` of `buf`, or say why it cannot be trusted. */
export function decodeAt(buf: Buffer, offset: number): ScanItem & { meta?: Buffer; image?: Buffer } {
  const torn = { kind: 'torn', offset, end: buf.length } as const;
  if (buf.length - offset < RECORD_HEADER) return torn;
  const head = buf.subarray(offset, offset + RECORD_HEADER);
  if (!head.subarray(0, 4).equals(RECORD_MAGIC)) return torn;
  const idBig = head.readBigUInt64BE(4);
  if (idBig > BigInt(Number.MAX_SAFE_INTEGER)) return torn;
  const id = Number(idBig);
  const metaLen = head.readUInt32BE(12);
  const imageLen = head.readUInt32BE(16);
  const size = RECORD_HEADER + metaLen + imageLen;
  if (offset + size > buf.length) return torn;
  const meta = buf.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + metaLen);
  const image = buf.subarray(offset + RECORD_HEADER + metaLen, offset + size);
  if (checksum(head, meta, image) !== head.readUInt32BE(20)) return { kind: 'corrupt', id, offset, size };
  return { kind: 'record', id, offset, size, meta, image };
}

/** The next offset after `from` where a record checks out (magic, lengths and CRC), or -1. */
function resync(buf: Buffer, from: number): number {
  for (let at = buf.indexOf(RECORD_MAGIC, from); at >= 0; at = buf.indexOf(RECORD_MAGIC, at + 1)) {
    if (decodeAt(buf, at).kind === 'record') return at;
  }
  return -1;
}

/**
 * Walk a whole segment. A CRC failure whose length still lines up with a following record (or
 * the end of the file) skips only that record. Past a damaged header the scan resumes at the next
 * record that checks out, so a flipped bit on the medium costs the records it hit, not the rest
 * of the segment; with none left, the rest is a torn tail.
 */
export function scanSegment(buf: Buffer): ScanItem[] {
  const out: ScanItem[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const item = decodeAt(buf, offset);
    if (item.kind === 'record') {
      out.push({ kind: 'record', id: item.id, offset, size: item.size });
      offset += item.size;
      continue;
    }
    if (item.kind === 'corrupt') {
      const next = offset + item.size;
      if (next === buf.length || (next + 4 <= buf.length && buf.subarray(next, next + 4).equals(RECORD_MAGIC))) {
        out.push({ kind: 'corrupt', id: item.id, offset, size: item.size });
        offset = next;
        continue;
      }
    }
    const next = resync(buf, offset + 1);
    out.push({ kind: 'torn', offset, end: next < 0 ? buf.length : next });
    if (next < 0) break;
    offset = next;
  }
  return out;
}

/** Ack files hold the ids of records delivered or evicted, 8 bytes each; a torn tail is ignored. */
export function encodeAcks(ids: readonly number[]): Buffer {
  const buf = Buffer.alloc(ids.length * 8);
  ids.forEach((id, i) => {
    buf.writeBigUInt64BE(BigInt(id), i * 8);
  });
  return buf;
}

export function decodeAcks(buf: Buffer): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i + 8 <= buf.length; i += 8) out.add(Number(buf.readBigUInt64BE(i)));
  return out;
}

/**
 * The format before segments: one `<16-digit id>.rec` file per record,
 *   0 "RSP1"  4 meta length u32be  8 image length u32be  12 crc32(meta‖image)  16 meta, image
 * Read only, to carry over what an older version left spooled.
 */
export function decodeLegacy(buf: Buffer): { meta: Buffer; image: Buffer } | undefined {
  if (buf.length < 16 || !buf.subarray(0, 4).equals(Buffer.from('RSP1'))) return undefined;
  const metaLen = buf.readUInt32BE(4);
  if (16 + metaLen + buf.readUInt32BE(8) !== buf.length) return undefined;
  const meta = buf.subarray(16, 16 + metaLen);
  const image = buf.subarray(16 + metaLen);
  if (crc32(image, crc32(meta)) >>> 0 !== buf.readUInt32BE(12)) return undefined;
  return { meta, image };
}
