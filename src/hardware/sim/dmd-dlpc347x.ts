/**
 * A DLPC347x as an I2C device model plus its video input: decodes the I2C commands of
 * src/hardware/dmd/dlpc347x.ts (DLPU075 opcodes) and, in external-video mode, shows whatever frame
 * the host wrote to the (memory) framebuffer feeding its video port.
 */
import { COMM_STATUS_I2C, DLPC347X, DLPC347X_TPG, OPERATING_MODE, SHORT_STATUS } from '../dmd/dlpc347x.ts';
import { decodeFrame, type MemoryFramebuffer } from '../dmd/video-port.ts';
import type { Mask } from '../patterns.ts';
import { testPatternMask } from './dmd-test-patterns.ts';
import type { I2cDeviceModel } from './i2c-bus.ts';

const WRITE_LENGTHS: Record<number, number> = {
  [DLPC347X.WRITE_OPERATING_MODE]: 1,
  [DLPC347X.WRITE_TEST_PATTERN]: 6,
  [DLPC347X.WRITE_LED_ENABLE]: 1,
  [DLPC347X.WRITE_LED_CURRENT]: 6,
};

/** Communication Status bits (DLPU075B Read Communication Status, byte 5). */
const COMM = {
  invalidCommand: 0x01,
  invalidParameter: 0x02,
  readError: 0x10,
  invalidCount: 0x20,
} as const;

export interface SimDlpc347xOptions {
  width?: number;
  height?: number;
  framebuffer?: MemoryFramebuffer;
}

export class SimDlpc347x implements I2cDeviceModel {
  readonly width: number;
  readonly height: number;
  readonly framebuffer?: MemoryFramebuffer;
  operatingMode: number = OPERATING_MODE.externalVideo;
  testPattern = Uint8Array.of(0, 0x07, 0, 0, 0, 0);
  ledEnable = 0;
  ledCurrent: [number, number, number] = [0, 0, 0];
  shortStatus: number = SHORT_STATUS.initialised | SHORT_STATUS.mainApplication;
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
    this.shortStatus |= SHORT_STATUS.communicationError;
  }

  onWrite(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const op = bytes[0];
    const p = bytes.subarray(1);
    this.version++;
    switch (op) {
      case DLPC347X.READ_SHORT_STATUS:
        this.pending = Uint8Array.of(this.shortStatus);
        // reading clears the communication and system error bits (guide, Read Short Status)
        this.shortStatus &= ~(SHORT_STATUS.communicationError | SHORT_STATUS.systemError);
        return;
      case DLPC347X.READ_COMM_STATUS:
        if (p.length !== 1 || p[0] !== COMM_STATUS_I2C) {
          this.refuse(COMM.invalidParameter, op);
          this.pending = null;
          return;
        }
        this.pending = Uint8Array.of(this.commStatus, this.abortedOpcode);
        this.commStatus = 0;
        this.abortedOpcode = 0;
        return;
      case DLPC347X.READ_OPERATING_MODE:
        this.pending = Uint8Array.of(this.operatingMode);
        return;
      case DLPC347X.READ_TEST_PATTERN:
        this.pending = this.testPattern.slice();
        return;
      case DLPC347X.READ_LED_ENABLE:
        this.pending = Uint8Array.of(this.ledEnable);
        return;
      case DLPC347X.READ_LED_CURRENT:
        this.pending = Uint8Array.from(this.ledCurrent.flatMap((c) => [c & 0xff, c >> 8]));
        return;
    }
    this.commands.push({ op, params: p.slice() });
    const want = WRITE_LENGTHS[op];
    if (want === undefined) {
      this.refuse(COMM.invalidCommand, op);
      return;
    }
    if (p.length !== want) {
      this.refuse(COMM.invalidCount, op);
      return;
    }
    switch (op) {
      case DLPC347X.WRITE_OPERATING_MODE:
        if (!Object.values(OPERATING_MODE).includes(p[0] as never)) {
          this.refuse(COMM.invalidParameter, op);
          return;
        }
        this.operatingMode = p[0];
        return;
      case DLPC347X.WRITE_TEST_PATTERN:
        if ((p[0] & 0x0f) > 8) {
          this.refuse(COMM.invalidParameter, op);
          return;
        }
        this.testPattern = p.slice();
        return;
      case DLPC347X.WRITE_LED_ENABLE:
        this.ledEnable = p[0] & 0x07;
        return;
      case DLPC347X.WRITE_LED_CURRENT: {
        const cur = [p[0] | (p[1] << 8), p[2] | (p[3] << 8), p[4] | (p[5] << 8)];
        if (cur.some((c) => c > 1023)) {
          this.refuse(COMM.invalidParameter, op);
          return;
        }
        this.ledCurrent = [cur[0], cur[1], cur[2]];
        return;
      }
    }
  }

  onRead(length: number): Uint8Array {
    if (!this.pending) {
      this.commStatus |= COMM.readError;
      this.shortStatus |= SHORT_STATUS.communicationError;
      return new Uint8Array(length);
    }
    const out = this.pending;
    this.pending = null;
    return out;
  }

  private computeShown(): Mask | null {
    const lit = [0, 1, 2].some((c) => (this.ledEnable >> c) & 1 && this.ledCurrent[c] > 0);
    if (!lit) return null;
    if (this.operatingMode === OPERATING_MODE.externalVideo) {
      if (!this.framebuffer) return null;
      return decodeFrame(this.framebuffer.frame, this.framebuffer.info, this.width, this.height);
    }
    if (this.operatingMode === OPERATING_MODE.testPatternGenerator) {
      const code = this.testPattern[0] & 0x0f;
      const name = Object.keys(DLPC347X_TPG).find((k) => DLPC347X_TPG[k].code === code) ?? 'solid';
      return testPatternMask(name, this.width, this.height);
    }
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
