/**
 * Turns an INDI BLOB (base64 text of a FITS file) into pixels without holding the event loop
 * for long: base64 is decoded in slices with a turn of the loop between them, and the
 * FITS → float conversion of large images runs in a worker thread (transferred, not copied).
 */
import { Worker } from 'node:worker_threads';
import { UserError } from '../errors.ts';
import { workerEntry } from '../inference/worker-entry.ts';
import { convertFitsPixels, type FitsHeader, type FitsImageLayout, fitsDataBytes, fitsImageLayout, readFitsHeader } from '../io/fits.ts';
import { type Image, makeImage } from '../optics/image.ts';
import type { FitsWorkerReply, FitsWorkerRequest } from './indi-fits-worker.ts';

/** base64 characters per slice: 4 MiB decode in about 3 ms on one x86 core */
const SLICE_CHARS = 4 * 1024 * 1024;

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * Decodes base64 into a buffer of its own ArrayBuffer (so it can be transferred). Node's decoder
 * skips characters outside the alphabet silently, so the result is checked against the length
 * the BLOB declared.
 */
export async function decodeBase64Sliced(text: string, expectedBytes?: number, sliceChars = SLICE_CHARS): Promise<Buffer> {
  let a = 0;
  let b = text.length;
  while (a < b && isSpace(text.charCodeAt(a))) a++;
  while (b > a && isSpace(text.charCodeAt(b - 1))) b--;
  let body = a === 0 && b === text.length ? text : text.slice(a, b);
  // drivers send one unbroken line; wrapped base64 would misalign the 4-character slices
  if (body.includes('\n') || body.includes('\r') || body.includes(' ') || body.includes('\t')) body = body.replace(/[\s]+/g, '');
  if (body.length % 4 === 1) throw new UserError(`BLOB is not base64 (length ${body.length})`);
  const out = Buffer.from(new ArrayBuffer(Math.ceil((body.length * 3) / 4)));
  const step = sliceChars - (sliceChars % 4);
  let written = 0;
  for (let o = 0; o < body.length; o += step) {
    written += out.write(body.slice(o, o + step), written, 'base64');
    if (o + step < body.length) await turn();
  }
  if (expectedBytes !== undefined && written !== expectedBytes) {
    throw new UserError(`BLOB decoded to ${written} bytes but the server announced ${expectedBytes}: corrupt base64`);
  }
  return out.subarray(0, written);
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
    // own the bytes exactly: a Buffer may be a view into a larger (pooled) ArrayBuffer
    const own = buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength ? buf : Buffer.from(buf);
    const bytes = own.buffer as ArrayBuffer;
    const req: FitsWorkerRequest = { id, bytes, layout, name };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage(req, [bytes]);
    });
  }
}
