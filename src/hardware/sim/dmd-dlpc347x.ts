/**
 * A DLPC3470 / DLPC3478 as an I2C device model plus its video input. Written from TI's documents,
 * not from our driver (src/hardware/dmd/dlpc347x.ts): every opcode, length and bit below is cited,
 * so a driver that misreads the guide disagrees with this model and a test turns red.
 *
 * Sources: TI DLPU075B "DLPC3470 and DLPC3478 Software Programmer's Guide" chapter 3 (I2C
 * commands), and TI's DLPC347x API (dlpc347x.c / dlpc347x.h, "auto generated from a command
 * definition file"), which packs the same bytes. In external-video mode the model shows whatever
 * frame the host wrote to the (memory) framebuffer feeding its video port.
 */
import type { MemoryFramebuffer } from '../dmd/video-port.ts';
import { type Mask, maskFromBits } from '../patterns.ts';
import type { I2cDeviceModel } from './i2c-bus.ts';

/** DLPU075B chapter 3 opcodes (write / read pairs). */
const OP = {
  /** §3.1.1 Write Operating Mode Select */
  writeOperatingMode: 0x05,
  /** §3.1.2 Read Operating Mode Select */
  readOperatingMode: 0x06,
  /** §3.1.7 Write Test Pattern Select */
  writeTestPattern: 0x0b,
  /** §3.1.8 Read Test Pattern Select */
  readTestPattern: 0x0c,
  /** Write RGB LED Enable (DLPU075B §3.3; TI API DLPC347X_WriteRgbLedEnable 0x52) */
  writeLedEnable: 0x52,
  readLedEnable: 0x53,
  /** Write RGB LED Current (TI API DLPC347X_WriteRgbLedCurrent 0x54: three 16-bit LE words) */
  writeLedCurrent: 0x54,
  readLedCurrent: 0x55,
  /** Read Short Status (TI API DLPC347X_ReadShortStatus 0xD0) */
  readShortStatus: 0xd0,
  /** Read Communication Status (TI API DLPC347X_ReadCommunicationStatus 0xD3, one read parameter) */
  readCommStatus: 0xd3,
} as const;

/** §3.1.1.1 operating modes: 00h video, 01h TPG, 02h splash, 03h–05h light control, FFh standby. */
const MODE = { externalVideo: 0x00, testPattern: 0x01, splash: 0x02, standby: 0xff } as const;
const VALID_MODES = new Set([0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0xff]);

/**
 * Write Test Pattern Select parameter count per pattern code (byte 1 bits 3:0), DLPU075B §3.1.7.1:
 * solid field = pattern + colour; ramps = + start, end; horizontal / vertical / diagonal lines = + two
 * widths or spacings; grid = + four widths; checkerboard = + two 16-bit counts; colour bars = pattern only.
 */
const TPG_LENGTH: Record<number, number> = { 0: 2, 1: 4, 2: 4, 3: 4, 4: 4, 5: 4, 6: 6, 7: 6, 8: 1 };
/** §3.1.7.1: diagonal line spacing is 3, 7, 15, 31, 63, 127 or 255 (TI API DLPC347X_DiagonalLineSpacing_e). */
const DIAGONAL_SPACINGS = new Set([3, 7, 15, 31, 63, 127, 255]);

/** Short Status bits (TI API DLPC347X_ReadShortStatus): b0 initialised, b1 comm error, b3 system error, b7 main app. */
const SHORT = { initialised: 0x01, communicationError: 0x02, systemError: 0x08, mainApplication: 0x80 } as const;

/** Communication Status bits (DLPU081B/DLPU075B Read Communication Status byte 5; TI API bit order). */
const COMM = {
  invalidCommand: 0x01,
  invalidParameter: 0x02,
  readError: 0x10,
  invalidCount: 0x20,
} as const;
/** D3h read parameter selecting the I2C command bus (TI API: CommandBusStatusSelection = 0x2). */
const COMM_BUS_I2C = 0x02;

export interface SimDlpc347xOptions {
  width?: number;
  height?: number;
  framebuffer?: MemoryFramebuffer;
}

/** What the test pattern generator was told, decoded from the 0Bh parameters. */
export interface TpgState {
  pattern: number;
  foreground: number;
  background: number;
  /** bytes 3.. as sent (zero-filled to four) */
  params: [number, number, number, number];
}

export class SimDlpc347x implements I2cDeviceModel {
  readonly width: number;
  readonly height: number;
  readonly framebuffer?: MemoryFramebuffer;
  operatingMode: number = MODE.externalVideo;
  /** the six bytes Read Test Pattern Select returns (§3.1.8.2); reset: solid field, white */
  testPattern = Uint8Array.of(0x00, 0x70, 0, 0, 0, 0);
  ledEnable = 0;
  ledCurrent: [number, number, number] = [0, 0, 0];
  shortStatus: number = SHORT.initialised | SHORT.mainApplication;
  commStatus = 0;
  abortedOpcode = 0;
  private pending: Uint8Array | null = null;
  private version = 0;
  private cache: { key: string; mask: Mask | null } | null = null;
  readonly commands: { op: number; params: Uint8Array }[] = [];

  constructor(opts: SimDlpc347xOptions = {}) {
    this.framebuffer = opts.framebuffer;
    this.width = opts.width ?? opts.framebuffer?.info.width ?? 854;
    this.height = opts.height ?? opts.framebuffer?.info.height ?? 480;
  }

  private refuse(bit: number, op: number): void {
    this.commStatus |= bit;
    this.abortedOpcode = op;
    this.shortStatus |= SHORT.communicationError;
  }

  onWrite(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const op = bytes[0];
    const p = bytes.subarray(1);
    this.version++;
    switch (op) {
      case OP.readShortStatus:
        this.pending = Uint8Array.of(this.shortStatus);
        // reading clears the communication and system error bits (DLPU075B Read Short Status)
        this.shortStatus &= ~(SHORT.communicationError | SHORT.systemError);
        return;
      case OP.readCommStatus:
        if (p.length !== 1 || p[0] !== COMM_BUS_I2C) {
          this.refuse(p.length !== 1 ? COMM.invalidCount : COMM.invalidParameter, op);
          this.pending = null;
          return;
        }
        this.pending = Uint8Array.of(this.commStatus, this.abortedOpcode);
        this.commStatus = 0;
        this.abortedOpcode = 0;
        return;
      case OP.readOperatingMode:
        this.pending = Uint8Array.of(this.operatingMode);
        return;
      case OP.readTestPattern:
        this.pending = this.testPattern.slice();
        return;
      case OP.readLedEnable:
        this.pending = Uint8Array.of(this.ledEnable);
        return;
      case OP.readLedCurrent:
        this.pending = Uint8Array.from(this.ledCurrent.flatMap((c) => [c & 0xff, c >> 8]));
        return;
    }
    this.commands.push({ op, params: p.slice() });
    switch (op) {
      case OP.writeOperatingMode:
        if (p.length !== 1) {
          this.refuse(COMM.invalidCount, op);
          return;
        }
        if (!VALID_MODES.has(p[0])) {
          this.refuse(COMM.invalidParameter, op);
          return;
        }
        this.operatingMode = p[0];
        return;
      case OP.writeTestPattern:
        this.writeTestPattern(op, p);
        return;
      case OP.writeLedEnable:
        if (p.length !== 1) {
          this.refuse(COMM.invalidCount, op);
          return;
        }
        // b0 red, b1 green, b2 blue (TI API DLPC347X_WriteRgbLedEnable)
        this.ledEnable = p[0] & 0x07;
        return;
      case OP.writeLedCurrent: {
        if (p.length !== 6) {
          this.refuse(COMM.invalidCount, op);
          return;
        }
        const cur = [p[0] | (p[1] << 8), p[2] | (p[3] << 8), p[4] | (p[5] << 8)];
        // 10-bit PWM values (DLPU075B Write RGB LED Current)
        if (cur.some((c) => c > 0x3ff)) {
          this.refuse(COMM.invalidParameter, op);
          return;
        }
        this.ledCurrent = [cur[0], cur[1], cur[2]];
        return;
      }
      default:
        this.refuse(COMM.invalidCommand, op);
    }
  }

  private writeTestPattern(op: number, p: Uint8Array): void {
    if (p.length === 0) {
      this.refuse(COMM.invalidCount, op);
      return;
    }
    const pattern = p[0] & 0x0f;
    const want = TPG_LENGTH[pattern];
    if (want === undefined) {
      this.refuse(COMM.invalidParameter, op);
      return;
    }
    if (p.length !== want) {
      this.refuse(COMM.invalidCount, op);
      return;
    }
    if (pattern === 4 && (!DIAGONAL_SPACINGS.has(p[2]) || !DIAGONAL_SPACINGS.has(p[3]))) {
      this.refuse(COMM.invalidParameter, op);
      return;
    }
    const stored = new Uint8Array(6);
    stored.set(p);
    this.testPattern = stored;
  }

  onRead(length: number): Uint8Array {
    if (!this.pending) {
      this.commStatus |= COMM.readError;
      this.shortStatus |= SHORT.communicationError;
      return new Uint8Array(length);
    }
    const out = this.pending;
    this.pending = null;
    return out;
  }

  /** The test pattern generator state as this model understood the last accepted 0Bh write. */
  tpg(): TpgState {
    const t = this.testPattern;
    return {
      pattern: t[0] & 0x0f,
      // byte 2: foreground bits 6:4, background bits 2:0 (§3.1.7.1)
      foreground: (t[1] >> 4) & 0x7,
      background: t[1] & 0x7,
      params: [t[2], t[3], t[4], t[5]],
    };
  }

  /** Binary rendering of the generator's output: a mirror is on where the pattern shows a non-black colour. */
  private renderTpg(): Mask {
    const { pattern, foreground, background, params } = this.tpg();
    const [a, b, c, d] = params;
    const fg = foreground !== 0;
    const bg = background !== 0;
    const inLine = (pos: number, on: number, off: number) => on + off > 0 && pos % (on + off) < on;
    const bits = new Uint8Array(this.width * this.height);
    const hCheckers = Math.max(1, a | (b << 8));
    const vCheckers = Math.max(1, c | (d << 8));
    for (let y = 0, i = 0; y < this.height; y++) {
      for (let x = 0; x < this.width; x++, i++) {
        let on: boolean;
        switch (pattern) {
          case 3: // horizontal lines: foreground width a, background width b, counted down the rows
            on = inLine(y, a, b) ? fg : bg;
            break;
          case 4: // diagonal lines every (spacing + 1) mirrors
            on = (x + y) % (a + 1) === 0 ? fg : bg;
            break;
          case 5: // vertical lines, counted across the columns
            on = inLine(x, a, b) ? fg : bg;
            break;
          case 6: // grid: horizontal lines (a, b) over vertical lines (c, d)
            on = inLine(y, a, b) || inLine(x, c, d) ? fg : bg;
            break;
          case 7: {
            // checkerboard: a x c checkers across the array, top-left checker in the foreground
            const cx = Math.floor((x * hCheckers) / this.width);
            const cy = Math.floor((y * vCheckers) / this.height);
            on = (cx + cy) % 2 === 0 ? fg : bg;
            break;
          }
          case 8: // colour bars: every bar but the black one lights some LED
            on = true;
            break;
          default:
            // solid field and the ramps (grey levels have no binary form): the foreground colour
            on = fg;
        }
        bits[i] = on ? 1 : 0;
      }
    }
    return maskFromBits(this.width, this.height, bits);
  }

  /**
   * What the video port receives: the framebuffer's pixels (bits_per_pixel / stride as the Linux
   * fbdev describes them); any non-black pixel turns its mirror on.
   */
  private videoInput(fb: MemoryFramebuffer): Mask {
    const { stride, bitsPerPixel } = fb.info;
    const bytes = bitsPerPixel / 8;
    const bits = new Uint8Array(this.width * this.height);
    const rows = Math.min(this.height, fb.info.height);
    const cols = Math.min(this.width, fb.info.width);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        const at = y * stride + x * bytes;
        let v = 0;
        for (let k = 0; k < bytes; k++) v |= fb.frame[at + k];
        bits[y * this.width + x] = v ? 1 : 0;
      }
    }
    return maskFromBits(this.width, this.height, bits);
  }

  private computeShown(): Mask | null {
    const lit = [0, 1, 2].some((ch) => (this.ledEnable >> ch) & 1 && this.ledCurrent[ch] > 0);
    if (!lit) return null;
    if (this.operatingMode === MODE.externalVideo) {
      if (!this.framebuffer) return null;
      return this.videoInput(this.framebuffer);
    }
    if (this.operatingMode === MODE.testPattern) return this.renderTpg();
    return null;
  }

  shownMask(): Mask | null {
    const key = `${this.version}:${this.framebuffer?.frames ?? 0}`;
    if (this.cache && this.cache.key === key) return this.cache.mask;
    const mask = this.computeShown();
    this.cache = { key, mask };
    return mask;
  }
}
