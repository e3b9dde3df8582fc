/**
 * The I2C bus seen by device drivers: raw transfers to a 7-bit address. Two implementations: the
 * Linux /dev/i2c-N bus through `i2c-bus` (loaded lazily so boards without I2C, and CI, still run
 * the simulator) and SimI2cBus (src/hardware/sim/i2c-bus.ts) hosting device models.
 */

import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';

export interface I2cBus {
  write(addr: number, bytes: Uint8Array): Promise<void>;
  read(addr: number, length: number): Promise<Uint8Array>;
  /** write then read as one uninterrupted exchange (no other transfer may slip in between) */
  writeRead(addr: number, bytes: Uint8Array, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export type I2cErrorKind = 'nack' | 'timeout' | 'io' | 'closed' | 'argument';

export class I2cError extends Error {
  override name = 'I2cError';
  constructor(
    readonly kind: I2cErrorKind,
    readonly address: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function hex(addr: number): string {
  return `0x${addr.toString(16).padStart(2, '0')}`;
}

export function checkAddress(addr: number): void {
  if (!Number.isInteger(addr) || addr < 0x03 || addr > 0x77) {
    throw new I2cError('argument', addr, `invalid 7-bit I2C address ${addr}`);
  }
}

/** Linux i2c-dev reports a missing ACK as ENXIO or EREMOTEIO depending on the adapter driver. */
export function mapI2cError(err: unknown, addr: number, op: string): I2cError {
  if (err instanceof I2cError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const msg = err instanceof Error ? err.message : String(err);
  if (code === 'ENXIO' || code === 'EREMOTEIO' || (code === 'EIO' && /remote/i.test(msg))) {
    return new I2cError('nack', addr, `NACK at address ${hex(addr)} during ${op}`, { cause: err });
  }
  if (code === 'ETIMEDOUT') {
    return new I2cError('timeout', addr, `timeout at address ${hex(addr)} during ${op}`, { cause: err });
  }
  if (code === 'ENOENT') {
    return new I2cError('io', addr, `I2C bus device not found (${msg})`, { cause: err });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new I2cError('io', addr, `no permission for the I2C bus (add the user to group i2c): ${msg}`, { cause: err });
  }
  return new I2cError('io', addr, `I2C ${op} at ${hex(addr)} failed: ${msg}`, { cause: err });
}

/**
 * Run one transfer with a deadline. A hung transfer cannot be cancelled in the kernel, so on
 * timeout we stop waiting and report; the bus stays usable for other addresses.
 */
export async function withDeadline<T>(addr: number, op: string, timeoutMs: number, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new I2cError('timeout', addr, `timeout after ${timeoutMs} ms at address ${hex(addr)} during ${op}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([run(), deadline]);
  } catch (err) {
    throw mapI2cError(err, addr, op);
  } finally {
    clearTimeout(timer);
  }
}

/** Serialises transfers: drivers issue write-then-read pairs that must not interleave. */
export class TransferQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export interface I2cBusOptions {
  /** per-transfer deadline */
  timeoutMs?: number;
}

interface PromisifiedBusLike {
  i2cWrite(address: number, length: number, buffer: Buffer): Promise<{ bytesWritten: number }>;
  i2cRead(address: number, length: number, buffer: Buffer): Promise<{ bytesRead: number; buffer: Buffer }>;
  close(): Promise<void>;
}

interface I2cBusModule {
  openPromisified(busNumber: number): Promise<PromisifiedBusLike>;
}

/**
 * /dev/i2c-N through i2c-bus. Uses plain i2cWrite/i2cRead (I2C_RDWR-free read()/write() on the
 * device file) because SMBus block calls cap transfers at 32 bytes and DMD image packets are ~500.
 */
export class LinuxI2cBus implements I2cBus {
  private readonly queue = new TransferQueue();
  private closed = false;

  private constructor(
    private readonly bus: PromisifiedBusLike,
    readonly busNumber: number,
    private readonly timeoutMs: number,
  ) {}

  static async open(busNumber: number, opts: I2cBusOptions = {}): Promise<LinuxI2cBus> {
    const devicePath = `/dev/i2c-${busNumber}`;
    // i2c-bus opens the device file lazily per address; check up front so a wrong bus number fails at start-up
    try {
      await access(devicePath, fsConstants.R_OK | fsConstants.W_OK);
    } catch (err) {
      const code = (err as { code?: string }).code;
      const hint =
        code === 'ENOENT'
          ? 'not found (enable I2C, e.g. dtparam=i2c_arm=on, and check the bus number with i2cdetect -l)'
          : 'not accessible (add the user to group i2c)';
      throw new I2cError('io', 0, `I2C bus ${devicePath} ${hint}`, { cause: err });
    }
    let mod: I2cBusModule;
    try {
      const imported = (await import('i2c-bus')) as unknown as I2cBusModule & { default?: I2cBusModule };
      mod = typeof imported.openPromisified === 'function' ? imported : (imported.default as I2cBusModule);
    } catch (err) {
      throw new I2cError('io', 0, `the i2c-bus native module is not available on this machine: ${String(err)}`, { cause: err });
    }
    try {
      const bus = await mod.openPromisified(busNumber);
      return new LinuxI2cBus(bus, busNumber, opts.timeoutMs ?? 500);
    } catch (err) {
      const e = mapI2cError(err, 0, `open /dev/i2c-${busNumber}`);
      throw new I2cError(e.kind, 0, `cannot open /dev/i2c-${busNumber}: ${e.message}`, { cause: err });
    }
  }

  private ensureOpen(addr: number): void {
    if (this.closed) throw new I2cError('closed', addr, `I2C bus ${this.busNumber} is closed`);
  }

  private async rawWrite(addr: number, bytes: Uint8Array): Promise<void> {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const { bytesWritten } = await withDeadline(addr, 'write', this.timeoutMs, () => this.bus.i2cWrite(addr, buf.length, buf));
    if (bytesWritten !== buf.length) {
      throw new I2cError('io', addr, `short write at ${hex(addr)}: ${bytesWritten} of ${buf.length} bytes`);
    }
  }

  private async rawRead(addr: number, length: number): Promise<Uint8Array> {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await withDeadline(addr, 'read', this.timeoutMs, () => this.bus.i2cRead(addr, length, buf));
    if (bytesRead !== length) throw new I2cError('io', addr, `short read at ${hex(addr)}: ${bytesRead} of ${length} bytes`);
    return new Uint8Array(buf.buffer, buf.byteOffset, length);
  }

  write(addr: number, bytes: Uint8Array): Promise<void> {
    return this.queue.run(async () => {
      checkAddress(addr);
      this.ensureOpen(addr);
      await this.rawWrite(addr, bytes);
    });
  }

  read(addr: number, length: number): Promise<Uint8Array> {
    return this.queue.run(async () => {
      checkAddress(addr);
      this.ensureOpen(addr);
      return this.rawRead(addr, length);
    });
  }

  writeRead(addr: number, bytes: Uint8Array, length: number): Promise<Uint8Array> {
    return this.queue.run(async () => {
      checkAddress(addr);
      this.ensureOpen(addr);
      await this.rawWrite(addr, bytes);
      return this.rawRead(addr, length);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.run(() => this.bus.close());
  }
}

export function openI2cBus(busNumber: number, opts: I2cBusOptions = {}): Promise<I2cBus> {
  return LinuxI2cBus.open(busNumber, opts);
}
