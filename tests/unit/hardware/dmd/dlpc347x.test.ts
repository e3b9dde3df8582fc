import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../../../src/errors.ts';
import { Dlpc347x } from '../../../../src/hardware/dmd/dlpc347x.ts';
import {
  decodeFrame,
  encodeMaskFrame,
  LinuxFramebuffer,
  MemoryFramebuffer,
  readFramebufferInfo,
  VideoPort,
} from '../../../../src/hardware/dmd/video-port.ts';
import { DeviceFault, FaultRegistry } from '../../../../src/hardware/faults.ts';
import { gridPoints, maskFromPoints, masksEqual, randomPoints } from '../../../../src/hardware/patterns.ts';
import { SimDlpc347x } from '../../../../src/hardware/sim/dmd-dlpc347x.ts';
import { SimI2cBus } from '../../../../src/hardware/sim/i2c-bus.ts';

const hex = (a: Uint8Array) => Array.from(a, (b) => b.toString(16).padStart(2, '0')).join(' ');

function rig(withPort = true) {
  const bus = new SimI2cBus({ timeoutMs: 50 });
  const framebuffer = new MemoryFramebuffer(80, 60, 32);
  const model = new SimDlpc347x({ framebuffer });
  bus.attach(0x1b, model);
  const registry = new FaultRegistry();
  const dmd = new Dlpc347x(bus, { videoPort: withPort ? new VideoPort(framebuffer) : undefined, width: 80, height: 60, faults: registry });
  return { bus, model, framebuffer, dmd, registry };
}

describe('DLPC347x command bytes (DLPU075)', () => {
  it('LED current 54h: three 16-bit little-endian 10-bit values; LED enable 52h', async () => {
    const { bus, dmd, model } = rig();
    await dmd.setLeds(true, 255);
    await dmd.setLeds(false, 51);
    // 255 → 1023 = 0x3FF; 51 → round(51*1023/255) = 205 = 0x0CD
    expect(bus.writes(0x1b).map(hex)).toEqual(['54 ff 03 ff 03 ff 03', '52 07', '54 cd 00 cd 00 cd 00', '52 00']);
    expect(model.ledCurrent).toEqual([205, 205, 205]);
  });

  it('test pattern 0Bh with six parameter bytes, then operating mode 05h = 01h (TPG), then short status D0h', async () => {
    const { bus, dmd, model } = rig();
    await dmd.testPattern('checkerboard');
    expect(bus.writes(0x1b).map(hex)).toEqual(['0b 07 07 08 00 08 00', '05 01', 'd0']);
    expect(model.operatingMode).toBe(1);
  });

  it('status reads D0h, 06h, 53h and decodes them', async () => {
    const { dmd, bus } = rig();
    const st = await dmd.status();
    expect(bus.writes(0x1b).map(hex)).toEqual(['d0', '06', '53']);
    expect(st).toMatchObject({ ok: true, mode: 'external-video', ledsEnabled: false, raw: { shortStatus: 0x81 } });
  });
});

describe('DLPC347x through the video port and the simulated controller', () => {
  it('shows a mask bit-exact through the framebuffer when lit', async () => {
    const { dmd, model, bus } = rig();
    const mask = randomPoints(80, 60, { count: 30, minSpacing: 4, seed: 3 });
    await dmd.setLeds(true);
    await dmd.showMask(mask);
    expect(bus.writes(0x1b).map(hex)).toContain('05 00');
    expect(masksEqual(model.shownMask(), mask)).toBe(true);
    expect(masksEqual(dmd.current(), mask)).toBe(true);
    await dmd.stop();
    expect(model.shownMask()).toBeNull();
    expect(dmd.current()).toBeNull();
    await dmd.start();
    expect(masksEqual(model.shownMask(), mask)).toBe(true);
    await dmd.blank();
    expect(model.shownMask()?.points.length).toBe(0);
  });

  it('refuses to show a mask without a video port, as a user error', async () => {
    const { dmd } = rig(false);
    await expect(dmd.showMask(gridPoints(80, 60, 8))).rejects.toBeInstanceOf(UserError);
  });

  it('a command the controller refuses becomes a DeviceFault with the communication status', async () => {
    const { dmd, bus, registry } = rig();
    // corrupt the 0Bh and 05h writes: the mode byte 01h becomes 5Bh, which the controller refuses
    bus.injectFault(0x1b, { kind: 'corrupt', on: 'write', count: 2 });
    const err = await dmd.testPattern('solid').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceFault);
    expect((err as Error).message).toContain('opcode 0x5');
    expect(registry.snapshot().dmd.count).toBe(1);
  });

  it('a NACK is a recorded DeviceFault, not a crash', async () => {
    const { dmd, bus, registry } = rig();
    bus.injectFault(0x1b, { kind: 'nack' });
    await expect(dmd.setLeds(true)).rejects.toThrow(/NACK at address 0x1b/);
    expect(registry.snapshot().dmd.lastOperation).toBe('set LEDs');
  });
});

describe('video port frames', () => {
  it('encodes lit mirrors as white pixels and decodes back, honouring stride', () => {
    const info = { width: 10, height: 4, bitsPerPixel: 16, stride: 24 };
    const mask = maskFromPoints(10, 4, [{ x: 2, y: 1 }]);
    const frame = encodeMaskFrame(mask, info);
    expect(frame.length).toBe(96);
    expect(hex(frame.subarray(24 + 4, 24 + 6))).toBe('ff ff');
    expect(frame.reduce((a, b) => a + (b ? 1 : 0), 0)).toBe(2);
    expect(masksEqual(decodeFrame(frame, info), mask)).toBe(true);
  });

  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('reads geometry from sysfs and writes the frame to the device file', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'fbtest-'));
    dirs.push(root);
    await mkdir(path.join(root, 'sys', 'fb1'), { recursive: true });
    await writeFile(path.join(root, 'sys', 'fb1', 'virtual_size'), '16,8\n');
    await writeFile(path.join(root, 'sys', 'fb1', 'bits_per_pixel'), '32\n');
    await writeFile(path.join(root, 'sys', 'fb1', 'stride'), '64\n');
    const dev = path.join(root, 'fb1');
    await writeFile(dev, new Uint8Array(64 * 8));
    const fb = await LinuxFramebuffer.open(dev, path.join(root, 'sys'));
    expect(fb.info).toEqual({ width: 16, height: 8, bitsPerPixel: 32, stride: 64 });
    const mask = gridPoints(16, 8, 4);
    await new VideoPort(fb).show(mask);
    const written = new Uint8Array(await readFile(dev));
    expect(masksEqual(decodeFrame(written, fb.info), mask)).toBe(true);
  });

  it('gives clear errors for a bad device name or missing sysfs entries', async () => {
    await expect(readFramebufferInfo('/dev/sda')).rejects.toThrow(/\/dev\/fbN/);
    await expect(readFramebufferInfo('/dev/fb7', '/nonexistent')).rejects.toThrow(/virtual_size/);
  });
});
