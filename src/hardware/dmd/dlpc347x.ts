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
  /** §3.1.7 Write Test Pattern Select (0Bh) / §3.1.8 Read (0Ch), 6 bytes */
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
 * Operating modes (Write Operating Mode Select byte 1). DLPU075B names 00h–02h display modes and
 * the light-control modes of the DLPC3478; ASSUMPTION: the values match the DLPC3479 guide
 * (DLPU081B Table 3-2): 03h external pattern streaming, 04h internal pattern streaming, 05h splash
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
 * Test pattern select codes and parameter bytes. ASSUMPTION (the parameter tables, e.g. DLPU075B
 * Tables 3-9/3-10, were not readable to us): byte 1 bits 3:0 select the pattern (0 solid field,
 * 1 fixed-step horizontal ramp, 2 fixed-step vertical ramp, 3 horizontal lines, 4 vertical lines,
 * 5 diagonal lines, 6 grid lines, 7 checkerboard, 8 colour bars), byte 2 = background colour in
 * bits 6:4 and foreground colour in bits 2:0 (7 = white, 0 = black), bytes 3–6 pattern parameters
 * (line widths / checker counts). Reads always return six bytes (guide, Read Test Pattern Select).
 */
export const DLPC347X_TPG: Record<string, { code: number; params: [number, number, number, number] }> = {
  solid: { code: 0, params: [0, 0, 0, 0] },
  'horizontal-ramp': { code: 1, params: [0x00, 0xff, 0, 0] },
  'vertical-ramp': { code: 2, params: [0x00, 0xff, 0, 0] },
  'horizontal-lines': { code: 3, params: [1, 15, 0, 0] },
  'vertical-lines': { code: 4, params: [1, 15, 0, 0] },
  'diagonal-lines': { code: 5, params: [15, 15, 0, 0] },
  grid: { code: 6, params: [1, 15, 1, 15] },
  checkerboard: { code: 7, params: [8, 0, 8, 0] },
  'color-bars': { code: 8, params: [0, 0, 0, 0] },
};

/** foreground white, background black */
export const TPG_COLORS = 0x07;

/** Read Communication Status selection for the I2C bus. ASSUMPTION: 02h (b1:0; the table was not readable). */
export const COMM_STATUS_I2C = 0x02;

/** Short Status bits (DLPU075B Read Short Status; same layout as DLPU072C Table 3-127). */
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
      const tp = DLPC347X_TPG[name];
      if (!tp) throw new UserError(`unknown DLPC347x test pattern "${name}" (known: ${TEST_PATTERNS.join(', ')})`);
      await this.send(DLPC347X.WRITE_TEST_PATTERN, [tp.code, TPG_COLORS, ...tp.params]);
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
