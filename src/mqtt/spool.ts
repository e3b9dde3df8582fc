import { appendFile, type FileHandle, mkdir, open, readdir, readFile, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, silentLogger } from '../log.ts';
import { decodeAcks, decodeAt, decodeLegacy, encodeAcks, encodeHeader, RECORD_HEADER, scanSegment } from './spool-format.ts';
import { type SpoolLoss, SpoolLossLog } from './spool-loss-log.ts';

/**
 * When append() resolves:
 * - `record`: after the fsync that covers this record (appends made while a write is running share
 *   the next one: group commit). A kill -9 or power cut after that loses nothing.
 * - `batch`: after the fsync of its batch, which is written `batchMs` after its first record (or
 *   sooner when `batchRecords` are waiting). A kill -9 or power cut loses at most the records
 *   appended within the last batch window plus the one write in progress.
 */
export type SpoolDurability = 'record' | 'batch';

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  maxCount: number;
  durability?: SpoolDurability;
  /** batch mode: the longest a record waits for its fsync */
  batchMs?: number;
  /** batch mode: write as soon as this many records wait */
  batchRecords?: number;
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
  /** records waiting for delivery (durable or not yet) */
  count: number;
  bytes: number;
  /** of `count`, accepted but not yet fsynced, and their bytes (held in memory until written) */
  pending: number;
  pendingBytes: number;
  appended: number;
  /** oldest records dropped to stay within maxBytes/maxCount */
  evicted: number;
  /** records found torn or corrupted and dropped */
  corrupt: number;
  /** records bigger than maxBytes on their own, never stored */
  rejected: number;
  /** records lost because writing them failed (disk full, I/O error) */
  writeFailed: number;
  /** batches written, each with one data fsync (two when a batch spans segments) */
  batches: number;
  fsyncs: number;
  /** directory fsyncs, one per new segment file */
  dirFsyncs: number;
  /** segment files on disk and their size, delivered records included until the segment is deleted */
  segments: number;
  diskBytes: number;
}

/** A segment file: records appended back to back, plus an ack file naming those delivered. */
interface Segment {
  name: string;
  path: string;
  ackPath: string;
  /** bytes written (the next record's offset) */
  size: number;
  /** records in it not yet delivered or evicted */
  live: number;
  /** open for appending: only the newest segment */
  fh?: FileHandle;
  acks: number[];
}

interface Entry {
  size: number;
  /** set once written */
  seg?: Segment;
  offset: number;
  /** header, meta, image: held until written */
  parts?: [Buffer, Buffer, Buffer];
}

interface Waiter {
  id: number;
  resolve: (id: number) => void;
  reject: (e: Error) => void;
}

const SEG_RE = /^(\d{16})\.seg$/;
const LEGACY_RE = /^(\d{16})\.rec$/;
const MAX_SEGMENT_BYTES = 4 * 1024 * 1024;

const segName = (firstId: number): string => String(firstId).padStart(16, '0');

/**
 * Results waiting for the broker, on disk. Records are appended to segment files and made durable
 * in groups, one fsync per group, because an fsync per frame wears out SD cards and stalls on them.
 * Delivered records are listed in the segment's ack file (not fsynced: a lost ack only means a
 * duplicate, which at-least-once delivery allows) and a segment is deleted once all its records are
 * delivered. All file I/O is asynchronous.
 */
export class Spool {
  private readonly entries = new Map<number, Entry>(); // in id order
  private readonly segments: Segment[] = []; // oldest first; the last may be active
  private active: Segment | undefined;
  private pending: number[] = [];
  private pendingBytes = 0;
  private waiters: Waiter[] = [];
  private nextId = 1;
  private bytes = 0;
  private counters = { appended: 0, evicted: 0, corrupt: 0, rejected: 0, writeFailed: 0, batches: 0, fsyncs: 0, dirFsyncs: 0 };
  private readonly log: Logger;
  private readonly losses: SpoolLossLog;
  private readonly durability: SpoolDurability;
  private readonly batchMs: number;
  private readonly batchRecords: number;
  private readonly segmentBytes: number;
  private opening: Promise<void> | undefined;
  private opened = false;
  private chain: Promise<void> = Promise.resolve();
  private flushQueued = false;
  private batchTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private acksWaiting = false;
  private closed = false;
  private reads: Promise<void> = Promise.resolve();
  private reader: { seg: Segment; fh: FileHandle } | undefined;

  constructor(private readonly opts: SpoolOptions) {
    this.log = (opts.logger ?? silentLogger).child({ module: 'spool' });
    this.losses = new SpoolLossLog(this.log);
    this.durability = opts.durability ?? 'batch';
    this.batchMs = opts.batchMs ?? 250;
    this.batchRecords = opts.batchRecords ?? 64;
    // delivered records keep their segment on disk until it is all delivered: keep that overshoot small
    this.segmentBytes = Math.max(64 * 1024, Math.min(MAX_SEGMENT_BYTES, Math.floor(opts.maxBytes / 16)));
  }

  get dir(): string {
    return this.opts.dir;
  }

  /** Create the directory, drop torn records, index what is left, carry over old-format files. */
  open(): Promise<void> {
    this.opening ??= this.load().then(
      () => {
        this.opened = true;
      },
      (e: unknown) => {
        this.opening = undefined;
        throw e;
      },
    );
    return this.opening;
  }

  private async load(): Promise<void> {
    const dir = this.opts.dir;
    await mkdir(dir, { recursive: true });
    const names = (await readdir(dir)).sort();
    const legacy: string[] = [];
    for (const name of names) {
      if (name.endsWith('.tmp')) await unlinkQuiet(join(dir, name));
      else if (LEGACY_RE.test(name)) legacy.push(name);
      else if (SEG_RE.test(name)) await this.loadSegment(name);
    }
    this.opened = true;
    if (legacy.length) await this.carryOver(legacy);
    this.enforceLimits(0);
    if (this.entries.size) this.log.info({ count: this.entries.size, bytes: this.bytes }, 'spool reloaded');
  }

  private async loadSegment(name: string): Promise<void> {
    const base = name.slice(0, -4);
    const seg: Segment = {
      name: base,
      path: join(this.opts.dir, name),
      ackPath: join(this.opts.dir, `${base}.ack`),
      size: 0,
      live: 0,
      acks: [],
    };
    this.nextId = Math.max(this.nextId, Number(base) + 1);
    const buf = await readFile(seg.path);
    const acked = decodeAcks(await readFile(seg.ackPath).catch(() => Buffer.alloc(0)));
    let good = buf.length;
    for (const item of scanSegment(buf)) {
      if (item.kind === 'torn') {
        this.lost('corrupt', { segment: name, offset: item.offset, bytes: item.end - item.offset });
        if (item.end === buf.length) good = item.offset;
        // a damaged stretch mid-file stays and is reported again at each start: the medium is failing
        continue;
      }
      this.nextId = Math.max(this.nextId, item.id + 1);
      if (acked.has(item.id)) continue;
      if (item.kind === 'corrupt') {
        this.lost('corrupt', { segment: name, id: item.id });
        seg.acks.push(item.id); // not counted again at the next start
        continue;
      }
      this.entries.set(item.id, { size: item.size, seg, offset: item.offset });
      this.bytes += item.size;
      seg.live++;
    }
    // a torn tail is cut off so that it is reported once, not at every start
    if (good < buf.length) await truncate(seg.path, good);
    seg.size = good;
    this.segments.push(seg);
    if (seg.live === 0) await this.deleteSegment(seg);
    else if (seg.acks.length) this.acksWaiting = true;
  }

  /** Records an older version left as one file each: append them in order, then delete the files. */
  private async carryOver(names: string[]): Promise<void> {
    const writes: Promise<number | undefined>[] = [];
    for (const name of names) {
      const path = join(this.opts.dir, name);
      const rec = decodeLegacy(await readFile(path).catch(() => Buffer.alloc(0)));
      if (!rec) this.lost('corrupt', { file: name });
      else writes.push(this.append(rec.meta, rec.image));
    }
    await this.flushNow();
    try {
      await Promise.all(writes);
    } catch (e) {
      // keep the old files: the next start carries them over again (duplicates at worst)
      this.log.error({ err: (e as Error).message }, 'could not carry over old-format spool records');
      return;
    }
    for (const name of names) await unlinkQuiet(join(this.opts.dir, name));
    this.log.info({ files: names.length, carried: writes.length }, 'old-format spool records carried over');
  }

  /**
   * Accept a record: it is visible to nextIds()/read() at once, in order. The promise resolves with
   * its id once it is durable as `durability` defines, with undefined when the record alone exceeds
   * maxBytes (counted as rejected, never stored), and rejects when writing it failed (counted).
   */
  append(meta: Buffer, image: Buffer = Buffer.alloc(0)): Promise<number | undefined> {
    if (this.closed) return Promise.reject(new Error('spool is closed'));
    if (!this.opened) return this.open().then(() => this.append(meta, image));
    const size = RECORD_HEADER + meta.length + image.length;
    if (size > this.opts.maxBytes) {
      this.lost('rejected', { bytes: size, maxBytes: this.opts.maxBytes });
      return Promise.resolve(undefined);
    }
    this.enforceLimits(size);
    const id = this.nextId++;
    this.entries.set(id, { size, offset: -1, parts: [encodeHeader(id, meta, image), meta, image] });
    this.bytes += size;
    this.counters.appended++;
    this.pending.push(id);
    this.pendingBytes += size;
    this.clearIdle();
    const done = new Promise<number>((resolve, reject) => this.waiters.push({ id, resolve, reject }));
    this.schedule();
    return done;
  }

  private schedule(): void {
    const urgent = this.durability === 'record' || this.pending.length >= this.batchRecords || this.pendingBytes >= this.segmentBytes;
    if (urgent) {
      this.clearBatchTimer();
      this.kick();
    } else {
      this.armBatchTimer();
    }
  }

  private armBatchTimer(): void {
    // records waiting keep the process alive until they are written; acks alone need not
    if (!this.batchTimer) {
      this.batchTimer = setTimeout(() => {
        this.batchTimer = undefined;
        this.kick();
      }, this.batchMs);
    }
    if (this.pending.length) this.batchTimer.ref();
    else this.batchTimer.unref();
  }

  /** Queue one flush behind the running one; everything appended until it starts joins it. */
  private kick(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.chain = this.chain
      .then(async () => {
        this.flushQueued = false;
        await this.flushOnce();
        if (this.pending.length) this.schedule();
      })
      .catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'spool maintenance failed'));
  }

  /** Write and fsync everything accepted so far; resolves when it is durable. */
  flushNow(): Promise<void> {
    this.clearBatchTimer();
    this.kick();
    return this.chain;
  }

  private async flushOnce(): Promise<void> {
    const ids = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.pendingBytes = 0;
    this.waiters = [];
    const touched = new Set<Segment>();
    let newSegments = 0;
    const written: number[] = [];
    try {
      let parts: Buffer[] = [];
      let seg = this.active;
      const writeOut = async (): Promise<void> => {
        if (seg?.fh && parts.length) await writeAll(seg.fh, parts);
        parts = [];
      };
      for (const id of ids) {
        let e = this.entries.get(id);
        if (!e?.parts) continue; // delivered or evicted before it was written
        if (!seg || (seg.size > 0 && seg.size + e.size > this.segmentBytes)) {
          await writeOut();
          seg = await this.startSegment(id);
          newSegments++;
          // it may have been delivered while the file was created: written now, it would come back
          e = this.entries.get(id);
          if (!e?.parts) continue;
        }
        e.seg = seg;
        e.offset = seg.size;
        seg.size += e.size;
        seg.live++;
        parts.push(...e.parts);
        touched.add(seg);
        written.push(id);
      }
      await writeOut();
      for (const s of touched) {
        await s.fh?.datasync();
        this.counters.fsyncs++;
      }
      if (newSegments) await this.syncDir();
      if (touched.size) this.counters.batches++;
    } catch (err) {
      const inBatch = new Set(written);
      const failed = new Set(ids.filter((id) => inBatch.has(id) || this.entries.get(id)?.parts));
      this.writeFailed([...failed], err as Error);
      // records delivered or evicted before the write were not lost by it
      for (const w of waiters) {
        if (failed.has(w.id)) w.reject(err as Error);
        else w.resolve(w.id);
      }
      return;
    } finally {
      for (const id of written) {
        const e = this.entries.get(id);
        if (e) e.parts = undefined;
      }
    }
    for (const w of waiters) w.resolve(w.id);
    await this.writeAcks();
    await this.dropDeliveredSegments();
  }

  private async startSegment(firstId: number): Promise<Segment> {
    if (this.active) await this.seal(this.active);
    const name = segName(firstId);
    const seg: Segment = {
      name,
      path: join(this.opts.dir, `${name}.seg`),
      ackPath: join(this.opts.dir, `${name}.ack`),
      size: 0,
      live: 0,
      acks: [],
    };
    seg.fh = await open(seg.path, 'wx');
    this.segments.push(seg);
    this.active = seg;
    return seg;
  }

  private async seal(seg: Segment): Promise<void> {
    if (this.active === seg) this.active = undefined;
    const fh = seg.fh;
    seg.fh = undefined;
    await fh?.close();
  }

  /** The records of a failed write are gone from memory and may be half on disk: start a fresh segment. */
  private writeFailed(ids: number[], err: Error): void {
    for (const id of ids) {
      const e = this.entries.get(id);
      if (!e) continue;
      this.entries.delete(id);
      this.bytes -= e.size;
      if (e.seg) {
        // reported lost, so it must not come back at the next start if it did reach the disk
        e.seg.live--;
        e.seg.acks.push(id);
        this.acksWaiting = true;
      }
      this.lost('writeFailed', { id, err: err.message });
    }
    if (this.active) void this.seal(this.active).catch(() => undefined);
  }

  private async syncDir(): Promise<void> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.opts.dir, 'r');
      await fh.sync();
      this.counters.dirFsyncs++;
    } catch {
      // some filesystems refuse fsync on directories; the records themselves are synced
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  private async writeAcks(): Promise<void> {
    if (!this.acksWaiting) return;
    this.acksWaiting = false;
    for (const seg of this.segments) {
      if (!seg.acks.length) continue;
      if (seg.live === 0 && seg !== this.active) {
        seg.acks = []; // deleted next, its acks are moot
        continue;
      }
      const buf = encodeAcks(seg.acks);
      seg.acks = [];
      try {
        // opened per write: one descriptor per segment would pile up across a long outage
        await appendFile(seg.ackPath, buf);
      } catch (e) {
        // only costs duplicates after a restart
        this.log.warn({ segment: seg.name, err: (e as Error).message }, 'could not record delivered spool records');
      }
    }
  }

  private async dropDeliveredSegments(): Promise<void> {
    for (const seg of [...this.segments]) {
      if (seg.live === 0 && seg !== this.active) await this.deleteSegment(seg);
    }
  }

  private async deleteSegment(seg: Segment): Promise<void> {
    await this.seal(seg);
    await this.closeReader(seg);
    await unlinkQuiet(seg.path);
    await unlinkQuiet(seg.ackPath);
    const i = this.segments.indexOf(seg);
    if (i >= 0) this.segments.splice(i, 1);
  }

  private enforceLimits(incoming: number): void {
    const extra = incoming > 0 ? 1 : 0;
    for (const id of this.entries.keys()) {
      if (this.entries.size + extra <= this.opts.maxCount && this.bytes + incoming <= this.opts.maxBytes) break;
      this.drop(id);
      this.lost('evicted', { id, count: this.entries.size, bytes: this.bytes });
    }
  }

  private lost(kind: SpoolLoss, fields: Record<string, unknown>): void {
    this.counters[kind]++;
    this.losses.note(kind, fields, this.counters[kind]);
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

  /**
   * The record, or undefined when it was delivered/evicted or fails its CRC (then it is dropped).
   * Reads resolve in the order they were asked for, so a caller sending each record as its read
   * resolves keeps the spool's order.
   */
  read(id: number): Promise<SpoolRecord | undefined> {
    const next = this.reads.then(() => this.readNow(id));
    this.reads = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async readNow(id: number): Promise<SpoolRecord | undefined> {
    const e = this.entries.get(id);
    if (!e) return undefined;
    if (e.parts) return { id, meta: e.parts[1], image: e.parts[2] };
    const seg = e.seg;
    if (!seg) return undefined;
    const buf = Buffer.alloc(e.size);
    try {
      const fh = await this.readerFor(seg);
      const { bytesRead } = await fh.read(buf, 0, e.size, e.offset);
      if (bytesRead !== e.size) throw new Error('short read');
    } catch (err) {
      await this.closeReader();
      if (!this.entries.has(id)) return undefined; // delivered meanwhile, its segment may be gone
      this.log.warn({ id, err: (err as Error).message }, 'spool record unreadable');
      this.corrupt(id);
      return undefined;
    }
    const rec = decodeAt(buf, 0);
    if (rec.kind === 'record' && rec.id === id && rec.meta && rec.image) return { id, meta: rec.meta, image: rec.image };
    if (!this.entries.has(id)) return undefined;
    this.corrupt(id);
    return undefined;
  }

  /** Draining reads a segment front to back: keep its file open between reads. */
  private async readerFor(seg: Segment): Promise<FileHandle> {
    if (this.reader?.seg === seg) return this.reader.fh;
    await this.closeReader();
    const fh = await open(seg.path, 'r');
    this.reader = { seg, fh };
    return fh;
  }

  private async closeReader(seg?: Segment): Promise<void> {
    const r = this.reader;
    if (!r || (seg && r.seg !== seg)) return;
    this.reader = undefined;
    await r.fh.close().catch(() => undefined);
  }

  private corrupt(id: number): void {
    this.lost('corrupt', { id });
    this.drop(id);
  }

  /** Delete a delivered record. Unknown ids are ignored (already evicted). */
  remove(id: number): void {
    this.drop(id);
  }

  private drop(id: number): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    this.bytes -= e.size;
    if (e.seg) {
      e.seg.live--;
      e.seg.acks.push(id);
      this.acksWaiting = true;
      // acks are not worth an early write: a lost one costs a duplicate, not a result
      if (!this.flushQueued && !this.closed) this.armBatchTimer();
    }
    if (this.entries.size === 0 && !this.closed) this.armIdle();
  }

  /** An idle spool gives its last segment back after a while, leaving an empty directory. */
  private armIdle(): void {
    if (this.idleTimer) return;
    this.idleTimer = setTimeout(
      () => {
        this.idleTimer = undefined;
        if (this.entries.size || this.pending.length) return;
        this.chain = this.chain
          .then(async () => {
            if (this.entries.size || this.pending.length) return;
            if (this.active) await this.seal(this.active);
            await this.dropDeliveredSegments();
          })
          .catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'idle spool clean-up failed'));
      },
      Math.max(1000, 4 * this.batchMs),
    );
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private clearBatchTimer(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
  }

  /** Make everything accepted durable, record deliveries, delete delivered segments, close files. Final: later appends reject. */
  async close(): Promise<void> {
    this.closed = true;
    if (!this.opening) return;
    await this.opening.catch(() => undefined);
    this.clearIdle();
    await this.flushNow();
    this.chain = this.chain
      .then(async () => {
        // deliveries that came in while the last batch was written
        await this.writeAcks();
        if (this.active) await this.seal(this.active);
        await this.dropDeliveredSegments();
      })
      // a shutdown must go on: what could not be tidied is found and reported at the next start
      .catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'spool close incomplete'));
    await this.chain;
    await this.reads;
    await this.closeReader();
    this.clearBatchTimer();
    this.clearIdle();
    this.losses.flush();
  }

  get count(): number {
    return this.entries.size;
  }

  stats(): SpoolStats {
    return {
      count: this.entries.size,
      bytes: this.bytes,
      pending: this.pending.length,
      pendingBytes: this.pendingBytes,
      ...this.counters,
      segments: this.segments.length,
      diskBytes: this.segments.reduce((n, s) => n + s.size, 0),
    };
  }
}

/** writev until every byte is down: a short write is possible on a nearly full disk. */
async function writeAll(fh: FileHandle, parts: Buffer[]): Promise<void> {
  let rest = parts.filter((p) => p.length > 0);
  while (rest.length) {
    // stay below IOV_MAX
    const chunk = rest.slice(0, 512);
    const total = chunk.reduce((n, p) => n + p.length, 0);
    const { bytesWritten } = await fh.writev(chunk);
    if (bytesWritten === total) {
      rest = rest.slice(512);
      continue;
    }
    if (bytesWritten <= 0) throw new Error('spool write made no progress');
    let skip = bytesWritten;
    const left: Buffer[] = [];
    for (const p of chunk) {
      if (skip >= p.length) skip -= p.length;
      else {
        left.push(skip ? p.subarray(skip) : p);
        skip = 0;
      }
    }
    rest = [...left, ...rest.slice(512)];
  }
}

async function unlinkQuiet(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    // already gone
  }
}
