import { EventEmitter } from 'node:events';
import {
  ACCELSTEPPER,
  ACCELSTEPPER_DATA,
  DIGITAL_MESSAGE,
  decodeFloat,
  decodeInt32,
  END_SYSEX,
  encodeInt32,
  QUERY_FIRMWARE,
  REPORT_DIGITAL,
  REPORT_VERSION,
  SET_PIN_MODE,
  START_SYSEX,
} from '../stage/firmata-protocol.ts';

export interface SimFirmataStepperOptions {
  /** limit switch input pin wired to this stepper, closing when the carriage is at/below `switchAt` */
  limitPin?: number;
  /** physical step position of the switch (default 0) */
  switchAt?: number;
  /** switch reads electrically low when pressed (pull-up wiring) */
  activeLow?: boolean;
  /** physical start position in steps */
  start?: number;
  limitBroken?: boolean;
}

interface Stepper {
  configured: boolean;
  iface: number;
  pins: number[];
  /** physical position (steps) */
  phys: number;
  /** firmware's zero reference: reported position = phys - zeroRef */
  zeroRef: number;
  target: number;
  moving: boolean;
  speed: number;
  accel: number;
  enabled: boolean;
  opt: SimFirmataStepperOptions;
}

/**
 * The microcontroller side of the firmware bridge, simulated at the byte level: it parses the
 * Firmata stream the host writes (version query, pin modes, digital reporting, ACCELSTEPPER_DATA
 * sysex) and answers like ConfigurableFirmata with AccelStepperFirmata would, including the
 * "move complete" report. Use as the `transport` of firmata.js. Motion is simulated at constant
 * speed (the real AccelStepper ramps); positions are exact.
 */
export class SimFirmataDevice extends EventEmitter {
  readonly isOpen = true;
  /** every complete message received from the host, in order (for protocol assertions) */
  readonly received: number[][] = [];
  private buf: number[] = [];
  private readonly steppers = new Map<number, Stepper>();
  private readonly reportedPorts = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly stepperOptions: Record<number, SimFirmataStepperOptions> = {},
    private readonly tickMs = 5,
  ) {
    super();
    // a board resets when the port opens and announces its protocol version and firmware name
    setImmediate(() => {
      this.emit('open');
      this.send([REPORT_VERSION, 2, 6]);
      this.send(firmwareReport('rayleigh_bridge', 1, 0));
    });
  }

  write(data: Buffer | number[], cb?: (err?: Error | null) => void): boolean {
    for (const b of data) this.feed(b);
    cb?.(null);
    return true;
  }

  close(cb?: (err?: Error | null) => void): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.emit('close');
    cb?.(null);
  }

  /** physical position of a stepper in steps */
  physical(device: number): number {
    return this.steppers.get(device)?.phys ?? Number.NaN;
  }

  private send(bytes: number[]): void {
    if (this.closed) return;
    setImmediate(() => this.emit('data', Buffer.from(bytes)));
  }

  private feed(b: number): void {
    const buf = this.buf;
    if (buf.length === 0 && b < 0x80) return; // stray data byte
    buf.push(b);
    const first = buf[0];
    let complete = false;
    if (first === START_SYSEX) complete = b === END_SYSEX;
    else if (first === REPORT_VERSION) complete = true;
    else if (first === SET_PIN_MODE || (first & 0xf0) === DIGITAL_MESSAGE) complete = buf.length === 3;
    else if ((first & 0xf0) === REPORT_DIGITAL || (first & 0xf0) === 0xc0) complete = buf.length === 2;
    else complete = buf.length === 3;
    if (!complete) return;
    const msg = buf.splice(0);
    this.received.push(msg);
    this.handle(msg);
  }

  private handle(m: number[]): void {
    const c = m[0];
    if (c === REPORT_VERSION) this.send([REPORT_VERSION, 2, 6]);
    else if (c === START_SYSEX && m[1] === QUERY_FIRMWARE) this.send(firmwareReport('rayleigh_bridge', 1, 0));
    else if ((c & 0xf0) === REPORT_DIGITAL) {
      const port = c & 0x0f;
      if (m[1]) {
        this.reportedPorts.add(port);
        this.sendPort(port);
      } else this.reportedPorts.delete(port);
    } else if (c === START_SYSEX && m[1] === ACCELSTEPPER_DATA) this.accel(m.slice(2, -1));
  }

  private accel(p: number[]): void {
    const [cmd, dev] = p;
    if (cmd === ACCELSTEPPER.CONFIG) {
      const iface = p[2];
      const o = this.stepperOptions[dev] ?? {};
      this.steppers.set(dev, {
        configured: true,
        iface,
        pins: p.slice(3),
        phys: o.start ?? 0,
        zeroRef: o.start ?? 0,
        target: 0,
        moving: false,
        speed: 1,
        accel: 0,
        enabled: true,
        opt: o,
      });
      return;
    }
    const s = this.steppers.get(dev);
    if (!s) return; // firmware ignores commands for unconfigured devices
    switch (cmd) {
      case ACCELSTEPPER.ZERO:
        s.zeroRef = s.phys;
        break;
      case ACCELSTEPPER.STEP:
        this.start(s, s.phys + decodeInt32(p.slice(2, 7)));
        break;
      case ACCELSTEPPER.TO:
        this.start(s, s.zeroRef + decodeInt32(p.slice(2, 7)));
        break;
      case ACCELSTEPPER.ENABLE:
        s.enabled = p[2] === 1;
        break;
      case ACCELSTEPPER.STOP:
        s.target = s.phys;
        this.complete(dev, s);
        break;
      case ACCELSTEPPER.REPORT_POSITION:
        this.send([START_SYSEX, ACCELSTEPPER_DATA, ACCELSTEPPER.REPORT_POSITION, dev, ...encodeInt32(s.phys - s.zeroRef), END_SYSEX]);
        break;
      case ACCELSTEPPER.SET_SPEED:
        s.speed = decodeFloat(p.slice(2, 6));
        break;
      case ACCELSTEPPER.SET_ACCELERATION:
        s.accel = decodeFloat(p.slice(2, 6));
        break;
    }
  }

  private start(s: Stepper, physTarget: number): void {
    s.target = physTarget;
    s.moving = true;
    if (!this.timer) this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  private complete(dev: number, s: Stepper): void {
    s.moving = false;
    this.send([START_SYSEX, ACCELSTEPPER_DATA, ACCELSTEPPER.MOVE_COMPLETE, dev, ...encodeInt32(s.phys - s.zeroRef), END_SYSEX]);
  }

  private tick(): void {
    let any = false;
    for (const [dev, s] of this.steppers) {
      if (!s.moving) continue;
      any = true;
      const budget = Math.max(1, Math.round((s.speed * this.tickMs) / 1000));
      const before = this.switchPressed(s);
      if (s.enabled) {
        const d = s.target - s.phys;
        s.phys += Math.sign(d) * Math.min(Math.abs(d), budget);
      }
      if (this.switchPressed(s) !== before && s.opt.limitPin !== undefined) this.sendPort(s.opt.limitPin >> 3);
      if (s.phys === s.target) this.complete(dev, s);
    }
    if (!any && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private switchPressed(s: Stepper): boolean {
    return !s.opt.limitBroken && s.phys <= (s.opt.switchAt ?? 0);
  }

  private sendPort(port: number): void {
    if (!this.reportedPorts.has(port)) return;
    let value = 0;
    for (const s of this.steppers.values()) {
      const pin = s.opt.limitPin;
      if (pin === undefined || pin >> 3 !== port) continue;
      const electrical = this.switchPressed(s) !== (s.opt.activeLow ?? false);
      if (electrical) value |= 1 << (pin & 7);
    }
    this.send([DIGITAL_MESSAGE | port, value & 0x7f, (value >> 7) & 0x7f]);
  }
}

function firmwareReport(name: string, major: number, minor: number): number[] {
  const out = [START_SYSEX, QUERY_FIRMWARE, major, minor];
  for (const ch of Buffer.from(name, 'ascii')) out.push(ch & 0x7f, (ch >> 7) & 0x7f);
  out.push(END_SYSEX);
  return out;
}
