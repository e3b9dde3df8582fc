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
  /** nothing after `offset` can be trusted: a torn tail or a damaged header */
  | { kind: 'torn'; offset: number };

/** Decode the record at `offset` of `buf`, or say why it cannot be trusted. */
export function decodeAt(buf: Buffer, offset: number): ScanItem & { meta?: Buffer; image?: Buffer } {
  if (buf.length - offset < RECORD_HEADER) return { kind: 'torn', offset };
  const head = buf.subarray(offset, offset + RECORD_HEADER);
  if (!head.subarray(0, 4).equals(RECORD_MAGIC)) return { kind: 'torn', offset };
  const idBig = head.readBigUInt64BE(4);
  if (idBig > BigInt(Number.MAX_SAFE_INTEGER)) return { kind: 'torn', offset };
  const id = Number(idBig);
  const metaLen = head.readUInt32BE(12);
  const imageLen = head.readUInt32BE(16);
  const size = RECORD_HEADER + metaLen + imageLen;
  if (offset + size > buf.length) return { kind: 'torn', offset };
  const meta = buf.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + metaLen);
  const image = buf.subarray(offset + RECORD_HEADER + metaLen, offset + size);
  if (checksum(head, meta, image) !== head.readUInt32BE(20)) return { kind: 'corrupt', id, offset, size };
  return { kind: 'record', id, offset, size, meta, image };
}

/**
 * Walk a whole segment. A CRC failure whose length still lines up with a following record (or
 * the end of the file) skips only that record; anything else ends the scan as torn there.
 */
export function scanSegment(buf: Buffer): ScanItem[] {
  const out: ScanItem[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const item = decodeAt(buf, offset);
    if (item.kind === 'torn') {
      out.push({ kind: 'torn', offset });
      break;
    }
    if (item.kind === 'corrupt') {
      const next = offset + item.size;
      const linesUp = next === buf.length || (next + 4 <= buf.length && buf.subarray(next, next + 4).equals(RECORD_MAGIC));
      if (!linesUp) {
        out.push({ kind: 'torn', offset });
        break;
      }
      out.push({ kind: 'corrupt', id: item.id, offset, size: item.size });
    } else {
      out.push({ kind: 'record', id: item.id, offset, size: item.size });
    }
    offset += item.size;
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
