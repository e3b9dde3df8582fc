import { describe, expect, it } from 'vitest';
import { I2cError, LinuxI2cBus, mapI2cError } from '../../../../src/hardware/i2c/bus.ts';
import { DeviceNack, type I2cDeviceModel, SimI2cBus } from '../../../../src/hardware/sim/i2c-bus.ts';

/** Echoes the last write back, reversed, so reads can be told apart. */
class EchoDevice implements I2cDeviceModel {
  last = new Uint8Array(0);
  writes: Uint8Array[] = [];
  onWrite(bytes: Uint8Array): void {
    this.last = bytes.slice();
    this.writes.push(bytes.slice());
  }
  onRead(length: number): Uint8Array {
    const out = new Uint8Array(length);
    out.set(this.last.slice().reverse().subarray(0, length));
    return out;
  }
}

describe('SimI2cBus', () => {
  it('delivers writes and answers reads with the device bytes, logging raw traffic', async () => {
    const bus = new SimI2cBus();
    const dev = new EchoDevice();
    bus.attach(0x1a, dev);
    await bus.write(0x1a, Uint8Array.of(1, 2, 3));
    expect(Array.from(dev.writes[0])).toEqual([1, 2, 3]);
    const r = await bus.read(0x1a, 2);
    expect(Array.from(r)).toEqual([3, 2]);
    expect(bus.log.map((e) => [e.op, e.addr, Array.from(e.bytes)])).toEqual([
      ['write', 0x1a, [1, 2, 3]],
      ['read', 0x1a, [3, 2]],
    ]);
  });

  it('NACKs an address with no device, with the address in the message', async () => {
    const bus = new SimI2cBus();
    const err = await bus.write(0x22, Uint8Array.of(0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(I2cError);
    expect((err as I2cError).kind).toBe('nack');
    expect((err as I2cError).message).toContain('NACK at address 0x22');
  });

  it('injected NACK affects only the given number of transfers', async () => {
    const bus = new SimI2cBus();
    bus.attach(0x1b, new EchoDevice());
    bus.injectFault(0x1b, { kind: 'nack', count: 1 });
    await expect(bus.write(0x1b, Uint8Array.of(5))).rejects.toMatchObject({ kind: 'nack' });
    await expect(bus.write(0x1b, Uint8Array.of(5))).resolves.toBeUndefined();
  });

  it('a hanging device times out and the bus keeps serving other addresses', async () => {
    const bus = new SimI2cBus({ timeoutMs: 20 });
    bus.attach(0x1a, new EchoDevice());
    bus.attach(0x1b, new EchoDevice());
    bus.injectFault(0x1a, { kind: 'hang' });
    const err = await bus.writeRead(0x1a, Uint8Array.of(0x20), 1).catch((e: unknown) => e);
    expect((err as I2cError).kind).toBe('timeout');
    expect((err as I2cError).message).toMatch(/timeout .*0x1a/);
    await bus.write(0x1b, Uint8Array.of(9, 8));
    expect(Array.from(await bus.read(0x1b, 2))).toEqual([8, 9]);
  });

  it('corrupts read data when told to', async () => {
    const bus = new SimI2cBus();
    bus.attach(0x1a, new EchoDevice());
    await bus.write(0x1a, Uint8Array.of(0x00, 0xff));
    bus.injectFault(0x1a, { kind: 'corrupt', on: 'read', count: 1 });
    expect(Array.from(await bus.read(0x1a, 2))).toEqual([0xff ^ 0xa5, 0x00 ^ 0xa5]);
  });

  it('keeps concurrent write-read pairs from interleaving', async () => {
    const bus = new SimI2cBus();
    bus.attach(0x1a, new EchoDevice());
    const [a, b] = await Promise.all([bus.writeRead(0x1a, Uint8Array.of(1, 2), 2), bus.writeRead(0x1a, Uint8Array.of(3, 4), 2)]);
    expect(Array.from(a)).toEqual([2, 1]);
    expect(Array.from(b)).toEqual([4, 3]);
  });

  it('a device model that does not acknowledge (busy) is a NACK to the driver, logged as a failed transfer', async () => {
    const bus = new SimI2cBus();
    let busy = 1;
    bus.attach(0x1a, {
      onWrite() {
        if (busy-- > 0) throw new DeviceNack('busy');
      },
      onRead: (n) => new Uint8Array(n),
    });
    const err = await bus.write(0x1a, Uint8Array.of(0x32)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(I2cError);
    expect((err as I2cError).kind).toBe('nack');
    await expect(bus.write(0x1a, Uint8Array.of(0x32))).resolves.toBeUndefined();
    expect(bus.log.map((e) => e.ok)).toEqual([false, true]);
  });

  it('rejects invalid 7-bit addresses', async () => {
    const bus = new SimI2cBus();
    await expect(bus.write(0x90, Uint8Array.of(0))).rejects.toMatchObject({ kind: 'argument' });
  });
});

describe('mapI2cError', () => {
  const withCode = (code: string) => Object.assign(new Error(code), { code });
  it('maps errno codes to clear kinds', () => {
    expect(mapI2cError(withCode('ENXIO'), 0x1a, 'write')).toMatchObject({ kind: 'nack', message: 'NACK at address 0x1a during write' });
    expect(mapI2cError(withCode('EREMOTEIO'), 0x1b, 'read').kind).toBe('nack');
    expect(mapI2cError(withCode('ETIMEDOUT'), 0x1b, 'read')).toMatchObject({ kind: 'timeout' });
    expect(mapI2cError(withCode('EACCES'), 0x1b, 'open').message).toContain('group i2c');
    expect(mapI2cError(withCode('EBUSY'), 0x1b, 'read').kind).toBe('io');
  });
});

describe('LinuxI2cBus', () => {
  it('fails with a clear I2cError for a bus that does not exist', async () => {
    const err = await LinuxI2cBus.open(97).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(I2cError);
    expect((err as Error).message).toMatch(/i2c/i);
  });
});
