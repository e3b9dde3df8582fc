/**
 * DLPC347x driver against the simulated controller written from TI DLPU075B / TI's DLPC347x API.
 *
 * Mutation check (python3 tests/unit/hardware/dmd/mutation-check.py; mutation → test that catches it):
 *   M1 TPG codes 4/5 swapped (diagonal ↔ vertical)  → "test pattern diagonal-lines / vertical-lines" golden
 *                                                      bytes; "reads the test pattern the way TI defines it"
 *   M2 colour byte fg in 2:0, bg in 6:4 (07h)        → every "test pattern <name>" golden test (9)
 *   M3 always six TPG parameter bytes                → "test pattern <name>" for the 2-, 4- and 1-byte patterns (8)
 *   M4 checker counts big-endian                     → "test pattern checkerboard" golden bytes
 *   M5 LED enable opcode 52h → 50h                   → "LED current 54h ... LED enable 52h"; "shows a mask
 *                                                      bit-exact through the framebuffer"; TPG direction test
 */
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

  // Golden bytes: DLPU075B §3.1.7.1 Write Test Pattern Select layout, as TI's own DLPC347x API
  // (dlpc347x.c DLPC347X_Write<Pattern>) packs it: byte 1 pattern code, byte 2 foreground colour in
  // bits 6:4 and background in bits 2:0 (white 7 on black 0 = 70h), then 0, 2 or 4 pattern bytes.
  const GOLDEN: Record<string, string> = {
    solid: '0b 00 70', // solid field: colour only (2 bytes)
    'horizontal-ramp': '0b 01 70 00 ff', // start 00h, end FFh (4 bytes)
    'vertical-ramp': '0b 02 70 00 ff',
    'horizontal-lines': '0b 03 70 01 0f', // foreground width 1, background width 15 (4 bytes)
    'diagonal-lines': '0b 04 70 0f 0f', // code 4 = diagonal; spacing 15 both ways (4 bytes)
    'vertical-lines': '0b 05 70 01 0f', // code 5 = vertical (4 bytes)
    grid: '0b 06 70 01 0f 01 0f', // horizontal then vertical line widths (6 bytes)
    checkerboard: '0b 07 70 08 00 08 00', // 8 x 8 checkers, 16-bit little-endian counts (6 bytes)
    'color-bars': '0b 08', // colour bars: the pattern byte only (1 byte)
  };

  for (const [name, bytes] of Object.entries(GOLDEN)) {
    it(`test pattern ${name}: 0Bh ${bytes.slice(3)}, then operating mode 05h = 01h (TPG), then short status D0h`, async () => {
      const { bus, dmd, model } = rig();
      await dmd.testPattern(name);
      expect(bus.writes(0x1b).map(hex)).toEqual([bytes, '05 01', 'd0']);
      expect(model.operatingMode).toBe(1);
      expect(model.commStatus).toBe(0);
    });
  }

  it('the simulated controller reads the test pattern the way TI defines it: white lines on black, in the right direction', async () => {
    const { dmd, model } = rig();
    await dmd.setLeds(true);
    await dmd.testPattern('vertical-lines');
    expect(model.tpg()).toMatchObject({ pattern: 5, foreground: 7, background: 0 });
    const v = model.shownMask();
    // one-mirror vertical lines every 16 columns: column 0 lit top to bottom, column 1 dark
    expect(v?.bits[0]).toBe(1);
    expect(v?.bits[59 * 80]).toBe(1);
    expect(v?.bits[1]).toBe(0);
    expect(v?.points.length).toBe(5 * 60);
    await dmd.testPattern('diagonal-lines');
    const d = model.shownMask();
    expect(d?.bits[0]).toBe(1);
    expect(d?.bits[1 * 80 + 15]).toBe(1); // x + y = 16
    expect(d?.bits[1 * 80]).toBe(0);
    await dmd.testPattern('horizontal-lines');
    expect(model.shownMask()?.points.length).toBe(4 * 80);
  });

  it('a Write Test Pattern Select with the wrong parameter count is refused by the controller', async () => {
    const { bus, model } = rig();
    // six bytes for the colour bars (TI: one) — what a fixed-length driver would send
    await bus.write(0x1b, Uint8Array.of(0x0b, 0x08, 0x70, 0, 0, 0, 0));
    expect(model.commStatus & 0x20).toBe(0x20); // invalid number of command parameters
    expect(model.abortedOpcode).toBe(0x0b);
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
