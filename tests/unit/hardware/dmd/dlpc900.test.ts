/**
 * DLPC900 driver against the simulated controller written from TI DLPU018J (own opcode table, own
 * image decoder in src/hardware/sim/dmd-dlpc900-image.ts).
 *
 * Mutation check (python3 tests/unit/hardware/dmd/mutation-check.py; mutation → test that catches it):
 *   M6  LUT definition opcode F8h → F7h          → "show mask: the guide's On-The-Fly sequence", every
 *                                                   "shows an uploaded mask bit-exact", e2e devices (20 tests)
 *   M7  enhanced-RLE two-byte count bytes swapped → "uses the two-byte count" (c8 01), "full-size 1920x1080
 *                                                   ... round-trips", "decodes what it encodes", e2e devices
 *   M10 no Read Error Code after F8               → "a refusal of pattern display LUT definition (F8) is caught
 *                                                   at that step"; the On-The-Fly sequence test
 *   M11 no retry on NACK                          → "retries transfers the controller NACKs after a mode switch"
 *   M12 no display-mode read-back after E9        → "reads the display mode back until the switch took"
 *   M19 no settle wait after E9                   → "waits out the settle time after a mode switch ..."
 *   M13 dual controller: halves swapped           → "sends the left half to the primary ... right half to the
 *                                                   secondary"; "hardware.dmd.controllers: 2 builds ..."
 *   M14 secondary Initialize BMP Load ACh → AAh   → the same two dual-controller tests
 *   M15 LUT colour field at bits 5:3              → "LUT definition matches the guide's On-The-Fly example rows"
 *   M17 BMP load size without the 48-byte header  → On-The-Fly sequence (AA bytes), every upload test, e2e (16)
 *   M18 enhanced-RLE runs cross line ends         → "encodes repeats, end of line, copy-previous-line ...",
 *                                                   every erle upload test, e2e devices (13)
 */
import { describe, expect, it } from 'vitest';
import { dmdSchema } from '../../../../src/config/hardware.ts';
import { UserError } from '../../../../src/errors.ts';
import { Dlpc900, lutDefinition } from '../../../../src/hardware/dmd/dlpc900.ts';
import { buildHeader, encodeEnhancedRle, encodePatternImage } from '../../../../src/hardware/dmd/dlpc900-image.ts';
import { DeviceFault, FaultRegistry } from '../../../../src/hardware/faults.ts';
import { emptyMask, gridPoints, maskFromPoints, masksEqual, randomPoints } from '../../../../src/hardware/patterns.ts';
import { SimDlpc900, type SimDlpc900Options } from '../../../../src/hardware/sim/dmd-dlpc900.ts';
import { readPatternImage as decodePatternImage } from '../../../../src/hardware/sim/dmd-dlpc900-image.ts';
import { createSimDmdRig } from '../../../../src/hardware/sim/dmd-rig.ts';
import { SimI2cBus } from '../../../../src/hardware/sim/i2c-bus.ts';

const hex = (a: Uint8Array | number[]) => Array.from(a, (b) => b.toString(16).padStart(2, '0')).join(' ');

interface RigOptions {
  compression?: 'erle' | 'rle' | 'none';
  modelWidth?: number;
  timeoutMs?: number;
  controllers?: 1 | 2;
  model?: SimDlpc900Options;
}

function rig(width = 64, height = 48, opts: RigOptions = {}) {
  const bus = new SimI2cBus({ timeoutMs: opts.timeoutMs ?? 500 });
  const model = new SimDlpc900({ width: opts.modelWidth ?? width, height, ...opts.model });
  bus.attach(0x1a, model);
  const registry = new FaultRegistry();
  const dmd = new Dlpc900(bus, {
    width,
    height,
    compression: opts.compression,
    faults: registry,
    ledCurrent: 0x64,
    controllers: opts.controllers,
    retryDelayMs: 1,
    modeSettleMs: 0,
  });
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
        .filter((s) => s !== '32' && s !== '69'),
    ).toEqual(['e5 00', 'e9 00', '80 01', '8a 07']);
    expect(model.tpg).toBe(7);
    await expect(dmd.testPattern('plaid')).rejects.toBeInstanceOf(UserError);
  });

  it("show mask: the guide's On-The-Fly sequence, Read Error Code (32) after every step, 48-byte header, 504-byte packets", async () => {
    const { bus, dmd } = rig(16, 16, { compression: 'none' });
    await dmd.showMask(maskFromPoints(16, 16, [{ x: 1, y: 0 }]));
    const w = bus.writes(0x1a);
    // stop; E9 mode 3, its error code, read-back of the mode (69); F8 + 32; F5 + 32; AA + 32;
    // AB packets then 32; E5 start + 32
    expect(w.map((b) => hex(b.subarray(0, 1)))).toEqual([
      'e5',
      'e9',
      '32',
      '69',
      'f8',
      '32',
      'f5',
      '32',
      'aa',
      '32',
      'ab',
      'ab',
      '32',
      'e5',
      '32',
    ]);
    expect(hex(w[0])).toBe('e5 00');
    expect(hex(w[1])).toBe('e9 03');
    // index 0, 100000 µs = 0x0186A0, 1-bit white (0b111 << 4), no dark time, image 0 bit 0
    expect(hex(w[4])).toBe('f8 00 00 a0 86 01 70 00 00 00 00 00 00');
    expect(hex(w[6])).toBe('f5 01 00 00 00 00 00');
    // 16 lines of 48 bytes (already a multiple of 16) + 48 header = 816 = 0x330
    expect(hex(w[8])).toBe('aa 00 00 30 03 00 00');
    expect(hex(w[10].subarray(0, 3))).toBe('ab f8 01');
    expect(w[10].length).toBe(3 + 504);
    const header = w[10].subarray(3, 3 + 48);
    expect(hex(header)).toBe(
      `53 70 6c 64 10 00 10 00 00 03 00 00 ff ff ff ff ff ff ff ff 00 00 00 00 00 00 01 ${Array(21).fill('00').join(' ')}`,
    );
    // pixel (1,0) is the second 3-byte pixel after the header: all 24 bits lit
    expect(hex(w[10].subarray(3 + 48, 3 + 48 + 9))).toBe('00 00 00 ff ff ff 00 00 00');
    expect(hex(w[11].subarray(0, 3))).toBe('ab 38 01'); // remaining 312 bytes
    expect(w[11].length).toBe(3 + 312);
    expect(hex(w[13])).toBe('e5 02');
  });

  for (const [op, step] of [
    [0xe9, 'display mode selection (E9)'],
    [0xf8, 'pattern display LUT definition (F8)'],
    [0xf5, 'pattern display LUT configuration (F5)'],
    [0xaa, 'initialize pattern BMP load (AA, primary)'],
    [0xe5, 'pattern display start (E5)'],
  ] as const) {
    it(`a refusal of ${step} is caught at that step, before anything else is sent`, async () => {
      const { bus, dmd, model } = rig(16, 16);
      // the sequence opens with a stop (E5 00): fail the start (E5 02) only
      model.failOn(op, 6, op === 0xe5 ? 0x02 : undefined);
      const err = await dmd.showMask(maskFromPoints(16, 16, [{ x: 3, y: 3 }])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeviceFault);
      expect((err as Error).message).toContain(`error 6 (invalid command parameter) after ${step}`);
      // the error code was read right after the refused command
      const w = bus.writes(0x1a).map((b) => b[0]);
      expect(w[w.lastIndexOf(op) + 1]).toBe(0x32);
    });
  }
});

describe('DLPC900 busy controller, retries and settle (DLPU018 Display Mode Selection)', () => {
  it('retries transfers the controller NACKs after a mode switch, with back-off, and succeeds', async () => {
    const { dmd, model, bus } = rig(32, 8, { model: { busyAfterModeSwitch: 3 } });
    await dmd.setLeds(true);
    const mask = maskFromPoints(32, 8, [{ x: 5, y: 2 }]);
    await dmd.showMask(mask);
    expect(model.nacks).toBe(3);
    expect(bus.log.filter((e) => !e.ok).length).toBe(3);
    expect(masksEqual(model.shownMask(), mask)).toBe(true);
  });

  it('gives up with a DeviceFault when the controller stays busy longer than the retries', async () => {
    const { dmd, registry } = rig(32, 8, { model: { busyAfterModeSwitch: 100 } });
    const err = await dmd.showMask(maskFromPoints(32, 8, [{ x: 5, y: 2 }])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceFault);
    expect((err as Error).message).toContain('NACK at address 0x1a');
    expect(registry.snapshot().dmd.count).toBe(1);
  });

  it('waits out the settle time after a mode switch before its next transfer', async () => {
    const mask = maskFromPoints(32, 8, [{ x: 5, y: 2 }]);
    const make = (modeSettleMs: number) => {
      const bus = new SimI2cBus({ timeoutMs: 500 });
      const model = new SimDlpc900({ width: 32, height: 8, busyMsAfterModeSwitch: 100 });
      bus.attach(0x1a, model);
      // no retries: only the settle wait can get past the busy controller
      const dmd = new Dlpc900(bus, { width: 32, height: 8, retries: 0, modeSettleMs, faults: new FaultRegistry() });
      return { dmd, model };
    };
    const settled = make(250);
    await settled.dmd.showMask(mask);
    expect(settled.model.nacks).toBe(0);
    expect(masksEqual(settled.model.shownMask(), mask)).toBe(true);
    // the same controller without the wait: the transfer right after E9 is refused
    const hasty = make(0);
    await expect(hasty.dmd.showMask(mask)).rejects.toThrow(/NACK at address 0x1a/);
    expect(hasty.model.nacks).toBe(1);
  });

  it('reads the display mode back until the switch took, before defining the LUT', async () => {
    const { dmd, model, bus } = rig(32, 8, { model: { modeReadbackLag: 2 } });
    await dmd.setLeds(true);
    await dmd.showMask(maskFromPoints(32, 8, [{ x: 1, y: 1 }]));
    const ops = bus.writes(0x1a).map((b) => b[0]);
    expect(ops.slice(ops.indexOf(0xe9), ops.indexOf(0xf8))).toEqual([0xe9, 0x32, 0x69, 0x69, 0x69]);
    expect(model.shownMask()?.points.length).toBe(1);
    const stuck = rig(32, 8, { model: { modeReadbackLag: 1000 } });
    await expect(stuck.dmd.showMask(maskFromPoints(32, 8, []))).rejects.toThrow(/display mode did not change to 3/);
  });
});

describe('DLPC900 dual controller (DLP9000 / LightCrafter 9000 class, DLPU018 Pattern BMP Load)', () => {
  it('sends the left half to the primary (AA/AB) and the right half to the secondary (AC/AD), each header half-width', async () => {
    const { dmd, model, bus } = rig(64, 8, { controllers: 2, model: { controllers: 2 } });
    const mask = maskFromPoints(64, 8, [
      { x: 2, y: 1 },
      { x: 31, y: 7 },
      { x: 32, y: 0 },
      { x: 63, y: 5 },
    ]);
    await dmd.setLeds(true);
    await dmd.showMask(mask);
    expect(masksEqual(model.shownMask(), mask)).toBe(true);
    const w = bus.writes(0x1a);
    const firstAb = w.find((b) => b[0] === 0xab);
    const firstAd = w.find((b) => b[0] === 0xad);
    // header width bytes 4..5 after the 2-byte count: 32 = half of 64
    expect(hex(firstAb?.subarray(3 + 4, 3 + 6) ?? [])).toBe('20 00');
    expect(hex(firstAd?.subarray(3 + 4, 3 + 6) ?? [])).toBe('20 00');
    expect(w.some((b) => b[0] === 0xac)).toBe(true);
    const left = decodePatternImage((firstAb as Uint8Array).subarray(3));
    expect(left.pixels[1 * 32 + 2]).toBe(0xffffff);
    expect(left.pixels[7 * 32 + 31]).toBe(0xffffff);
    expect(Array.from(left.pixels).filter((p) => p !== 0).length).toBe(2);
    expect(await dmd.status()).toMatchObject({ ok: true, running: true });
  });

  it('hardware.dmd.controllers: 2 builds a dual-controller driver on a dual-controller simulated DMD', async () => {
    const cfg = dmdSchema.parse({ type: 'dlpc900', bus: 'sim', width: 64, height: 8, controllers: 2 });
    if (cfg.type === 'none') throw new Error('unreachable');
    const rigged = createSimDmdRig(cfg);
    const mask = maskFromPoints(64, 8, [{ x: 40, y: 3 }]);
    await rigged.dmd.setLeds(true);
    await rigged.dmd.showMask(mask);
    expect(masksEqual(rigged.model.shownMask(), mask)).toBe(true);
    expect(rigged.bus.writes(0x1a).some((b) => b[0] === 0xad)).toBe(true);
    expect(dmdSchema.parse({ type: 'dlpc900' })).toMatchObject({ controllers: 1 });
    expect(() => dmdSchema.parse({ type: 'dlpc900', controllers: 3 })).toThrow();
  });

  it('a single-controller driver on a dual-controller DMD is refused (full-width image), and the reverse too', async () => {
    const a = rig(64, 8, { model: { controllers: 2 } });
    await expect(a.dmd.showMask(maskFromPoints(64, 8, []))).rejects.toThrow(/error 16/);
    const b = rig(64, 8, { controllers: 2 });
    // the single controller refuses the half-width image it is sent
    await expect(b.dmd.showMask(maskFromPoints(64, 8, []))).rejects.toThrow(/error 16 .*after pattern BMP load \(AB, primary\)/);
    expect(() => new Dlpc900(new SimI2cBus(), { width: 63, controllers: 2 })).toThrow(UserError);
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

  it("the simulated controller reads lines without end-of-line markers, as TI's encoder writes them", () => {
    // TI's SPLASH_PerformRLESplCompression output for a 3x2 image, line 0 = on off off, line 1 the
    // same: [1, on] [2, off] then [0, 1, 3] copy, then end of image; no [0, 0] anywhere
    const data = Uint8Array.of(1, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 3, 0, 1, 0);
    const image = new Uint8Array(48 + data.length);
    image.set(buildHeader(3, 2, data.length, 'erle'));
    image.set(data, 48);
    expect(Array.from(decodePatternImage(image).pixels)).toEqual([0xffffff, 0, 0, 0xffffff, 0, 0]);
    // a two-byte count without end of line: 200 black pixels on each of two lines, the second a copy
    const long = Uint8Array.of(0xc8, 0x01, 0, 0, 0, 0, 1, 0xc8, 0x01, 0, 1, 0);
    const img2 = new Uint8Array(48 + long.length);
    img2.set(buildHeader(200, 2, long.length, 'erle'));
    img2.set(long, 48);
    expect(decodePatternImage(img2).pixels.length).toBe(400);
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
