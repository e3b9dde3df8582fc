/**
 * A DLPC900 (single, or primary + secondary for dual-controller DMDs) as an I2C device model,
 * written from TI DLPU018J "DLPC900 Programmer's Guide" — never from our driver
 * (src/hardware/dmd/dlpc900.ts) or its image codec: every opcode, length and field below is cited,
 * the uploaded images are rebuilt by this model's own decoder (./dmd-dlpc900-image.ts), so a driver
 * that misreads the guide disagrees with this model and a test turns red.
 *
 * Framing (§1.1.1.4): the first byte of a write is the sub-address (command); write commands are
 * the read sub-address with bit 7 set; a read is the read sub-address, then a read transfer that
 * returns the answer. Read Error Code reports the last executed command (§2.1.6).
 *
 * Simplifications: one sequence position is shown (LUT entry 0); after a Display Mode Selection the
 * model can be made busy (NACKs) and lag in reading back the new mode, to exercise the driver's
 * retries and settle handling.
 */
import { type Mask, maskFromBits } from '../patterns.ts';
import { IMAGE_ERROR, ImageRejected, plane, readPatternImage, type TwinImage } from './dmd-dlpc900-image.ts';
import { testPatternMask } from './dmd-test-patterns.ts';
import { DeviceNack, type I2cDeviceModel } from './i2c-bus.ts';

/** DLPU018J command table (I2C sub-addresses). */
const CMD = {
  /** §2.1.1 Hardware Status, read 0x20 */
  hardwareStatus: 0x20,
  /** §2.1.2 System Status, read 0x21 */
  systemStatus: 0x21,
  /** §2.1.3 Main Status, read 0x22 */
  mainStatus: 0x22,
  /** §2.1.6 Read Error Code, read 0x32 (USB 0x0100) */
  errorCode: 0x32,
  /** Input Source Select 0x00 / 0x80 (USB 0x1A00; §2 register summary table) */
  inputSourceRead: 0x00,
  inputSourceWrite: 0x80,
  /** Internal Test Pattern Select 0x0A / 0x8A (USB 0x1203) */
  tpgRead: 0x0a,
  tpgWrite: 0x8a,
  /** LED Enable 0x10 / 0x90 (USB 0x1A07): bits 2:0 R G B, bit 3 = sequencer controls the LEDs */
  ledEnableRead: 0x10,
  ledEnableWrite: 0x90,
  /** LED Driver Current Control 0x4B / 0xCB (USB 0x0B01): R, G, B PWM bytes */
  ledCurrentRead: 0x4b,
  ledCurrentWrite: 0xcb,
  /** Display Mode Selection 0x69 / 0xE9 (USB 0x1A1B) */
  displayModeRead: 0x69,
  displayModeWrite: 0xe9,
  /** Pattern Display Start/Stop, write-only 0xE5 (USB 0x1A24) */
  startStop: 0xe5,
  /** Pattern Display LUT Definition, write-only 0xF8 (USB 0x1A34), 12 bytes */
  lutDefinition: 0xf8,
  /** Pattern Display LUT Configuration 0x75 / 0xF5 (USB 0x1A31), 6 bytes */
  lutConfigRead: 0x75,
  lutConfigWrite: 0xf5,
  /** Initialize Pattern BMP Load: primary 0x2A / 0xAA (USB 0x1A2A), secondary 0x2C / 0xAC (USB 0x1A2C) */
  initLoadPrimary: 0xaa,
  initLoadSecondary: 0xac,
  /** Pattern BMP Load: primary write 0xAB (USB 0x1A2B), secondary write 0xAD (USB 0x1A2D) */
  loadPrimary: 0xab,
  loadSecondary: 0xad,
} as const;

/** Parameter byte counts of the fixed-length write commands (the command tables' BYTE columns). */
const LENGTH: Record<number, number> = {
  [CMD.inputSourceWrite]: 1,
  [CMD.tpgWrite]: 1,
  [CMD.ledEnableWrite]: 1,
  [CMD.ledCurrentWrite]: 3,
  [CMD.displayModeWrite]: 1,
  [CMD.startStop]: 1,
  [CMD.lutDefinition]: 12,
  [CMD.lutConfigWrite]: 6,
  [CMD.initLoadPrimary]: 6,
  [CMD.initLoadSecondary]: 6,
};

/** Display Mode Selection byte 0 bits 1:0 (USB 0x1A1B): 0 video, 1 pre-stored, 2 video pattern, 3 on-the-fly. */
const MODE = { video: 0, preStored: 1, videoPattern: 2, onTheFly: 3 } as const;
/** Pattern Display Start/Stop byte 0 bits 1:0: 0 stop, 1 pause, 2 start, 3 reserved. */
const ACTION = { stop: 0, pause: 1, start: 2 } as const;
/** LED Enable bit 3: LEDs under sequencer control (reset value 0x8). */
const LED_SEQUENCER = 0x08;
/** Input Source Select: 1 = internal test pattern. ASSUMPTION (settled by DLPU018 §2.3.2 Input Source Selection). */
const SOURCE_TEST_PATTERN = 1;
/** Internal Test Pattern Select byte 0 bits 3:0 (USB 0x1203 table); 10 = no pattern (reset). */
const TPG_NAMES: Record<number, string> = {
  0: 'solid',
  1: 'horizontal-ramp',
  2: 'vertical-ramp',
  3: 'horizontal-lines',
  4: 'diagonal-lines',
  5: 'vertical-lines',
  6: 'grid',
  7: 'checkerboard',
  8: 'rgb-ramp',
  9: 'color-bars',
};
const TPG_NONE = 10;
/** Initialize Pattern BMP Load: image index 0–17 (bits 4:0 of bytes 1:0). */
const MAX_IMAGE_INDEX = 17;
/** Pattern BMP Load: bytes 1:0 bits 9:0 = number of bytes in this packet. */
const PACKET_COUNT_MASK = 0x3ff;
/** Pattern Display LUT Configuration: 1–400 entries (bytes 1:0 bits 10:0). */
const MAX_LUT_ENTRIES = 400;
/** Hardware Status bit 0 internal initialisation successful; bit 4 secondary controller present (§2.1.1). */
const HW_INIT_OK = 0x01;
const HW_SECONDARY_PRESENT = 0x10;

/** Read Error Code values (§2.1.6). */
const ERR = {
  none: 0,
  invalidCommand: 3,
  notAllowed: 5,
  invalidParameter: 6,
  notPresent: 7,
  bitOutOfRange: 10,
  exposureOutOfRange: 14,
  badPattern: IMAGE_ERROR.badPattern,
} as const;

interface LutEntry {
  exposureUs: number;
  bitDepth: number;
  color: number;
  darkUs: number;
  waitTrigger: boolean;
  imageIndex: number;
  bitPosition: number;
}

type Half = 'primary' | 'secondary';

export interface SimDlpc900Options {
  width?: number;
  height?: number;
  /** 2 for dual-controller DMDs (DLP9000, DLP670S): the secondary shows the right half */
  controllers?: 1 | 2;
  /** after a Display Mode Selection, NACK this many following transfers (controller busy) */
  busyAfterModeSwitch?: number;
  /** after a Display Mode Selection, read back the old mode this many times */
  modeReadbackLag?: number;
  /** after a Display Mode Selection, NACK every transfer for this many ms (wall clock) */
  busyMsAfterModeSwitch?: number;
}

export class SimDlpc900 implements I2cDeviceModel {
  readonly width: number;
  readonly height: number;
  readonly controllers: 1 | 2;
  // reset values from the guide's RESET columns
  displayMode: number = MODE.preStored;
  running = false;
  ledEnable = LED_SEQUENCER;
  ledCurrent: [number, number, number] = [0x97, 0x78, 0x7d];
  inputSource = 0;
  tpg = TPG_NONE;
  errorCode = 0;
  hardwareStatus: number;
  systemStatus = 0x01;
  readonly lut = new Map<number, LutEntry>();
  lutEntries = 0;
  /** decoded images per controller and image index */
  readonly images: Record<Half, Map<number, TwinImage>> = { primary: new Map(), secondary: new Map() };
  private load: Record<Half, { index: number; buf: Uint8Array; received: number } | null> = { primary: null, secondary: null };
  private pending: Uint8Array | null = null;
  private forced: number | null = null;
  private forcedOn: { op: number; code: number; first?: number } | null = null;
  private busy = 0;
  /** performance.now() until which every transfer is NACKed */
  private busyUntil = 0;
  private lag = 0;
  private previousMode: number = MODE.preStored;
  private readonly busyAfterModeSwitch: number;
  private readonly modeReadbackLag: number;
  private readonly busyMsAfterModeSwitch: number;
  private version = 0;
  private cache: { version: number; mask: Mask | null } | null = null;
  /** every write command received, for tests that check what the controller understood */
  readonly commands: { op: number; params: Uint8Array }[] = [];
  /** transfers refused while busy */
  nacks = 0;

  constructor(opts: SimDlpc900Options = {}) {
    this.width = opts.width ?? 1920;
    this.height = opts.height ?? 1080;
    this.controllers = opts.controllers ?? 1;
    if (this.controllers === 2 && this.width % 2 !== 0) throw new Error('a dual-controller DMD has an even width');
    this.hardwareStatus = HW_INIT_OK | (this.controllers === 2 ? HW_SECONDARY_PRESENT : 0);
    this.busyAfterModeSwitch = opts.busyAfterModeSwitch ?? 0;
    this.modeReadbackLag = opts.modeReadbackLag ?? 0;
    this.busyMsAfterModeSwitch = opts.busyMsAfterModeSwitch ?? 0;
  }

  /** The next write command fails with this Read Error Code value (fault injection). */
  failNextCommand(code: number): void {
    this.forced = code;
  }

  /**
   * The next write of sub-address `op` (with first parameter byte `first`, when given) fails with
   * this Read Error Code value (fault injection).
   */
  failOn(op: number, code: number, first?: number): void {
    this.forcedOn = { op, code, first };
  }

  private refuseWhileBusy(): void {
    if (this.busy > 0 || performance.now() < this.busyUntil) {
      if (this.busy > 0) this.busy--;
      this.nacks++;
      throw new DeviceNack('DLPC900 busy after a display mode switch');
    }
  }

  onWrite(bytes: Uint8Array): void {
    this.refuseWhileBusy();
    if (bytes.length === 0) return;
    const op = bytes[0];
    const params = bytes.subarray(1);
    this.version++;
    // §1.1.1.4: bit 7 clear = read sub-address
    if ((op & 0x80) === 0) {
      this.pending = this.answer(op);
      return;
    }
    this.commands.push({ op, params: params.slice() });
    if (this.forced !== null) {
      this.errorCode = this.forced;
      this.forced = null;
      return;
    }
    if (this.forcedOn?.op === op && (this.forcedOn.first === undefined || this.forcedOn.first === params[0])) {
      this.errorCode = this.forcedOn.code;
      this.forcedOn = null;
      return;
    }
    this.errorCode = this.execute(op, params);
  }

  onRead(length: number): Uint8Array {
    this.refuseWhileBusy();
    // an unsolicited read returns whatever is in the shared buffer: zeros here
    const out = this.pending ?? new Uint8Array(length);
    this.pending = null;
    return out;
  }

  private answer(op: number): Uint8Array {
    switch (op) {
      case CMD.hardwareStatus:
        return Uint8Array.of(this.hardwareStatus);
      case CMD.systemStatus:
        return Uint8Array.of(this.systemStatus);
      case CMD.mainStatus:
        // ASSUMPTION: bit 1 = sequencer running (settled by DLPU018 §2.1.3 Main Status)
        return Uint8Array.of(this.running ? 0x02 : 0x00);
      case CMD.errorCode:
        return Uint8Array.of(this.errorCode);
      case CMD.displayModeRead:
        if (this.lag > 0) {
          this.lag--;
          return Uint8Array.of(this.previousMode);
        }
        return Uint8Array.of(this.displayMode);
      case CMD.ledEnableRead:
        return Uint8Array.of(this.ledEnable);
      case CMD.ledCurrentRead:
        return Uint8Array.from(this.ledCurrent);
      case CMD.inputSourceRead:
        return Uint8Array.of(this.inputSource);
      case CMD.tpgRead:
        return Uint8Array.of(this.tpg);
      case CMD.lutConfigRead:
        return Uint8Array.of(this.lutEntries & 0xff, this.lutEntries >> 8, 0, 0, 0, 0);
      default:
        this.errorCode = ERR.invalidCommand;
        return new Uint8Array(0);
    }
  }

  private execute(op: number, p: Uint8Array): number {
    if (op === CMD.loadPrimary) return this.bmpLoad('primary', p);
    if (op === CMD.loadSecondary) return this.controllers === 2 ? this.bmpLoad('secondary', p) : ERR.invalidCommand;
    const want = LENGTH[op];
    if (want === undefined) return ERR.invalidCommand;
    if (p.length !== want) return ERR.invalidParameter;
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    switch (op) {
      case CMD.inputSourceWrite:
        this.inputSource = p[0] & 0x07;
        return ERR.none;
      case CMD.tpgWrite: {
        const code = p[0] & 0x0f;
        if (code > TPG_NONE) return ERR.invalidParameter;
        this.tpg = code;
        return ERR.none;
      }
      case CMD.ledEnableWrite:
        this.ledEnable = p[0] & 0x0f;
        return ERR.none;
      case CMD.ledCurrentWrite:
        this.ledCurrent = [p[0], p[1], p[2]];
        return ERR.none;
      case CMD.displayModeWrite:
        // Start/Stop: "Before changing Modes, issue a Pattern Display Stop command"
        if (this.running) return ERR.notAllowed;
        this.previousMode = this.displayMode;
        this.displayMode = p[0] & 0x03;
        this.busy = this.busyAfterModeSwitch;
        this.busyUntil = performance.now() + this.busyMsAfterModeSwitch;
        this.lag = this.modeReadbackLag;
        return ERR.none;
      case CMD.startStop:
        return this.startStop(p[0] & 0x03);
      case CMD.lutDefinition:
        return this.defineLut(p, v);
      case CMD.lutConfigWrite: {
        // bytes 1:0 bits 10:0 number of LUT entries; bytes 5:2 repeat count (0 = forever)
        const n = v.getUint16(0, true) & 0x7ff;
        if (n < 1 || n > MAX_LUT_ENTRIES) return ERR.invalidParameter;
        this.lutEntries = n;
        return ERR.none;
      }
      case CMD.initLoadPrimary:
        return this.initLoad('primary', v);
      case CMD.initLoadSecondary:
        return this.controllers === 2 ? this.initLoad('secondary', v) : ERR.invalidCommand;
      default:
        return ERR.invalidCommand;
    }
  }

  private startStop(action: number): number {
    if (action === ACTION.start) {
      if (this.displayMode === MODE.video) return ERR.notAllowed;
      const entry = this.lut.get(0);
      if (!entry || this.lutEntries === 0) return ERR.badPattern;
      if (this.displayMode === MODE.onTheFly) {
        if (!this.images.primary.has(entry.imageIndex)) return ERR.notPresent;
        if (this.controllers === 2 && !this.images.secondary.has(entry.imageIndex)) return ERR.notPresent;
      }
      this.running = true;
      return ERR.none;
    }
    if (action === ACTION.stop || action === ACTION.pause) {
      this.running = false;
      return ERR.none;
    }
    return ERR.invalidParameter;
  }

  /**
   * Pattern Display LUT Definition (USB 0x1A34), 12 bytes: 1:0 pattern index; 4:2 exposure µs;
   * byte 5: bit 0 clear after exposure, bits 3:1 bit depth − 1, bits 6:4 colour (R G B), bit 7 wait
   * for trigger; 8:6 dark time µs; byte 9 trigger-out; 11:10 bits 10:0 image index, bits 15:11 bit position.
   */
  private defineLut(p: Uint8Array, v: DataView): number {
    if (this.displayMode === MODE.video) return ERR.notAllowed;
    const b5 = p[5];
    const img = v.getUint16(10, true);
    const entry: LutEntry = {
      exposureUs: p[2] | (p[3] << 8) | (p[4] << 16),
      bitDepth: ((b5 >> 1) & 0x7) + 1,
      color: (b5 >> 4) & 0x7,
      waitTrigger: (b5 & 0x80) !== 0,
      darkUs: p[6] | (p[7] << 8) | (p[8] << 16),
      imageIndex: img & 0x7ff,
      bitPosition: img >> 11,
    };
    if (entry.bitPosition > 23) return ERR.bitOutOfRange;
    if (entry.exposureUs === 0) return ERR.exposureOutOfRange;
    this.lut.set(v.getUint16(0, true), entry);
    return ERR.none;
  }

  /** Initialize Pattern BMP Load: bytes 1:0 bits 4:0 image index; bytes 5:2 image size including the 48-byte header. */
  private initLoad(half: Half, v: DataView): number {
    if (this.displayMode !== MODE.onTheFly) return ERR.notAllowed;
    const index = v.getUint16(0, true) & 0x1f;
    const size = v.getUint32(2, true);
    if (index > MAX_IMAGE_INDEX || size < 48) return ERR.invalidParameter;
    this.load[half] = { index, buf: new Uint8Array(size), received: 0 };
    return ERR.none;
  }

  private bmpLoad(half: Half, p: Uint8Array): number {
    const load = this.load[half];
    if (!load) return ERR.notAllowed;
    if (p.length < 2) return ERR.invalidParameter;
    const n = (p[0] | (p[1] << 8)) & PACKET_COUNT_MASK;
    if (n !== p.length - 2) return ERR.invalidParameter;
    if (load.received + n > load.buf.length) {
      this.load[half] = null;
      return ERR.badPattern;
    }
    load.buf.set(p.subarray(2), load.received);
    load.received += n;
    if (load.received < load.buf.length) return ERR.none;
    this.load[half] = null;
    try {
      const img = readPatternImage(load.buf);
      // dual controller: each half's header carries half the array width (Pattern BMP Load)
      const expectedWidth = this.controllers === 2 ? this.width / 2 : this.width;
      if (img.width !== expectedWidth || img.height !== this.height) return ERR.badPattern;
      this.images[half].set(load.index, img);
      return ERR.none;
    } catch (err) {
      return err instanceof ImageRejected ? err.errorCode : ERR.badPattern;
    }
  }

  private lit(colorBits: number): boolean {
    return [0, 1, 2].some((c) => (colorBits >> c) & 1 && this.ledCurrent[c] > 0);
  }

  private computeShown(): Mask | null {
    const sequencer = (this.ledEnable & LED_SEQUENCER) !== 0;
    if (this.displayMode === MODE.video) {
      const lit = sequencer ? this.lit(0b111) : this.lit(this.ledEnable & 0x07);
      if (!lit || this.inputSource !== SOURCE_TEST_PATTERN || this.tpg === TPG_NONE) return null;
      return testPatternMask(TPG_NAMES[this.tpg] ?? 'solid', this.width, this.height);
    }
    if (!this.running) return null;
    const entry = this.lut.get(0);
    if (!entry) return null;
    const lit = sequencer ? this.lit(entry.color) : this.lit(this.ledEnable & 0x07);
    if (!lit) return null;
    const left = this.images.primary.get(entry.imageIndex);
    if (!left) return null;
    if (this.controllers === 1) return maskFromBits(this.width, this.height, plane(left, entry.bitPosition));
    const right = this.images.secondary.get(entry.imageIndex);
    if (!right) return null;
    // Pattern BMP Load: the primary holds the left half of the array, the secondary the right half
    const half = this.width / 2;
    const l = plane(left, entry.bitPosition);
    const r = plane(right, entry.bitPosition);
    const bits = new Uint8Array(this.width * this.height);
    for (let y = 0; y < this.height; y++) {
      bits.set(l.subarray(y * half, (y + 1) * half), y * this.width);
      bits.set(r.subarray(y * half, (y + 1) * half), y * this.width + half);
    }
    return maskFromBits(this.width, this.height, bits);
  }

  /** The exact mask on the mirrors and lit now; null when stopped, dark or in an unmodelled mode. */
  shownMask(): Mask | null {
    if (this.cache && this.cache.version === this.version) return this.cache.mask;
    const mask = this.computeShown();
    this.cache = { version: this.version, mask };
    return mask;
  }
}
