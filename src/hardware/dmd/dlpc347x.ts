import { UserError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { DeviceFault, faults as defaultFaults, type FaultRegistry } from '../faults.ts';
import type { I2cBus } from '../i2c/bus.ts';
import { emptyMask, type Mask } from '../patterns.ts';
import { guardOperation } from './fault-guard.ts';
import { type Dmd, type DmdStatus, TEST_PATTERNS } from './types.ts';
import type { VideoPort } from './video-port.ts';

/**
 * DLPC3470 / DLPC3478 (DLP2010, DLP3010 class) over I2C; masks reach the mirrors through the video
 * port (src/hardware/dmd/video-port.ts), I2C only configures the controller.
 *
 * Framing — TI DLPU075 "DLPC3470 and DLPC3478 Software Programmer's Guide" §1.2.2 I2C Transactions
 * (same table as the DLPC343x guides, e.g. DLPU072 Table 1-1): write = [opcode, parameters...];
 * read = write [opcode, read parameters...] then a read transfer of the response; separate write
 * and read opcodes; multi-byte parameters least-significant byte first. 7-bit address 0x1B
 * (0x36/0x37 as 8-bit addresses; 0x1D/0x3A alternate).
 *
 * Opcode table (DLPU075B chapter 3 command list):
 */
export const DLPC347X = {
  /** §3.1.1 Write Operating Mode Select (05h) / §3.1.2 Read (06h), 1 byte */
  WRITE_OPERATING_MODE: 0x05,
  READ_OPERATING_MODE: 0x06,
  /** §3.1.7 Write Test Pattern Select (0Bh), 1–6 bytes by pattern / §3.1.8 Read (0Ch), 6 bytes */
  WRITE_TEST_PATTERN: 0x0b,
  READ_TEST_PATTERN: 0x0c,
  /** Write RGB LED Enable (52h) / Read (53h): b0 red, b1 green, b2 blue */
  WRITE_LED_ENABLE: 0x52,
  READ_LED_ENABLE: 0x53,
  /** Write RGB LED Current (54h) / Read (55h): R, G, B as 16-bit LE words, 10 bits used */
  WRITE_LED_CURRENT: 0x54,
  READ_LED_CURRENT: 0x55,
  /** Read Short Status (D0h), 1 byte */
  READ_SHORT_STATUS: 0xd0,
  /** Read Communication Status (D3h), 1 read parameter (command bus selection) */
  READ_COMM_STATUS: 0xd3,
} as const;

/**
 * Operating modes (Write Operating Mode Select byte 1, DLPU075B §3.1.1.1; the same values as TI's
 * DLPC347x API enum DLPC347X_OperatingMode_e): 00h external video, 01h test pattern generator, 02h
 * splash, 03h external pattern streaming, 04h internal pattern streaming, 05h splash (space-coded)
 * pattern, FFh standby.
 */
export const OPERATING_MODE = {
  externalVideo: 0x00,
  testPatternGenerator: 0x01,
  splash: 0x02,
  externalPatternStreaming: 0x03,
  internalPatternStreaming: 0x04,
  splashPattern: 0x05,
  standby: 0xff,
} as const;

/**
 * Write Test Pattern Select (0Bh) parameters, DLPU075B §3.1.7.1 (same layout as DLPU020E §3.1.7,
 * Tables 3-14..3-17) and TI's DLPC347x API (dlpc347x.c, DLPC347X_WriteSolidField ...
 * DLPC347X_WriteColorbars, generated from TI's command definition file):
 *   byte 1: bits 3:0 pattern (0 solid field, 1 horizontal ramp, 2 vertical ramp, 3 horizontal lines,
 *           4 diagonal lines, 5 vertical lines, 6 grid, 7 checkerboard, 8 colour bars), bit 7 border
 *   byte 2: foreground colour in bits 6:4, background colour in bits 2:0 (0 black ... 7 white);
 *           ramps and the solid field use the foreground only; colour bars have no byte 2
 *   then per pattern: ramps start, end (1 byte each); horizontal / vertical lines foreground width,
 *   background width; diagonal lines horizontal spacing, vertical spacing (3, 7, 15 ... 255); grid
 *   horizontal foreground / background width, vertical foreground / background width; checkerboard
 *   horizontal and vertical checker counts as 16-bit little-endian words (11 bits used).
 * So a write carries 2 (solid), 4 (ramps, lines, diagonal), 6 (grid, checkerboard) or 1 (colour
 * bars) parameter bytes; the read (0Ch) always returns six, unused ones 0 (§3.1.8.2).
 */
export const TPG_CODE = {
  solid: 0,
  'horizontal-ramp': 1,
  'vertical-ramp': 2,
  'horizontal-lines': 3,
  'diagonal-lines': 4,
  'vertical-lines': 5,
  grid: 6,
  checkerboard: 7,
  'color-bars': 8,
} as const;

/** Colour code for white (DLPU075B §3.1.7.1 colour table: 0 black ... 7 white). */
export const TPG_WHITE = 7;
export const TPG_BLACK = 0;

/** Byte 2 of the command: foreground in bits 6:4, background in bits 2:0. */
export function tpgColors(foreground: number, background: number): number {
  return ((foreground & 0x7) << 4) | (background & 0x7);
}

/** The test pattern geometry we ask for: one-mirror lines every 16 mirrors, 8 x 8 checkers. */
const LINE_WIDTH = 1;
const LINE_GAP = 15;
const DIAGONAL_SPACING = 15;
const CHECKERS = 8;

/** Parameter bytes of Write Test Pattern Select for one of our named patterns (white on black). */
export function testPatternParams(name: string): number[] | null {
  const colors = tpgColors(TPG_WHITE, TPG_BLACK);
  switch (name) {
    case 'solid':
      return [TPG_CODE.solid, colors];
    case 'horizontal-ramp':
      return [TPG_CODE['horizontal-ramp'], colors, 0x00, 0xff];
    case 'vertical-ramp':
      return [TPG_CODE['vertical-ramp'], colors, 0x00, 0xff];
    case 'horizontal-lines':
      return [TPG_CODE['horizontal-lines'], colors, LINE_WIDTH, LINE_GAP];
    case 'vertical-lines':
      return [TPG_CODE['vertical-lines'], colors, LINE_WIDTH, LINE_GAP];
    case 'diagonal-lines':
      return [TPG_CODE['diagonal-lines'], colors, DIAGONAL_SPACING, DIAGONAL_SPACING];
    case 'grid':
      return [TPG_CODE.grid, colors, LINE_WIDTH, LINE_GAP, LINE_WIDTH, LINE_GAP];
    case 'checkerboard':
      return [TPG_CODE.checkerboard, colors, CHECKERS & 0xff, CHECKERS >> 8, CHECKERS & 0xff, CHECKERS >> 8];
    case 'color-bars':
      return [TPG_CODE['color-bars']];
    default:
      return null;
  }
}

/**
 * Read Communication Status (D3h) read parameter selecting the I2C command bus: 02h (DLPU075B
 * Read Communication Status; TI's DLPC347x API sends 0x2 as CommandBusStatusSelection).
 */
export const COMM_STATUS_I2C = 0x02;

/** Short Status bits (DLPU075B Read Short Status; same bits in TI's DLPC347X_ReadShortStatus). */
export const SHORT_STATUS = {
  initialised: 0x01,
  communicationError: 0x02,
  systemError: 0x08,
  flashError: 0x20,
  mainApplication: 0x80,
} as const;

export interface Dlpc347xOptions {
  address?: number;
  width?: number;
  height?: number;
  /** 0..255, scaled to the 10-bit LED current parameter */
  ledCurrent?: number;
  videoPort?: VideoPort;
  device?: string;
  faults?: FaultRegistry;
  log?: Logger;
}

export function ledCurrent10(current: number): number {
  return Math.round((current * 1023) / 255);
}

export class Dlpc347x implements Dmd {
  readonly model = 'DLPC347x';
  readonly width: number;
  readonly height: number;
  readonly address: number;
  private readonly device: string;
  private readonly registry: FaultRegistry;
  private readonly log?: Logger;
  private readonly videoPort?: VideoPort;
  private ledCurrent: number;
  private ledsOn = false;
  private running = false;
  private mode: number | null = null;
  private shown: Mask | null = null;

  constructor(
    private readonly bus: I2cBus,
    opts: Dlpc347xOptions = {},
  ) {
    this.address = opts.address ?? 0x1b;
    this.videoPort = opts.videoPort;
    this.width = opts.width ?? opts.videoPort?.fb.info.width ?? 854;
    this.height = opts.height ?? opts.videoPort?.fb.info.height ?? 480;
    this.ledCurrent = opts.ledCurrent ?? 100;
    this.device = opts.device ?? 'dmd';
    this.registry = opts.faults ?? defaultFaults;
    this.log = opts.log;
  }

  private guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return guardOperation({ device: this.device, registry: this.registry, log: this.log }, operation, fn);
  }

  private send(op: number, params: number[] = []): Promise<void> {
    return this.bus.write(this.address, Uint8Array.from([op, ...params]));
  }

  private query(op: number, length: number, params: number[] = []): Promise<Uint8Array> {
    return this.bus.writeRead(this.address, Uint8Array.from([op, ...params]), length);
  }

  /** The controller flags refused commands in Short Status; turn that into a fault with the detail. */
  private async checkCommunication(operation: string): Promise<void> {
    const [short] = await this.query(DLPC347X.READ_SHORT_STATUS, 1);
    if (short & SHORT_STATUS.communicationError) {
      const [comm, aborted] = await this.query(DLPC347X.READ_COMM_STATUS, 2, [COMM_STATUS_I2C]);
      throw new DeviceFault(
        this.device,
        operation,
        `controller refused a command (communication status 0x${comm.toString(16)}, opcode 0x${aborted.toString(16)})`,
      );
    }
  }

  private async setMode(mode: number): Promise<void> {
    await this.send(DLPC347X.WRITE_OPERATING_MODE, [mode]);
    this.mode = mode;
  }

  status(): Promise<DmdStatus> {
    return this.guard('status', async () => {
      const [short] = await this.query(DLPC347X.READ_SHORT_STATUS, 1);
      const [mode] = await this.query(DLPC347X.READ_OPERATING_MODE, 1);
      const [led] = await this.query(DLPC347X.READ_LED_ENABLE, 1);
      const errors: string[] = [];
      if (!(short & SHORT_STATUS.initialised)) errors.push('system not initialised');
      if (short & SHORT_STATUS.communicationError) errors.push('communication error');
      if (short & SHORT_STATUS.systemError) errors.push('system error');
      if (short & SHORT_STATUS.flashError) errors.push('flash error');
      const names: Record<number, string> = {
        [OPERATING_MODE.externalVideo]: 'external-video',
        [OPERATING_MODE.testPatternGenerator]: 'test-pattern',
        [OPERATING_MODE.splash]: 'splash',
        [OPERATING_MODE.externalPatternStreaming]: 'external-pattern-streaming',
        [OPERATING_MODE.internalPatternStreaming]: 'internal-pattern-streaming',
        [OPERATING_MODE.splashPattern]: 'splash-pattern',
        [OPERATING_MODE.standby]: 'standby',
      };
      return {
        model: this.model,
        ok: errors.length === 0,
        mode: names[mode] ?? `unknown-0x${mode.toString(16)}`,
        running: this.running,
        ledsEnabled: (led & 0x07) !== 0,
        errors,
        raw: { shortStatus: short, operatingMode: mode, ledEnable: led },
      };
    });
  }

  setLeds(enabled: boolean, current?: number): Promise<void> {
    return this.guard('set LEDs', async () => {
      if (current !== undefined) {
        if (!Number.isInteger(current) || current < 0 || current > 255) throw new UserError(`LED current ${current} is outside 0..255`);
        this.ledCurrent = current;
      }
      const c = ledCurrent10(this.ledCurrent);
      await this.send(DLPC347X.WRITE_LED_CURRENT, [c & 0xff, c >> 8, c & 0xff, c >> 8, c & 0xff, c >> 8]);
      await this.send(DLPC347X.WRITE_LED_ENABLE, [enabled ? 0x07 : 0x00]);
      this.ledsOn = enabled;
      this.running = enabled;
    });
  }

  showMask(mask: Mask): Promise<void> {
    return this.guard('show mask', async () => {
      if (!this.videoPort) {
        throw new UserError('the DLPC347x shows masks through its video port: set hardware.dmd.framebuffer (e.g. /dev/fb1)');
      }
      if (mask.width > this.width || mask.height > this.height) {
        throw new UserError(`mask ${mask.width}x${mask.height} is larger than the ${this.width}x${this.height} DMD`);
      }
      if (this.mode !== OPERATING_MODE.externalVideo) {
        await this.setMode(OPERATING_MODE.externalVideo);
        await this.checkCommunication('show mask');
      }
      await this.videoPort.show(mask);
      this.shown = mask;
    });
  }

  testPattern(name: string): Promise<void> {
    return this.guard('test pattern', async () => {
      const params = testPatternParams(name);
      if (!params) throw new UserError(`unknown DLPC347x test pattern "${name}" (known: ${TEST_PATTERNS.join(', ')})`);
      await this.send(DLPC347X.WRITE_TEST_PATTERN, params);
      await this.setMode(OPERATING_MODE.testPatternGenerator);
      await this.checkCommunication('test pattern');
      this.shown = null;
    });
  }

  /** Light the shown frame: LEDs back on (the video port keeps refreshing the mirrors). */
  start(): Promise<void> {
    return this.guard('start', async () => {
      await this.send(DLPC347X.WRITE_LED_ENABLE, [0x07]);
      this.ledsOn = true;
      this.running = true;
    });
  }

  /** Dark without losing the frame: LEDs off, operating mode unchanged. */
  stop(): Promise<void> {
    return this.guard('stop', async () => {
      await this.send(DLPC347X.WRITE_LED_ENABLE, [0x00]);
      this.ledsOn = false;
      this.running = false;
    });
  }

  blank(): Promise<void> {
    return this.guard('blank', async () => {
      if (this.videoPort) await this.videoPort.blank();
      this.shown = emptyMask(this.width, this.height);
    });
  }

  current(): Mask | null {
    if (!this.ledsOn || !this.running || this.mode !== OPERATING_MODE.externalVideo) return null;
    return this.shown;
  }

  async close(): Promise<void> {
    await this.bus.close();
  }
}
