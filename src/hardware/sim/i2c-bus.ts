/**
 * A simulated I2C bus: device models at 7-bit addresses receive exactly the bytes a driver writes
 * and answer reads with bytes, so drivers are exercised at the protocol level. Faults (NACK, hang,
 * corruption) can be injected per address, and every transfer is logged with its raw bytes.
 */
import { checkAddress, hex, type I2cBus, I2cError, TransferQueue, withDeadline } from '../i2c/bus.ts';

/**
 * Thrown by a device model that does not acknowledge (e.g. busy): the bus reports it as the NACK
 * Linux i2c-dev reports (EREMOTEIO), so drivers see the same error as on real hardware.
 */
export class DeviceNack extends Error {
  override name = 'DeviceNack';
  readonly code = 'EREMOTEIO';
}

export interface I2cDeviceModel {
  /** one complete write transaction (START, address+W, bytes..., STOP); throw DeviceNack to NACK */
  onWrite(bytes: Uint8Array): void;
  /** one complete read transaction of `length` bytes */
  onRead(length: number): Uint8Array;
}

export type SimFaultKind = 'nack' | 'hang' | 'corrupt';

export interface SimFault {
  kind: SimFaultKind;
  /** which transfers are affected; default both */
  on?: 'write' | 'read' | 'any';
  /** how many transfers to affect before the fault clears itself; default forever */
  count?: number;
}

export interface I2cLogEntry {
  op: 'write' | 'read';
  addr: number;
  bytes: Uint8Array;
  ok: boolean;
  error?: string;
}

export interface SimI2cBusOptions {
  timeoutMs?: number;
  /** keep at most this many log entries (image uploads produce many) */
  logLimit?: number;
}

/** Node's i2c-dev errors carry errno codes; the sim raises the same so the mapping path is shared. */
function errno(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export class SimI2cBus implements I2cBus {
  private readonly devices = new Map<number, I2cDeviceModel>();
  private readonly faultsByAddr = new Map<number, SimFault & { left: number }>();
  private readonly queue = new TransferQueue();
  private readonly timeoutMs: number;
  private readonly logLimit: number;
  private closed = false;
  readonly log: I2cLogEntry[] = [];

  constructor(opts: SimI2cBusOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 500;
    this.logLimit = opts.logLimit ?? 10_000;
  }

  attach(addr: number, model: I2cDeviceModel): void {
    checkAddress(addr);
    if (this.devices.has(addr)) throw new Error(`a device is already attached at ${hex(addr)}`);
    this.devices.set(addr, model);
  }

  detach(addr: number): void {
    this.devices.delete(addr);
  }

  injectFault(addr: number, fault: SimFault): void {
    this.faultsByAddr.set(addr, { ...fault, left: fault.count ?? Number.POSITIVE_INFINITY });
  }

  clearFaults(addr?: number): void {
    if (addr === undefined) this.faultsByAddr.clear();
    else this.faultsByAddr.delete(addr);
  }

  clearLog(): void {
    this.log.length = 0;
  }

  /** writes only, as byte arrays: what a logic analyser on SDA would show the host sending */
  writes(addr?: number): Uint8Array[] {
    return this.log.filter((e) => e.op === 'write' && e.ok && (addr === undefined || e.addr === addr)).map((e) => e.bytes);
  }

  private takeFault(addr: number, op: 'write' | 'read'): SimFault | null {
    const f = this.faultsByAddr.get(addr);
    if (!f) return null;
    const on = f.on ?? 'any';
    if (on !== 'any' && on !== op) return null;
    f.left -= 1;
    if (f.left <= 0) this.faultsByAddr.delete(addr);
    return f;
  }

  private record(entry: I2cLogEntry): void {
    this.log.push(entry);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }

  private transfer(op: 'write' | 'read', addr: number, payload: Uint8Array | number): Promise<Uint8Array> {
    return withDeadline(addr, op, this.timeoutMs, async () => {
      if (this.closed) throw new I2cError('closed', addr, 'simulated I2C bus is closed');
      const device = this.devices.get(addr);
      const fault = this.takeFault(addr, op);
      const logged = typeof payload === 'number' ? new Uint8Array(0) : payload.slice();
      try {
        if (!device || fault?.kind === 'nack') {
          throw errno('EREMOTEIO', `Remote I/O error, ${op} ${hex(addr)}`);
        }
        if (fault?.kind === 'hang') {
          // SCL held low by the device: the transfer never completes
          await new Promise<never>(() => undefined);
        }
        if (op === 'write') {
          const bytes = payload as Uint8Array;
          const delivered = bytes.slice();
          if (fault?.kind === 'corrupt' && delivered.length > 0) delivered[delivered.length - 1] ^= 0x5a;
          device.onWrite(delivered);
          this.record({ op, addr, bytes: logged, ok: true });
          return new Uint8Array(0);
        }
        const length = payload as number;
        const answer = device.onRead(length);
        const out = new Uint8Array(length);
        out.set(answer.subarray(0, length));
        if (fault?.kind === 'corrupt') for (let i = 0; i < out.length; i++) out[i] ^= 0xa5;
        this.record({ op, addr, bytes: out.slice(), ok: true });
        return out;
      } catch (err) {
        this.record({ op, addr, bytes: logged, ok: false, error: err instanceof Error ? err.message : String(err) });
        throw err;
      }
    });
  }

  write(addr: number, bytes: Uint8Array): Promise<void> {
    return this.queue.run(async () => {
      checkAddress(addr);
      await this.transfer('write', addr, bytes);
    });
  }

  read(addr: number, length: number): Promise<Uint8Array> {
    return this.queue.run(async () => {
      checkAddress(addr);
      return this.transfer('read', addr, length);
    });
  }

  writeRead(addr: number, bytes: Uint8Array, length: number): Promise<Uint8Array> {
    return this.queue.run(async () => {
      checkAddress(addr);
      await this.transfer('write', addr, bytes);
      return this.transfer('read', addr, length);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
