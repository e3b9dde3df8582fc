import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { type Logger, silentLogger } from '../log.ts';

/**
 * One record per file, `<16-digit id>.rec`, written as `<id>.tmp` + fsync + rename, so a crash
 * leaves either the whole record or a stray .tmp (deleted on open). Each file carries a header
 * with lengths and a CRC so a torn or corrupted record is detected and dropped, never published.
 *
 *   0  "RSP1"   4  meta length u32be   8  image length u32be   12  crc32(meta‖image) u32be   16  meta, image
 */
const MAGIC = Buffer.from('RSP1');
const HEADER = 16;
const EXT = '.rec';

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  maxCount: number;
  /** fsync records (and the directory) before append() returns */
  fsync?: boolean;
  logger?: Logger;
}

export interface SpoolRecord {
  id: number;
  /** the …/meta JSON bytes */
  meta: Buffer;
  /** the …/image bytes, empty when the result had no image */
  image: Buffer;
}

export interface SpoolStats {
  count: number;
  bytes: number;
  appended: number;
  /** oldest records dropped to stay within maxBytes/maxCount */
  evicted: number;
  /** records found torn or corrupted and dropped */
  corrupt: number;
  /** records bigger than maxBytes on their own, never stored */
  rejected: number;
}

export class Spool {
  private readonly entries = new Map<number, number>(); // id → file size, in id order
  private nextId = 1;
  private bytes = 0;
  private counters = { appended: 0, evicted: 0, corrupt: 0, rejected: 0 };
  private readonly log: Logger;
  private opened = false;

  constructor(private readonly opts: SpoolOptions) {
    this.log = (opts.logger ?? silentLogger).child({ module: 'spool' });
  }

  get dir(): string {
    return this.opts.dir;
  }

  /** Create the directory, drop temp files and torn records, index what is left. */
  open(): void {
    if (this.opened) return;
    mkdirSync(this.opts.dir, { recursive: true });
    const names = readdirSync(this.opts.dir);
    const ids: number[] = [];
    for (const name of names) {
      const path = join(this.opts.dir, name);
      if (name.endsWith('.tmp')) {
        this.unlinkQuiet(path);
        continue;
      }
      const m = /^(\d{16})\.rec$/.exec(name);
      if (!m) continue;
      const id = Number(m[1]);
      const size = this.checkHeader(path);
      if (size === undefined) {
        this.counters.corrupt++;
        this.log.warn({ file: name }, 'dropping torn spool record');
        this.unlinkQuiet(path);
        continue;
      }
      ids.push(id);
      this.entries.set(id, size);
    }
    ids.sort((a, b) => a - b);
    const sorted = new Map(ids.map((id) => [id, this.entries.get(id) ?? 0]));
    this.entries.clear();
    for (const [id, size] of sorted) {
      this.entries.set(id, size);
      this.bytes += size;
    }
    this.nextId = ids.length ? ids[ids.length - 1] + 1 : 1;
    this.opened = true;
    this.enforceLimits(0);
    if (this.entries.size) this.log.info({ count: this.entries.size, bytes: this.bytes }, 'spool reloaded');
  }

  /** File size when the header is sane and matches the file length, else undefined. */
  private checkHeader(path: string): number | undefined {
    let fd: number | undefined;
    try {
      const size = statSync(path).size;
      if (size < HEADER) return undefined;
      fd = openSync(path, 'r');
      const h = Buffer.alloc(HEADER);
      if (readSync(fd, h, 0, HEADER, 0) !== HEADER) return undefined;
      if (!h.subarray(0, 4).equals(MAGIC)) return undefined;
      const want = HEADER + h.readUInt32BE(4) + h.readUInt32BE(8);
      return want === size ? size : undefined;
    } catch {
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  private pathOf(id: number): string {
    return join(this.opts.dir, `${String(id).padStart(16, '0')}${EXT}`);
  }

  /** Store a record durably; returns its id, or undefined when it alone exceeds maxBytes. */
  append(meta: Buffer, image: Buffer = Buffer.alloc(0)): number | undefined {
    if (!this.opened) this.open();
    const size = HEADER + meta.length + image.length;
    if (size > this.opts.maxBytes) {
      this.counters.rejected++;
      return undefined;
    }
    this.enforceLimits(size);
    const id = this.nextId++;
    const head = Buffer.alloc(HEADER);
    MAGIC.copy(head, 0);
    head.writeUInt32BE(meta.length, 4);
    head.writeUInt32BE(image.length, 8);
    head.writeUInt32BE(crc32(image, crc32(meta)) >>> 0, 12);
    const final = this.pathOf(id);
    const tmp = final.replace(/\.rec$/, '.tmp');
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, head);
      writeSync(fd, meta);
      if (image.length) writeSync(fd, image);
      if (this.opts.fsync !== false) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, final);
    if (this.opts.fsync !== false) this.syncDir();
    this.entries.set(id, size);
    this.bytes += size;
    this.counters.appended++;
    return id;
  }

  private syncDir(): void {
    try {
      const fd = openSync(this.opts.dir, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      // some filesystems refuse fsync on directories; the record itself is synced
    }
  }

  private enforceLimits(incoming: number): void {
    const extra = incoming > 0 ? 1 : 0;
    for (const [id, size] of this.entries) {
      if (this.entries.size + extra <= this.opts.maxCount && this.bytes + incoming <= this.opts.maxBytes) break;
      this.entries.delete(id);
      this.bytes -= size;
      this.counters.evicted++;
      this.unlinkQuiet(this.pathOf(id));
    }
  }

  /** Pending ids, oldest first. */
  ids(): number[] {
    return [...this.entries.keys()];
  }

  /** The first `limit` pending ids not in `skip`, oldest first. */
  nextIds(limit: number, skip: ReadonlySet<number>): number[] {
    const out: number[] = [];
    for (const id of this.entries.keys()) {
      if (out.length >= limit) break;
      if (!skip.has(id)) out.push(id);
    }
    return out;
  }

  has(id: number): boolean {
    return this.entries.has(id);
  }

  /** The record, or undefined when it was evicted/removed or fails its CRC (then it is dropped). */
  read(id: number): SpoolRecord | undefined {
    if (!this.entries.has(id)) return undefined;
    let buf: Buffer;
    try {
      buf = readFileSync(this.pathOf(id));
    } catch {
      this.forget(id);
      return undefined;
    }
    const ok =
      buf.length >= HEADER && buf.subarray(0, 4).equals(MAGIC) && HEADER + buf.readUInt32BE(4) + buf.readUInt32BE(8) === buf.length;
    if (ok) {
      const meta = buf.subarray(HEADER, HEADER + buf.readUInt32BE(4));
      const image = buf.subarray(HEADER + meta.length);
      if (crc32(image, crc32(meta)) >>> 0 === buf.readUInt32BE(12)) return { id, meta, image };
    }
    this.counters.corrupt++;
    this.log.warn({ id }, 'dropping corrupted spool record');
    this.remove(id);
    return undefined;
  }

  /** Delete a delivered record. Unknown ids are ignored (already evicted). */
  remove(id: number): void {
    if (!this.forget(id)) return;
    this.unlinkQuiet(this.pathOf(id));
  }

  private forget(id: number): boolean {
    const size = this.entries.get(id);
    if (size === undefined) return false;
    this.entries.delete(id);
    this.bytes -= size;
    return true;
  }

  private unlinkQuiet(path: string): void {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }

  get count(): number {
    return this.entries.size;
  }

  stats(): SpoolStats {
    return { count: this.entries.size, bytes: this.bytes, ...this.counters };
  }
}
