/**
 * A DLPC900 as an I2C device model: decodes the command bytes a host sends (same framing and opcode
 * table as src/hardware/dmd/dlpc900.ts, DLPU018), keeps the controller state, rebuilds uploaded
 * pattern images (uncompressed, plain RLE or enhanced RLE) and reports which mask the mirrors show.
 *
 * Simplifications: one sequence position is shown (LUT entry 0, the one our driver defines); the
 * Read Error Code register reflects the last executed write command, as the guide describes.
 */
import { DISPLAY_MODE, DLPC900, DLPC900_TPG, LED_SEQUENCER_CONTROL, START_STOP } from '../dmd/dlpc900.ts';
import { bitPlane, type DecodedImage, decodePatternImage, ImageFormatError } from '../dmd/dlpc900-image.ts';
import { type Mask, maskFromBits } from '../patterns.ts';
import { testPatternMask } from './dmd-test-patterns.ts';
import type { I2cDeviceModel } from './i2c-bus.ts';

interface LutEntry {
  exposureUs: number;
  bitDepth: number;
  color: number;
  darkUs: number;
  imageIndex: number;
  bitPosition: number;
}

/** Parameter byte counts of the write commands the model implements. */
const WRITE_LENGTHS: Record<number, number> = {
  [DLPC900.INPUT_SOURCE_WRITE]: 1,
  [DLPC900.TPG_SELECT_WRITE]: 1,
  [DLPC900.LED_ENABLE_WRITE]: 1,
  [DLPC900.LED_CURRENT_WRITE]: 3,
  [DLPC900.DISPLAY_MODE_WRITE]: 1,
  [DLPC900.PATTERN_START_STOP]: 1,
  [DLPC900.LUT_DEFINITION]: 12,
  [DLPC900.LUT_CONFIG_WRITE]: 6,
  [DLPC900.INIT_BMP_LOAD_WRITE]: 6,
};

const ERR = { none: 0, invalidCommand: 3, notAllowed: 5, invalidParameter: 6, notPresent: 7, badPattern: 16 } as const;

export interface SimDlpc900Options {
  width?: number;
  height?: number;
}

export class SimDlpc900 implements I2cDeviceModel {
  readonly width: number;
  readonly height: number;
  // reset values from the guide's RESET columns
  displayMode: number = DISPLAY_MODE.preStored;
  running = false;
  ledEnable = LED_SEQUENCER_CONTROL;
  ledCurrent: [number, number, number] = [0x97, 0x78, 0x7d];
  inputSource = 0;
  tpg = 10;
  errorCode = 0;
  hardwareStatus = 0x01;
  systemStatus = 0x01;
  readonly lut = new Map<number, LutEntry>();
  lutEntries = 0;
  readonly images = new Map<number, DecodedImage>();
  private load: { index: number; expected: number; buf: Uint8Array; received: number } | null = null;
  private pending: Uint8Array | null = null;
  private forced: number | null = null;
  private version = 0;
  private cache: { version: number; mask: Mask | null } | null = null;
  /** every decoded command, for tests that check what the controller understood */
  readonly commands: { op: number; params: Uint8Array }[] = [];

  constructor(opts: SimDlpc900Options = {}) {
    this.width = opts.width ?? 1920;
    this.height = opts.height ?? 1080;
  }

  /** The next write command fails with this Read Error Code value (fault injection). */
  failNextCommand(code: number): void {
    this.forced = code;
  }

  onWrite(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const op = bytes[0];
    const params = bytes.subarray(1);
    this.version++;
    if (op < 0x80) {
      this.pending = this.answer(op, params);
      return;
    }
    this.commands.push({ op, params: params.slice() });
    if (this.forced !== null) {
      this.errorCode = this.forced;
      this.forced = null;
      return;
    }
    this.errorCode = this.execute(op, params);
  }

  onRead(length: number): Uint8Array {
    // an unsolicited read returns whatever is in the shared buffer: zeros here
    const out = this.pending ?? new Uint8Array(length);
    this.pending = null;
    return out;
  }

  private answer(op: number, params: Uint8Array): Uint8Array {
    switch (op) {
      case DLPC900.HARDWARE_STATUS:
        return Uint8Array.of(this.hardwareStatus);
      case DLPC900.SYSTEM_STATUS:
        return Uint8Array.of(this.systemStatus);
      case DLPC900.MAIN_STATUS:
        return Uint8Array.of(this.running ? 0x02 : 0x00);
      case DLPC900.ERROR_CODE:
        return Uint8Array.of(this.errorCode);
      case DLPC900.DISPLAY_MODE_READ:
        return Uint8Array.of(this.displayMode);
      case DLPC900.LED_ENABLE_READ:
        return Uint8Array.of(this.ledEnable);
      case DLPC900.LED_CURRENT_READ:
        return Uint8Array.from(this.ledCurrent);
      case DLPC900.INPUT_SOURCE_READ:
        return Uint8Array.of(this.inputSource);
      case DLPC900.TPG_SELECT_READ:
        return Uint8Array.of(this.tpg);
      case DLPC900.LUT_CONFIG_READ:
        return Uint8Array.of(this.lutEntries & 0xff, this.lutEntries >> 8, 0, 0, 0, 0);
      default:
        void params;
        this.errorCode = ERR.invalidCommand;
        return new Uint8Array(0);
    }
  }

  private execute(op: number, p: Uint8Array): number {
    if (op === DLPC900.BMP_LOAD) return this.bmpLoad(p);
    const want = WRITE_LENGTHS[op];
    if (want === undefined) return ERR.invalidCommand;
    if (p.length !== want) return ERR.invalidParameter;
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    switch (op) {
      case DLPC900.INPUT_SOURCE_WRITE:
        this.inputSource = p[0] & 0x07;
        return ERR.none;
      case DLPC900.TPG_SELECT_WRITE:
        if ((p[0] & 0x0f) > 10) return ERR.invalidParameter;
        this.tpg = p[0] & 0x0f;
        return ERR.none;
      case DLPC900.LED_ENABLE_WRITE:
        this.ledEnable = p[0] & 0x0f;
        return ERR.none;
      case DLPC900.LED_CURRENT_WRITE:
        this.ledCurrent = [p[0], p[1], p[2]];
        return ERR.none;
      case DLPC900.DISPLAY_MODE_WRITE:
        if (this.running) return ERR.notAllowed;
        this.displayMode = p[0] & 0x03;
        return ERR.none;
      case DLPC900.PATTERN_START_STOP: {
        const action = p[0] & 0x03;
        if (action === START_STOP.start) {
          if (this.displayMode === DISPLAY_MODE.video) return ERR.notAllowed;
          const entry = this.lut.get(0);
          if (!entry || this.lutEntries === 0) return ERR.badPattern;
          if (this.displayMode === DISPLAY_MODE.onTheFly && !this.images.has(entry.imageIndex)) return ERR.notPresent;
          this.running = true;
        } else if (action === START_STOP.stop || action === START_STOP.pause) {
          this.running = false;
        } else return ERR.invalidParameter;
        return ERR.none;
      }
      case DLPC900.LUT_DEFINITION: {
        if (this.displayMode === DISPLAY_MODE.video) return ERR.notAllowed;
        const index = v.getUint16(0, true);
        const b5 = p[5];
        const img = v.getUint16(10, true);
        const entry: LutEntry = {
          exposureUs: p[2] | (p[3] << 8) | (p[4] << 16),
          bitDepth: ((b5 >> 1) & 0x7) + 1,
          color: (b5 >> 4) & 0x7,
          darkUs: p[6] | (p[7] << 8) | (p[8] << 16),
          imageIndex: img & 0x7ff,
          bitPosition: img >> 11,
        };
        if (entry.bitPosition > 23) return 10;
        if (entry.exposureUs === 0) return 14;
        this.lut.set(index, entry);
        return ERR.none;
      }
      case DLPC900.LUT_CONFIG_WRITE: {
        const n = v.getUint16(0, true) & 0x7ff;
        if (n < 1 || n > 400) return ERR.invalidParameter;
        this.lutEntries = n;
        return ERR.none;
      }
      case DLPC900.INIT_BMP_LOAD_WRITE: {
        if (this.displayMode !== DISPLAY_MODE.onTheFly) return ERR.notAllowed;
        const index = v.getUint16(0, true) & 0x1f;
        const size = v.getUint32(2, true);
        if (index > 17 || size < 48) return ERR.invalidParameter;
        this.load = { index, expected: size, buf: new Uint8Array(size), received: 0 };
        return ERR.none;
      }
      default:
        return ERR.invalidCommand;
    }
  }

  private bmpLoad(p: Uint8Array): number {
    if (!this.load) return ERR.notAllowed;
    if (p.length < 2) return ERR.invalidParameter;
    const n = (p[0] | (p[1] << 8)) & 0x3ff;
    if (n !== p.length - 2) return ERR.invalidParameter;
    const load = this.load;
    if (load.received + n > load.expected) {
      this.load = null;
      return ERR.badPattern;
    }
    load.buf.set(p.subarray(2), load.received);
    load.received += n;
    if (load.received < load.expected) return ERR.none;
    this.load = null;
    try {
      const img = decodePatternImage(load.buf);
      if (img.width !== this.width || img.height !== this.height) return ERR.badPattern;
      this.images.set(load.index, img);
      return ERR.none;
    } catch (err) {
      return err instanceof ImageFormatError ? err.errorCode : ERR.badPattern;
    }
  }

  private lit(colorBits: number): boolean {
    const channelOn = [0, 1, 2].some((c) => (colorBits >> c) & 1 && this.ledCurrent[c] > 0);
    return channelOn;
  }

  private computeShown(): Mask | null {
    const sequencer = (this.ledEnable & LED_SEQUENCER_CONTROL) !== 0;
    if (this.displayMode === DISPLAY_MODE.video) {
      const lit = sequencer ? this.lit(0b111) : this.lit(this.ledEnable & 0x07);
      if (!lit || this.inputSource !== 1 || this.tpg === 10) return null;
      const name = Object.keys(DLPC900_TPG).find((k) => DLPC900_TPG[k] === this.tpg) ?? 'solid';
      return testPatternMask(name, this.width, this.height);
    }
    if (!this.running) return null;
    const entry = this.lut.get(0);
    if (!entry) return null;
    const lit = sequencer ? this.lit(entry.color) : this.lit(this.ledEnable & 0x07);
    if (!lit) return null;
    const img = this.images.get(entry.imageIndex);
    if (!img) return null;
    return maskFromBits(this.width, this.height, bitPlane(img, entry.bitPosition));
  }

  /** The exact mask on the mirrors and lit now; null when stopped, dark or in an unmodelled mode. */
  shownMask(): Mask | null {
    if (this.cache && this.cache.version === this.version) return this.cache.mask;
    const mask = this.computeShown();
    this.cache = { version: this.version, mask };
    return mask;
  }
}
