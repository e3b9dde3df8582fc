import { describe, expect, it } from 'vitest';
import { UserError } from '../../../../src/errors.ts';
import { Dlpc900, lutDefinition } from '../../../../src/hardware/dmd/dlpc900.ts';
import { decodePatternImage, encodeEnhancedRle, encodePatternImage } from '../../../../src/hardware/dmd/dlpc900-image.ts';
import { DeviceFault, FaultRegistry } from '../../../../src/hardware/faults.ts';
import { emptyMask, gridPoints, maskFromPoints, masksEqual, randomPoints } from '../../../../src/hardware/patterns.ts';
import { SimDlpc900 } from '../../../../src/hardware/sim/dmd-dlpc900.ts';
import { SimI2cBus } from '../../../../src/hardware/sim/i2c-bus.ts';

const hex = (a: Uint8Array | number[]) => Array.from(a, (b) => b.toString(16).padStart(2, '0')).join(' ');

function rig(width = 64, height = 48, opts: { compression?: 'erle' | 'rle' | 'none'; modelWidth?: number; timeoutMs?: number } = {}) {
  const bus = new SimI2cBus({ timeoutMs: opts.timeoutMs ?? 500 });
  const model = new SimDlpc900({ width: opts.modelWidth ?? width, height });
  bus.attach(0x1a, model);
  const registry = new FaultRegistry();
  const dmd = new Dlpc900(bus, { width, height, compression: opts.compression, faults: registry, ledCurrent: 0x64 });
  return { bus, model, dmd, registry };
}

describe('DLPC900 command bytes (DLPU018)', () => {
  it("LUT definition matches the guide's On-The-Fly example rows", () => {
    // DLPU018 "Image On-The-Fly Pattern Mode" example, step 2 and 3 data columns
    expect(
      hex(lutDefinition({ index: 0, exposureUs: 200, bitDepth: 1, color: 0b001, clearAfter: true, imageIndex: 0, bitPosition: 0 })),
    ).toBe('00 00 c8 00 00 11 00 00 00 00 00 00');
    expect(
      hex(lutDefinition({ index: 1, exposureUs: 400, bitDepth: 2, color: 0b010, clearAfter: true, imageIndex: 0, bitPosition: 1 })),
    ).toBe('01 00 90 01 00 23 00 00 00 00 00 08');
  });

  it('LED commands: current 0xCB r g b, enable 0x90 with bit 3 = sequencer control', async () => {
    const { bus, dmd } = rig();
    await dmd.setLeds(true, 0x64);
    await dmd.setLeds(false);
    expect(bus.writes(0x1a).map(hex)).toEqual(['cb 64 64 64', '90 08', 'cb 64 64 64', '90 00']);
  });

  it('start/stop are 0xE5 02 / 0xE5 00; status reads 0x20 0x21 0x22 ... as one-byte sub-address writes', async () => {
    const { bus, dmd } = rig();
    await dmd.start().catch(() => undefined);
    await dmd.stop();
    expect(bus.writes(0x1a).map(hex)).toEqual(['e5 02', 'e5 00']);
    bus.clearLog();
    await dmd.status();
    const subs = bus.writes(0x1a).map(hex);
    expect(subs.slice(0, 3)).toEqual(['20', '21', '22']);
    expect(subs).toContain('32');
  });

  it('test pattern: stop, video mode, internal TPG source, pattern select 0x8A', async () => {
    const { bus, dmd, model } = rig();
    await dmd.testPattern('checkerboard');
    expect(
      bus
        .writes(0x1a)
        .map(hex)
        .filter((s) => s !== '32'),
    ).toEqual(['e5 00', 'e9 00', '80 01', '8a 07']);
    expect(model.tpg).toBe(7);
    await expect(dmd.testPattern('plaid')).rejects.toBeInstanceOf(UserError);
  });

  it("show mask: the guide's On-The-Fly sequence with a 48-byte header and 504-byte packets", async () => {
    const { bus, dmd } = rig(16, 16, { compression: 'none' });
    await dmd.showMask(maskFromPoints(16, 16, [{ x: 1, y: 0 }]));
    const w = bus.writes(0x1a);
    expect(hex(w[0])).toBe('e5 00');
    expect(hex(w[1])).toBe('e9 03');
    // index 0, 100000 µs = 0x0186A0, 1-bit white (0b111 << 4), no dark time, image 0 bit 0
    expect(hex(w[2])).toBe('f8 00 00 a0 86 01 70 00 00 00 00 00 00');
    expect(hex(w[3])).toBe('f5 01 00 00 00 00 00');
    // 16*16*3 = 768 data bytes + 48 header = 816 = 0x330
    expect(hex(w[4])).toBe('aa 00 00 30 03 00 00');
    expect(hex(w[5].subarray(0, 3))).toBe('ab f8 01');
    expect(w[5].length).toBe(3 + 504);
    const header = w[5].subarray(3, 3 + 48);
    expect(hex(header)).toBe(
      `53 70 6c 64 10 00 10 00 00 03 00 00 ff ff ff ff ff ff ff ff 00 00 00 00 00 00 01 ${Array(21).fill('00').join(' ')}`,
    );
    // pixel (1,0) is the second 3-byte pixel after the header: all 24 bits lit
    expect(hex(w[5].subarray(3 + 48, 3 + 48 + 9))).toBe('00 00 00 ff ff ff 00 00 00');
    expect(hex(w[6].subarray(0, 3))).toBe('ab 38 01'); // remaining 312 bytes
    expect(w[6].length).toBe(3 + 312);
    expect(hex(w[7])).toBe('32'); // Read Error Code after the upload
    expect(hex(w[8])).toBe('e5 02');
  });
});

describe('DLPC900 enhanced RLE (DLPU018 §2.4.3)', () => {
  it('encodes repeats, end of line, copy-previous-line and end of image', () => {
    // 4x2, mirror (1,0) lit; line 1 dark
    const bits = Uint8Array.of(0, 1, 0, 0, 0, 0, 0, 0);
    expect(hex(encodeEnhancedRle(4, 2, bits))).toBe(
      '01 00 00 00 01 ff ff ff 02 00 00 00 00 00 ' + // line 0: 1 black, 1 white, 2 black, EOL
        '04 00 00 00 00 00 ' + // line 1: 4 black (repeat beats a copy of 1), EOL
        '00 01 00', // end of image
    );
    // identical lines: the second is "copy 3 pixels from previous line"
    expect(hex(encodeEnhancedRle(3, 2, Uint8Array.of(1, 0, 1, 1, 0, 1)))).toBe(
      '01 ff ff ff 01 00 00 00 01 ff ff ff 00 00 00 01 03 00 00 00 01 00',
    );
  });

  it('uses the two-byte count for runs of 128 or more', () => {
    // 200 = 0b1_1001000: (200 & 0x7f) | 0x80 = 0xc8, 200 >> 7 = 0x01
    expect(hex(encodeEnhancedRle(200, 1, new Uint8Array(200)))).toBe('c8 01 00 00 00 00 00 00 01 00');
  });

  it('decodes what it encodes, and literal runs written by hand', () => {
    const m = randomPoints(300, 40, { count: 60, minSpacing: 3, seed: 5 });
    const img = decodePatternImage(encodePatternImage(300, 40, m.bits, 'erle'));
    let mismatches = 0;
    for (let i = 0; i < m.bits.length; i++) if ((img.pixels[i] !== 0) !== (m.bits[i] === 1)) mismatches++;
    expect(mismatches).toBe(0);
    expect(img.pixels.filter((p) => p === 0xffffff).length).toBe(60);
    // hand-made: a literal run of 2 pixels [0, 2, p, p] then repeat 1, EOL, EOI
    const data = Uint8Array.of(0, 2, 1, 2, 3, 4, 5, 6, 1, 9, 9, 9, 0, 0, 0, 1, 0);
    const hdr = encodePatternImage(3, 1, new Uint8Array(3), 'erle').subarray(0, 48).slice();
    new DataView(hdr.buffer).setUint32(8, data.length, true);
    const both = new Uint8Array(48 + data.length);
    both.set(hdr);
    both.set(data, 48);
    expect(Array.from(decodePatternImage(both).pixels)).toEqual([0x030201, 0x060504, 0x090909]);
  });
});

describe('DLPC900 through the simulated controller', () => {
  for (const compression of ['erle', 'rle', 'none'] as const) {
    it(`shows an uploaded mask bit-exact (${compression})`, async () => {
      const { dmd, model } = rig(64, 48, { compression });
      const mask = randomPoints(64, 48, { count: 40, minSpacing: 3, seed: 11 });
      await dmd.setLeds(true);
      await dmd.showMask(mask);
      expect(masksEqual(model.shownMask(), mask)).toBe(true);
      expect(masksEqual(dmd.current(), mask)).toBe(true);
      const st = await dmd.status();
      expect(st).toMatchObject({ ok: true, mode: 'pattern-on-the-fly', running: true, ledsEnabled: true });
    });
  }

  it('a full-size 1920x1080 mask uploads in few packets with enhanced RLE and round-trips', async () => {
    const { dmd, model, bus } = rig(1920, 1080);
    const mask = gridPoints(1920, 1080, 32);
    await dmd.setLeds(true);
    await dmd.showMask(mask);
    expect(masksEqual(model.shownMask(), mask)).toBe(true);
    const packets = bus.writes(0x1a).filter((w) => w[0] === 0xab).length;
    expect(packets).toBeLessThan(60);
  });

  it('nothing is shown while LEDs are off or the sequence is stopped', async () => {
    const { dmd, model } = rig();
    const mask = gridPoints(64, 48, 8);
    await dmd.showMask(mask);
    await dmd.setLeds(false);
    expect(model.shownMask()).toBeNull();
    expect(dmd.current()).toBeNull();
    await dmd.setLeds(true);
    expect(masksEqual(model.shownMask(), mask)).toBe(true);
    await dmd.stop();
    expect(model.shownMask()).toBeNull();
    await dmd.start();
    expect(masksEqual(model.shownMask(), mask)).toBe(true);
    await dmd.blank();
    expect(masksEqual(model.shownMask(), emptyMask(64, 48))).toBe(true);
  });

  it('pads a smaller mask into the array and refuses a larger one', async () => {
    const { dmd, model } = rig(64, 48);
    await dmd.setLeds(true);
    await dmd.showMask(maskFromPoints(10, 10, [{ x: 9, y: 9 }]));
    const shown = model.shownMask();
    expect(shown?.bits[9 * 64 + 9]).toBe(1);
    expect(shown?.points.length).toBe(1);
    await expect(dmd.showMask(emptyMask(65, 48))).rejects.toBeInstanceOf(UserError);
  });
});

describe('DLPC900 faults', () => {
  it('a NACKing controller yields a DeviceFault naming the address, recorded, and the driver recovers', async () => {
    const { dmd, bus, registry, model } = rig();
    bus.injectFault(0x1a, { kind: 'nack' });
    const err = await dmd.showMask(gridPoints(64, 48, 8)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceFault);
    expect((err as DeviceFault).message).toContain('NACK at address 0x1a');
    expect((err as DeviceFault).operation).toBe('show mask');
    expect(registry.snapshot().dmd).toMatchObject({ count: 1, lastOperation: 'show mask' });
    bus.clearFaults();
    await dmd.setLeds(true);
    await dmd.showMask(gridPoints(64, 48, 8));
    expect(masksEqual(model.shownMask(), gridPoints(64, 48, 8))).toBe(true);
  });

  it('a hanging controller yields a timeout DeviceFault', async () => {
    const { dmd, bus, registry } = rig(64, 48, { timeoutMs: 20 });
    bus.injectFault(0x1a, { kind: 'hang' });
    const err = await dmd.status().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceFault);
    expect((err as Error).message).toMatch(/timeout/);
    expect(registry.snapshot().dmd.count).toBe(1);
  });

  it('an error the controller reports in Read Error Code becomes a DeviceFault with its meaning', async () => {
    // the controller's array is narrower than the image the driver sends: it rejects the pattern
    const { dmd, registry } = rig(64, 48, { modelWidth: 32 });
    const err = await dmd.showMask(gridPoints(64, 48, 8)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceFault);
    expect((err as Error).message).toContain('error 16 (invalid pattern definition)');
    expect(registry.snapshot().dmd.count).toBe(1);
  });
});
