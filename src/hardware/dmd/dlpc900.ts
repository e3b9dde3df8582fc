import { UserError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { DeviceFault, faults as defaultFaults, type FaultRegistry } from '../faults.ts';
import { type I2cBus, I2cError } from '../i2c/bus.ts';
import { emptyMask, type Mask } from '../patterns.ts';
import { type Dlpc900Compression, encodePatternImage } from './dlpc900-image.ts';
import { guardOperation } from './fault-guard.ts';
import { type Dmd, type DmdStatus, TEST_PATTERNS } from './types.ts';

/**
 * DLPC900 over I2C: single-controller DMDs (DLP6500, LightCrafter 6500 class) and dual-controller
 * DMDs (DLP9000 / LightCrafter 9000, DLP670S) with `controllers: 2`, where every pattern image is
 * split into a left half for the primary and a right half for the secondary controller (DLPU018
 * Pattern BMP Load: "the I2C Primary controller gets the left half and the I2C Secondary controller
 * gets the right half", each half's header carrying half the array width). Both halves go through
 * the same I2C address with the secondary's own sub-addresses (0xAC / 0xAD).
 *
 * Framing — TI DLPU018 "DLPC900 Programmer's Guide", §1.1.1.4 "DLPC900 I2C Sub-Address and Data
 * Bytes": the sub-address byte is the command; most commands are a read/write pair where the write
 * sub-address is the read sub-address with the most significant bit set (e.g. 0x04/0x84);
 * parameters follow least-significant byte first. A read writes the read sub-address (plus any
 * parameters) and must be followed at once by a read transfer, because the 512-byte command buffer
 * is shared and the next command overwrites the answer (§1.1.1.4, §1.1.2.1).
 * Default 7-bit address 0x1A (0x34/0x35 as 8-bit write/read addresses, §1.1.1.3).
 *
 * Opcode table (DLPU018 rev. J section; I2C read / write; USB for cross-reference):
 */
export const DLPC900 = {
  /** §2.1.1 Hardware Status, read 0x20 (USB 0x1A0A) */
  HARDWARE_STATUS: 0x20,
  /** §2.1.2 System Status, read 0x21 (USB 0x1A0B) */
  SYSTEM_STATUS: 0x21,
  /** §2.1.3 Main Status, read 0x22 (USB 0x1A0C) */
  MAIN_STATUS: 0x22,
  /** §2.1.6 Read Error Code, read 0x32 (USB 0x0100) */
  ERROR_CODE: 0x32,
  /** Input Source Select, 0x00 / 0x80 (USB 0x1A00; DLPU018J §2 register summary table) */
  INPUT_SOURCE_READ: 0x00,
  INPUT_SOURCE_WRITE: 0x80,
  /** Internal Test Pattern Select, 0x0A / 0x8A (USB 0x1203) */
  TPG_SELECT_READ: 0x0a,
  TPG_SELECT_WRITE: 0x8a,
  /** LED Enable Control, 0x10 / 0x90 (USB 0x1A07) */
  LED_ENABLE_READ: 0x10,
  LED_ENABLE_WRITE: 0x90,
  /** LED Driver Current Control (PWM), 0x4B / 0xCB (USB 0x0B01) */
  LED_CURRENT_READ: 0x4b,
  LED_CURRENT_WRITE: 0xcb,
  /** Display Mode Selection, 0x69 / 0xE9 (USB 0x1A1B) */
  DISPLAY_MODE_READ: 0x69,
  DISPLAY_MODE_WRITE: 0xe9,
  /** Pattern Display Start/Stop, write-only 0xE5 (USB 0x1A24) */
  PATTERN_START_STOP: 0xe5,
  /** Pattern Display LUT Definition, write-only 0xF8 (USB 0x1A34) */
  LUT_DEFINITION: 0xf8,
  /** Pattern Display LUT Configuration, 0x75 / 0xF5 (USB 0x1A31) */
  LUT_CONFIG_READ: 0x75,
  LUT_CONFIG_WRITE: 0xf5,
  /** Initialize Pattern BMP Load (primary controller), 0x2A / 0xAA (USB 0x1A2A) */
  INIT_BMP_LOAD_READ: 0x2a,
  INIT_BMP_LOAD_WRITE: 0xaa,
  /** Pattern BMP Load (primary controller), write 0xAB (USB 0x1A2B) */
  BMP_LOAD: 0xab,
  /** Initialize Pattern BMP Load (secondary controller), 0x2C / 0xAC (USB 0x1A2C) */
  INIT_BMP_LOAD_SECONDARY_WRITE: 0xac,
  /** Pattern BMP Load (secondary controller), write 0xAD (USB 0x1A2D) */
  BMP_LOAD_SECONDARY: 0xad,
} as const;

/** Display Mode Selection values (§ Display Mode Selection). */
export const DISPLAY_MODE = { video: 0, preStored: 1, videoPattern: 2, onTheFly: 3 } as const;
/** Pattern Display Start/Stop values. */
export const START_STOP = { stop: 0, pause: 1, start: 2 } as const;
/** Internal Test Pattern Select codes (USB 0x1203). 8 = RGB ramp, 10 = no pattern. */
export const DLPC900_TPG: Record<string, number> = {
  solid: 0,
  'horizontal-ramp': 1,
  'vertical-ramp': 2,
  'horizontal-lines': 3,
  'diagonal-lines': 4,
  'vertical-lines': 5,
  grid: 6,
  checkerboard: 7,
  'rgb-ramp': 8,
  'color-bars': 9,
};

/** Read Error Code values (USB 0x0100). */
export const DLPC900_ERRORS: Record<number, string> = {
  0: 'no error',
  1: 'batch file checksum error',
  2: 'device failure',
  3: 'invalid command number',
  4: 'incompatible controller and DMD combination',
  5: 'command not allowed in current mode',
  6: 'invalid command parameter',
  7: 'item referred by the parameter is not present',
  8: 'out of resource (RAM or flash)',
  9: 'invalid BMP compression type',
  10: 'pattern bit number out of range',
  11: 'pattern BMP not present in flash',
  12: 'pattern dark time is out of range',
  13: 'signal delay parameter is out of range',
  14: 'pattern exposure time is out of range',
  15: 'pattern number is out of range',
  16: 'invalid pattern definition',
  17: 'pattern image memory address is out of range',
  255: 'internal error',
};

/**
 * Pattern BMP Load packets carry at most 504 image bytes: the guide's worked On-The-Fly example
 * (DLPU018 rev. I, "Image On-The-Fly Pattern Mode" example table) sends "F8 01" = 504 bytes per
 * 0xAB command, the first one holding the 48-byte header plus 456 data bytes; the count field is
 * 10 bits wide and the command buffer is 512 bytes.
 */
export const BMP_PACKET_BYTES = 504;

/** LED Enable Control byte: bits 2:0 = R, G, B; bit 3 = 1 hands the enables to the sequencer. */
export const LED_SEQUENCER_CONTROL = 0x08;

/** Hardware Status (§2.1.1) bit 4: secondary controller present and ready (dual-controller DMDs). */
export const HW_SECONDARY_PRESENT = 0x10;

/** A promise that resolves after `ms` (0: next macrotask), for back-off and settle waits. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Dlpc900Options {
  address?: number;
  width?: number;
  height?: number;
  /** 0..255 LED PWM duty applied to all three channels */
  ledCurrent?: number;
  compression?: Dlpc900Compression;
  /** pattern exposure in µs (24-bit field); the single pattern repeats indefinitely */
  exposureUs?: number;
  /** 2 for dual-controller DMDs (DLP9000, DLP670S): images split into left / right halves */
  controllers?: 1 | 2;
  /**
   * Transfers the controller NACKs (busy, e.g. right after a mode switch) are retried this many
   * times, waiting retryDelayMs, then twice that, and so on.
   */
  retries?: number;
  retryDelayMs?: number;
  /**
   * Wait after Display Mode Selection before the next command; then the mode is read back until it
   * matches (DLPU018 Display Mode Selection: "the host may poll the system status" after it; the
   * switch into video pattern mode takes about 300 ms).
   */
  modeSettleMs?: number;
  /** how many read-backs of the display mode before giving up */
  modePolls?: number;
  /** name in logs and the fault registry */
  device?: string;
  faults?: FaultRegistry;
  log?: Logger;
}

function u16(v: number): number[] {
  return [v & 0xff, (v >> 8) & 0xff];
}
function u24(v: number): number[] {
  return [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff];
}
function u32(v: number): number[] {
  return [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
}

/** LUT colour field (byte 5 bits 6:4): 0b111 = white, all three LEDs. */
const LUT_WHITE = 0b111;

/** Pattern Display LUT Definition parameters for one 1-bit pattern (12 bytes). */
export function lutDefinition(p: {
  index: number;
  exposureUs: number;
  darkUs?: number;
  bitDepth?: number;
  color?: number;
  waitTrigger?: boolean;
  clearAfter?: boolean;
  imageIndex: number;
  bitPosition: number;
}): number[] {
  const depth = (p.bitDepth ?? 1) - 1;
  const b5 = (p.clearAfter ? 1 : 0) | ((depth & 0x7) << 1) | (((p.color ?? LUT_WHITE) & 0x7) << 4) | (p.waitTrigger ? 0x80 : 0);
  const img = (p.imageIndex & 0x7ff) | ((p.bitPosition & 0x1f) << 11);
  return [...u16(p.index), ...u24(p.exposureUs), b5, ...u24(p.darkUs ?? 0), 0x00, ...u16(img)];
}

export class Dlpc900 implements Dmd {
  readonly model = 'DLPC900';
  readonly width: number;
  readonly height: number;
  readonly address: number;
  private readonly device: string;
  private readonly compression: Dlpc900Compression;
  private readonly exposureUs: number;
  private readonly registry: FaultRegistry;
  private readonly log?: Logger;
  readonly controllers: 1 | 2;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly modeSettleMs: number;
  private readonly modePolls: number;
  private ledCurrent: number;
  private ledsOn = false;
  private running = false;
  private shown: Mask | null = null;

  constructor(
    private readonly bus: I2cBus,
    opts: Dlpc900Options = {},
  ) {
    this.controllers = opts.controllers ?? 1;
    this.retries = opts.retries ?? 4;
    this.retryDelayMs = opts.retryDelayMs ?? 5;
    this.modeSettleMs = opts.modeSettleMs ?? 10;
    this.modePolls = opts.modePolls ?? 10;
    this.address = opts.address ?? 0x1a;
    this.width = opts.width ?? 1920;
    this.height = opts.height ?? 1080;
    this.ledCurrent = opts.ledCurrent ?? 100;
    this.compression = opts.compression ?? 'erle';
    this.exposureUs = opts.exposureUs ?? 100_000;
    this.device = opts.device ?? 'dmd';
    this.registry = opts.faults ?? defaultFaults;
    this.log = opts.log;
    if (this.exposureUs <= 0 || this.exposureUs > 0xffffff)
      throw new UserError(`DLPC900 exposure ${this.exposureUs} µs is outside 1..16777215`);
    if (this.controllers === 2 && this.width % 2 !== 0) {
      throw new UserError(`a dual-controller DLPC900 needs an even width (got ${this.width})`);
    }
  }

  private guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return guardOperation({ device: this.device, registry: this.registry, log: this.log }, operation, fn);
  }

  /**
   * One bus exchange, retried with exponential back-off while the controller NACKs: the DLPC900
   * does not acknowledge while it is busy (e.g. switching modes). A NACK of the address phase means
   * nothing was taken, so repeating the whole transfer is safe. Other errors fail at once.
   */
  private async withRetry<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof I2cError) || err.kind !== 'nack' || attempt >= this.retries) throw err;
        await sleep(this.retryDelayMs * 2 ** attempt);
      }
    }
  }

  private send(op: number, params: number[] | Uint8Array = []): Promise<void> {
    const bytes = new Uint8Array(1 + params.length);
    bytes[0] = op;
    bytes.set(params, 1);
    return this.withRetry(() => this.bus.write(this.address, bytes));
  }

  private query(op: number, length: number, params: number[] = []): Promise<Uint8Array> {
    return this.withRetry(() => this.bus.writeRead(this.address, Uint8Array.from([op, ...params]), length));
  }

  /** Read Error Code (§2.1.6) holds the result of the last executed command: read it after each step. */
  private async checkErrorCode(operation: string, step: string): Promise<void> {
    const [code] = await this.query(DLPC900.ERROR_CODE, 1);
    if (code !== 0) {
      throw new DeviceFault(
        this.device,
        operation,
        `controller reported error ${code} (${DLPC900_ERRORS[code] ?? 'undefined'}) after ${step}`,
      );
    }
  }

  /** A command, then its result from Read Error Code. */
  private async command(operation: string, step: string, op: number, params: number[] | Uint8Array = []): Promise<void> {
    await this.send(op, params);
    await this.checkErrorCode(operation, step);
  }

  /** Display Mode Selection, a settle wait, its error code, then read-back until the mode took. */
  private async setDisplayMode(operation: string, mode: number): Promise<void> {
    await this.send(DLPC900.DISPLAY_MODE_WRITE, [mode]);
    await sleep(this.modeSettleMs);
    await this.checkErrorCode(operation, 'display mode selection (E9)');
    for (let poll = 0; poll < this.modePolls; poll++) {
      const [now] = await this.query(DLPC900.DISPLAY_MODE_READ, 1);
      if ((now & 0x03) === mode) return;
      await sleep(this.retryDelayMs * 2 ** Math.min(poll, 4));
    }
    throw new DeviceFault(this.device, operation, `display mode did not change to ${mode} after ${this.modePolls} read-backs`);
  }

  /** Initialize Pattern BMP Load then Pattern BMP Load packets, for one controller. */
  private async upload(operation: string, image: Uint8Array, secondary: boolean): Promise<void> {
    const who = secondary ? 'secondary' : 'primary';
    const init = secondary ? DLPC900.INIT_BMP_LOAD_SECONDARY_WRITE : DLPC900.INIT_BMP_LOAD_WRITE;
    const load = secondary ? DLPC900.BMP_LOAD_SECONDARY : DLPC900.BMP_LOAD;
    await this.command(operation, `initialize pattern BMP load (${init.toString(16).toUpperCase()}, ${who})`, init, [
      ...u16(0),
      ...u32(image.length),
    ]);
    for (let off = 0; off < image.length; off += BMP_PACKET_BYTES) {
      const chunk = image.subarray(off, Math.min(image.length, off + BMP_PACKET_BYTES));
      const packet = new Uint8Array(2 + chunk.length);
      packet.set(u16(chunk.length), 0);
      packet.set(chunk, 2);
      await this.send(load, packet);
    }
    await this.checkErrorCode(operation, `pattern BMP load (${load.toString(16).toUpperCase()}, ${who})`);
  }

  status(): Promise<DmdStatus> {
    return this.guard('status', async () => {
      const [hw] = await this.query(DLPC900.HARDWARE_STATUS, 1);
      const [sys] = await this.query(DLPC900.SYSTEM_STATUS, 1);
      const [main] = await this.query(DLPC900.MAIN_STATUS, 1);
      const [mode] = await this.query(DLPC900.DISPLAY_MODE_READ, 1);
      const [led] = await this.query(DLPC900.LED_ENABLE_READ, 1);
      const [code] = await this.query(DLPC900.ERROR_CODE, 1);
      const errors: string[] = [];
      // Hardware Status bits (§2.1.1)
      if (!(hw & 0x01)) errors.push('internal initialisation error');
      if (hw & 0x02) errors.push('incompatible controller or DMD');
      if (hw & 0x04) errors.push('DMD reset controller error');
      if (hw & 0x08) errors.push('forced swap error');
      if (hw & 0x40) errors.push('sequencer abort');
      if (hw & 0x80) errors.push('sequencer error');
      if (this.controllers === 2 && !(hw & HW_SECONDARY_PRESENT)) errors.push('secondary controller not present');
      // System Status bit 0: internal memory test passed (ASSUMPTION: the other bits are not
      // decoded; settled by DLPU018 §2.1.2 System Status)
      if (!(sys & 0x01)) errors.push('internal memory test failed');
      if (code !== 0) errors.push(`last command error ${code} (${DLPC900_ERRORS[code] ?? 'undefined'})`);
      const modeNames = ['video', 'pre-stored-pattern', 'video-pattern', 'pattern-on-the-fly'];
      return {
        model: this.model,
        ok: errors.length === 0,
        mode: modeNames[mode & 0x3],
        // Main Status bit 1: sequencer running (ASSUMPTION, settled by DLPU018 §2.1.3 Main Status)
        running: (main & 0x02) !== 0,
        ledsEnabled: (led & LED_SEQUENCER_CONTROL) !== 0 || (led & 0x07) !== 0,
        errors,
        raw: { hardware: hw, system: sys, main, displayMode: mode, ledEnable: led, errorCode: code },
      };
    });
  }

  setLeds(enabled: boolean, current?: number): Promise<void> {
    return this.guard('set LEDs', async () => {
      if (current !== undefined) {
        if (!Number.isInteger(current) || current < 0 || current > 255) throw new UserError(`LED current ${current} is outside 0..255`);
        this.ledCurrent = current;
      }
      const c = this.ledCurrent;
      await this.send(DLPC900.LED_CURRENT_WRITE, [c, c, c]);
      // On: the sequencer strobes the LEDs per pattern (LUT colour). Off: manual control, all dark.
      await this.send(DLPC900.LED_ENABLE_WRITE, [enabled ? LED_SEQUENCER_CONTROL : 0x00]);
      this.ledsOn = enabled;
    });
  }

  private fullSize(mask: Mask): Mask {
    if (mask.width === this.width && mask.height === this.height) return mask;
    if (mask.width > this.width || mask.height > this.height) {
      throw new UserError(`mask ${mask.width}x${mask.height} is larger than the ${this.width}x${this.height} DMD`);
    }
    const full = emptyMask(this.width, this.height);
    for (let y = 0; y < mask.height; y++) full.bits.set(mask.bits.subarray(y * mask.width, (y + 1) * mask.width), y * this.width);
    full.points = mask.points.map((p) => ({ ...p }));
    return full;
  }

  /** The left or right half of a full-size mask, for one controller of a dual-controller DMD. */
  private half(full: Mask, right: boolean): Uint8Array {
    const w = this.width / 2;
    const out = new Uint8Array(w * this.height);
    for (let y = 0; y < this.height; y++) {
      const from = y * this.width + (right ? w : 0);
      out.set(full.bits.subarray(from, from + w), y * w);
    }
    return out;
  }

  /**
   * Pattern On-The-Fly: stop, mode 3, one LUT entry (1-bit, white, image 0 bit 0, repeat forever),
   * upload image 0 in ≤504-byte packets (both halves on a dual-controller DMD), start. Read Error
   * Code follows every step, so a refusal names the command it refused. Order follows the guide's
   * "Image On-The-Fly Pattern Mode" example.
   */
  showMask(mask: Mask): Promise<void> {
    return this.guard('show mask', async () => {
      const op = 'show mask';
      const full = this.fullSize(mask);
      const images =
        this.controllers === 2
          ? [
              encodePatternImage(this.width / 2, this.height, this.half(full, false), this.compression),
              encodePatternImage(this.width / 2, this.height, this.half(full, true), this.compression),
            ]
          : [encodePatternImage(this.width, this.height, full.bits, this.compression)];
      await this.send(DLPC900.PATTERN_START_STOP, [START_STOP.stop]);
      this.running = false;
      await this.setDisplayMode(op, DISPLAY_MODE.onTheFly);
      await this.command(
        op,
        'pattern display LUT definition (F8)',
        DLPC900.LUT_DEFINITION,
        lutDefinition({ index: 0, exposureUs: this.exposureUs, imageIndex: 0, bitPosition: 0 }),
      );
      await this.command(op, 'pattern display LUT configuration (F5)', DLPC900.LUT_CONFIG_WRITE, [...u16(1), ...u32(0)]);
      for (let i = 0; i < images.length; i++) await this.upload(op, images[i], i === 1);
      await this.command(op, 'pattern display start (E5)', DLPC900.PATTERN_START_STOP, [START_STOP.start]);
      this.running = true;
      this.shown = full;
      const bytes = images.reduce((n, img) => n + img.length, 0);
      this.log?.debug({ device: this.device, bytes, lit: full.points.length }, 'DMD mask uploaded');
    });
  }

  /**
   * Internal test patterns run in video mode with the internal test pattern as input source.
   * ASSUMPTION: Input Source Select (I2C 0x80, USB 0x1A00) byte 0 bits 2:0 = 1 selects the internal
   * test pattern; settled by DLPU018 §2.3.2 Input Source Selection.
   */
  testPattern(name: string): Promise<void> {
    return this.guard('test pattern', async () => {
      const code = DLPC900_TPG[name];
      if (code === undefined) {
        throw new UserError(`unknown DLPC900 test pattern "${name}" (known: ${[...TEST_PATTERNS, 'rgb-ramp'].join(', ')})`);
      }
      const op = 'test pattern';
      await this.send(DLPC900.PATTERN_START_STOP, [START_STOP.stop]);
      await this.setDisplayMode(op, DISPLAY_MODE.video);
      await this.command(op, 'input source select (80)', DLPC900.INPUT_SOURCE_WRITE, [0x01]);
      await this.command(op, 'internal test pattern select (8A)', DLPC900.TPG_SELECT_WRITE, [code]);
      this.running = false;
      this.shown = null;
    });
  }

  start(): Promise<void> {
    return this.guard('start', async () => {
      await this.send(DLPC900.PATTERN_START_STOP, [START_STOP.start]);
      this.running = true;
    });
  }

  stop(): Promise<void> {
    return this.guard('stop', async () => {
      await this.send(DLPC900.PATTERN_START_STOP, [START_STOP.stop]);
      this.running = false;
    });
  }

  /** An all-dark mask (a few bytes with enhanced RLE), so the sequence keeps running with no light. */
  async blank(): Promise<void> {
    await this.showMask(emptyMask(this.width, this.height));
  }

  current(): Mask | null {
    if (!this.ledsOn || !this.running) return null;
    return this.shown;
  }

  async close(): Promise<void> {
    await this.bus.close();
  }
}
