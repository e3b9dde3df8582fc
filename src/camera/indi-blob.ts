/**
 * Turns an INDI BLOB (base64 text of a FITS file) into pixels without holding the event loop
 * for long: base64 is decoded chunk by chunk as it arrives, and the FITS → float conversion of
 * large images runs in a worker thread (transferred, not copied).
 */
import { Worker } from 'node:worker_threads';
import { UserError } from '../errors.ts';
import { workerEntry } from '../inference/worker-entry.ts';
import { convertFitsPixels, type FitsHeader, type FitsImageLayout, fitsDataBytes, fitsImageLayout, readFitsHeader } from '../io/fits.ts';
import { type Image, makeImage } from '../optics/image.ts';
import type { FitsWorkerReply, FitsWorkerRequest } from './indi-fits-worker.ts';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

const SPACES = /\s+/g;

/** single-character indexOf is vectorised; a /\s/ test over every chunk costs ~1 ns per character */
function hasSpace(s: string): boolean {
  return s.indexOf('\n') >= 0 || s.indexOf(' ') >= 0 || s.indexOf('\r') >= 0 || s.indexOf('\t') >= 0;
}

/**
 * Incremental base64 → bytes, fed the BLOB's text piece by piece as it arrives, so no BLOB-sized
 * string is ever built and no single call decodes more than one network chunk. The bytes land in
 * a buffer of their own ArrayBuffer (transferable to a worker). Node's decoder skips characters
 * outside the alphabet silently, so the total is checked against the length the BLOB announced.
 */
export class Base64Accumulator {
  private buf: Buffer;
  private written = 0;
  private carry = '';

  constructor(
    private readonly expected: number | undefined,
    private readonly maxBytes: number,
  ) {
    this.buf = Buffer.from(new ArrayBuffer((expected ?? 64 * 1024) + 3));
  }

  push(text: string): void {
    let s = this.carry ? this.carry + text : text;
    // drivers send one unbroken line; wrapped base64 (76 columns) would misalign the 4-character groups
    if (hasSpace(s)) s = s.replace(SPACES, '');
    const usable = s.length - (s.length % 4);
    this.carry = usable === s.length ? '' : s.slice(usable);
    if (usable > 0) this.decode(usable === s.length ? s : s.slice(0, usable));
  }

  finish(): Buffer {
    if (this.carry.length === 1) throw new UserError('BLOB is not base64 (stray character at its end)');
    if (this.carry) this.decode(this.carry);
    this.carry = '';
    if (this.expected !== undefined && this.written !== this.expected) {
      throw new UserError(`BLOB decoded to ${this.written} bytes but the server announced ${this.expected}: corrupt base64`);
    }
    return this.buf.subarray(0, this.written);
  }

  private decode(s: string): void {
    const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
    const need = this.written + Math.ceil((s.length * 3) / 4) - pad;
    if (need > this.maxBytes) throw new UserError(`BLOB exceeds the limit of ${this.maxBytes} bytes`);
    if (need > this.buf.length) {
      if (this.expected !== undefined) throw new UserError(`BLOB holds more than the ${this.expected} bytes it announced`);
      const grown = Buffer.from(new ArrayBuffer(Math.min(this.maxBytes + 3, Math.max(need, this.buf.length * 2))));
      this.buf.copy(grown, 0, 0, this.written);
      this.buf = grown;
    }
    this.written += this.buf.write(s, this.written, 'base64');
  }
}

export interface DecodedFits {
  image: Image;
  header: FitsHeader;
}

export interface FitsDecoderOptions {
  /** images up to this many pixels are converted on the calling thread (a worker round trip costs more) */
  inlineMaxPixels?: number;
  /** off: always convert on the calling thread, in slices */
  worker?: boolean;
}

/** Decodes FITS buffers; large ones in one lazily started worker thread that stop() ends. */
export class FitsDecoder {
  private worker: Worker | undefined;
  private workerFailed: Error | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (d: Float32Array) => void; reject: (e: Error) => void }>();
  private readonly inlineMaxPixels: number;
  private readonly useWorker: boolean;

  constructor(o: FitsDecoderOptions = {}) {
    this.inlineMaxPixels = o.inlineMaxPixels ?? 1 << 20;
    this.useWorker = o.worker ?? true;
  }

  async decode(buf: Buffer, name: string): Promise<DecodedFits> {
    const header = readFitsHeader(buf, name);
    const layout = fitsImageLayout(header, name);
    if (layout.dataStart + fitsDataBytes(layout) > buf.length) throw new UserError(`${name}: truncated FITS data`);
    const n = layout.width * layout.height;
    let data: Float32Array;
    if (n <= this.inlineMaxPixels || !this.useWorker || this.workerFailed) {
      data = await this.convertSliced(buf, layout);
    } else {
      data = await this.convertInWorker(buf, layout, name).catch((err: Error) => {
        if (!this.workerFailed) throw err;
        return this.convertSliced(buf, layout);
      });
    }
    return { image: makeImage(layout.width, layout.height, data), header };
  }

  /** the worker thread, if one was started (tests, diagnostics) */
  get workerStarted(): boolean {
    return this.worker !== undefined;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(new Error('FITS decoder closed'));
    this.pending.clear();
    if (w) await w.terminate();
  }

  private async convertSliced(buf: Buffer, layout: FitsImageLayout): Promise<Float32Array> {
    const out = new Float32Array(layout.width * layout.height);
    const slice = this.inlineMaxPixels;
    for (let i = 0; i < out.length; i += slice) {
      convertFitsPixels(buf, layout, out, i, Math.min(out.length, i + slice));
      if (i + slice < out.length) await turn();
    }
    return out;
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const entry = workerEntry(import.meta.url, 'indi-fits-worker');
    const w = new Worker(entry.spec, { eval: entry.eval });
    w.unref();
    w.on('message', (msg: FitsWorkerReply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.type === 'pixels') p.resolve(msg.data);
      else p.reject(new UserError(msg.error));
    });
    const fail = (err: Error): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      // one crash: fall back to the calling thread for good rather than respawning in a loop
      this.workerFailed = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', (err) => fail(new Error(`FITS worker crashed: ${err.message}`)));
    w.on('exit', (code) => fail(new Error(`FITS worker exited (code ${code})`)));
    this.worker = w;
    return w;
  }

  private convertInWorker(buf: Buffer, layout: FitsImageLayout, name: string): Promise<Float32Array> {
    const w = this.ensureWorker();
    const id = this.nextId++;
    // a Buffer may be a view into a shared (pooled) ArrayBuffer: transfer only one it starts
    const own = buf.byteOffset === 0 && buf.buffer instanceof ArrayBuffer && buf.byteLength > 4096 ? buf : Buffer.from(buf);
    const bytes = own.buffer as ArrayBuffer;
    const req: FitsWorkerRequest = { id, bytes, byteLength: own.byteLength, layout, name };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage(req, [bytes]);
    });
  }
}
