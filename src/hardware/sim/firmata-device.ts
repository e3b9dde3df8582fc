import { EventEmitter } from 'node:events';

/*
 * Wire constants and value encodings, written here from the Firmata documents rather than taken
 * from the driver (src/hardware/stage/), so a driver that misreads the protocol meets a device
 * that reads it the documented way:
 *  - firmata/protocol protocol.md, "Message Types" and "Sysex Message Format" (protocol 2.6.0);
 *  - firmata/protocol accelStepperFirmata.md ("Stepper 2.0"): the ACCELSTEPPER_DATA commands,
 *    "32-bit signed integers" (five 7-bit bytes, magnitude, sign in bit 3 of the last) and
 *    "custom float" (23-bit significand, 4-bit base-10 exponent biased by -11, sign in bit 6 of
 *    the last byte).
 */
const START_SYSEX = 0xf0;
const END_SYSEX = 0xf7;
const REPORT_VERSION = 0xf9;
const QUERY_FIRMWARE = 0x79;
const SET_PIN_MODE = 0xf4;
const DIGITAL_MESSAGE = 0x90;
const REPORT_DIGITAL = 0xd0;
const ACCELSTEPPER_DATA = 0x62;
const ACCELSTEPPER = {
  CONFIG: 0x00,
  ZERO: 0x01,
  STEP: 0x02,
  TO: 0x03,
  ENABLE: 0x04,
  STOP: 0x05,
  REPORT_POSITION: 0x06,
  /** Stepper limit: parsed for framing, not modelled (ConfigurableFirmata: "not yet implemented") */
  LIMIT: 0x07,
  SET_ACCELERATION: 0x08,
  SET_SPEED: 0x09,
  MOVE_COMPLETE: 0x0a,
} as const;

/** accelStepperFirmata.md "32-bit signed integers": bits 0-6, 7-13, 14-20, 21-27, 28-30, the sign in bit 3 of byte 5. */
export function encodeInt32(v: number): number[] {
  const m = Math.abs(Math.trunc(v));
  const out = [m & 0x7f, (m >>> 7) & 0x7f, (m >>> 14) & 0x7f, (m >>> 21) & 0x7f, (m >>> 28) & 0x07];
  if (v < 0) out[4] |= 0x08;
  return out;
}

export function decodeInt32(b: ArrayLike<number>): number {
  const m = (b[0] & 0x7f) | ((b[1] & 0x7f) << 7) | ((b[2] & 0x7f) << 14) | ((b[3] & 0x7f) << 21) | ((b[4] & 0x07) * 2 ** 28);
  return b[4] & 0x08 ? -m : m;
}

/** accelStepperFirmata.md "custom float": significand in bits 0-22, exponent (biased by -11) in 23-26, sign in 27. */
export function decodeFloat(b: ArrayLike<number>): number {
  const significand = b[0] | (b[1] << 7) | (b[2] << 14) | ((b[3] & 0x03) << 21);
  const exponent = ((b[3] >> 2) & 0x0f) - 11;
  const sign = (b[3] >> 6) & 0x01 ? -1 : 1;
  return sign * significand * 10 ** exponent;
}

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

/*
 * Motion follows the AccelStepper class reference (airspayce.com/mikem/arduino/AccelStepper) as
 * AccelStepperFirmata drives it (ConfigurableFirmata src/AccelStepperFirmata.cpp):
 *  - speeds ramp at constant acceleration up to maxSpeed and down to stop on the target
 *    ("moveTo... accelerate to the maxSpeed and decelerate to stop at the target");
 *  - the speed is state: a new moveTo/move while moving keeps it, decelerating first when the
 *    new target lies behind (AccelStepper::computeNewSpeed);
 *  - STOP: AccelStepperFirmata calls stop() ("sets a new target position that causes the stepper
 *    to stop as quickly as possible, using the current speed and acceleration") and then stops
 *    calling run(), so pulses end at once while speed and target stay; it reports move complete
 *    with the current position right away;
 *  - ZERO: setCurrentPosition(0), which "has the side effect of setting the current motor speed
 *    to 0";
 *  - CONFIG: maxSpeed 1 step/s and the "no acceleration" acceleration until the host sets them;
 *    SET_ACCELERATION 0 also means "no acceleration".
 * Time is simulated: every tick advances the model by tickMs, whatever the wall clock did.
 */

/** ASSUMPTION: ConfigurableFirmata's MAX_ACCELERATION (AccelStepperFirmata.h) taken as 1e6 steps/s²; the host always sets its own. */
const NO_ACCELERATION = 1e6;

interface Stepper {
  configured: boolean;
  iface: number;
  pins: number[];
  /** AccelStepper's _currentPos (whole steps) */
  pos: number;
  /** AccelStepper's _targetPos */
  target: number;
  /** signed speed, steps/s (AccelStepper's _speed) */
  v: number;
  /** simulated time of the next due step, s */
  nextStepAt: number;
  /** AccelStepperFirmata's isRunning: run() is called only while set */
  running: boolean;
  maxSpeed: number;
  accel: number;
  enabled: boolean;
  /** physical carriage position, steps; moves with the pulses only while the driver is enabled */
  carriage: number;
  minCarriage: number;
  maxCarriage: number;
  opt: SimFirmataStepperOptions;
}

/**
 * The microcontroller side of the firmware bridge, simulated at the byte level: it parses the
 * Firmata stream the host writes (version query, pin modes, digital reporting, ACCELSTEPPER_DATA
 * sysex) and answers like ConfigurableFirmata with AccelStepperFirmata would, including the
 * "move complete" report, with AccelStepper's acceleration and its stop-from-speed behaviour.
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
  /** simulated seconds since the first motion */
  private simTime = 0;

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

  /** physical (carriage) position of a stepper in steps */
  physical(device: number): number {
    return this.steppers.get(device)?.carriage ?? Number.NaN;
  }

  /** lowest and highest carriage positions since the last resetExtremes() (or configuration) */
  extremes(device: number): { min: number; max: number } {
    const s = this.steppers.get(device);
    return s ? { min: s.minCarriage, max: s.maxCarriage } : { min: Number.NaN, max: Number.NaN };
  }

  resetExtremes(device: number): void {
    const s = this.steppers.get(device);
    if (s) s.minCarriage = s.maxCarriage = s.carriage;
  }

  /** the firmware's current speed for a stepper, steps/s (what AccelStepper::speed() returns) */
  speed(device: number): number {
    return this.steppers.get(device)?.v ?? Number.NaN;
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
      const start = o.start ?? 0;
      this.steppers.set(dev, {
        configured: true,
        iface,
        pins: p.slice(3),
        pos: 0,
        target: 0,
        v: 0,
        nextStepAt: 0,
        running: false,
        maxSpeed: 1,
        accel: NO_ACCELERATION,
        // AccelStepper::setEnablePin drives the outputs enabled
        enabled: true,
        carriage: start,
        minCarriage: start,
        maxCarriage: start,
        opt: o,
      });
      return;
    }
    const s = this.steppers.get(dev);
    if (!s) return; // firmware ignores commands for unconfigured devices
    switch (cmd) {
      case ACCELSTEPPER.ZERO:
        s.pos = 0;
        s.target = 0;
        s.v = 0;
        break;
      case ACCELSTEPPER.STEP:
        s.target = s.pos + decodeInt32(p.slice(2, 7));
        this.run(s);
        break;
      case ACCELSTEPPER.TO:
        s.target = decodeInt32(p.slice(2, 7));
        this.run(s);
        break;
      case ACCELSTEPPER.ENABLE:
        s.enabled = p[2] !== 0;
        break;
      case ACCELSTEPPER.STOP: {
        // stop(): target one stopping distance ahead, speed kept; then run() is no longer called
        const stopping = Math.ceil((s.v * s.v) / (2 * s.accel));
        s.target = s.pos + Math.sign(s.v) * stopping;
        s.running = false;
        this.report(dev, s, ACCELSTEPPER.MOVE_COMPLETE);
        break;
      }
      case ACCELSTEPPER.REPORT_POSITION:
        this.report(dev, s, ACCELSTEPPER.REPORT_POSITION);
        break;
      case ACCELSTEPPER.SET_SPEED:
        s.maxSpeed = decodeFloat(p.slice(2, 6));
        break;
      case ACCELSTEPPER.SET_ACCELERATION: {
        const a = decodeFloat(p.slice(2, 6));
        s.accel = a === 0 ? NO_ACCELERATION : a;
        break;
      }
    }
  }

  private run(s: Stepper): void {
    if (!s.running) s.nextStepAt = this.simTime;
    s.running = true;
    if (!this.timer) this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  private report(dev: number, s: Stepper, kind: number): void {
    this.send([START_SYSEX, ACCELSTEPPER_DATA, kind, dev, ...encodeInt32(s.pos), END_SYSEX]);
  }

  private tick(): void {
    let any = false;
    this.simTime += this.tickMs / 1000;
    for (const [dev, s] of this.steppers) {
      if (!s.running) continue;
      any = true;
      const before = this.switchPressed(s);
      while (s.running && s.nextStepAt <= this.simTime) this.stepOnce(dev, s);
      if (this.switchPressed(s) !== before && s.opt.limitPin !== undefined) this.sendPort(s.opt.limitPin >> 3);
    }
    if (!any && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * What one due run() call does: finish when on target and slow enough to stop within a step,
   * else take one step. The speed after the step follows constant acceleration over one step of
   * travel (v'² = v² ± 2a), decelerating while heading away from the target or when the stopping
   * distance v²/2a reaches the distance left; the step takes 2 / (|v| + |v'|) s.
   */
  private stepOnce(dev: number, s: Stepper): void {
    const a = s.accel;
    const d = s.target - s.pos;
    const speed = Math.abs(s.v);
    if (d === 0 && (speed * speed) / (2 * a) < 1) {
      s.v = 0;
      s.running = false;
      this.report(dev, s, ACCELSTEPPER.MOVE_COMPLETE);
      return;
    }
    const dir = s.v !== 0 ? Math.sign(s.v) : Math.sign(d);
    const decel = speed > 0 && (Math.sign(d) !== dir || (speed * speed) / (2 * a) >= Math.abs(d));
    const next = decel ? Math.sqrt(Math.max(speed * speed - 2 * a, 0)) : Math.min(s.maxSpeed, Math.sqrt(speed * speed + 2 * a));
    s.pos += dir;
    if (s.enabled) {
      s.carriage += dir;
      s.minCarriage = Math.min(s.minCarriage, s.carriage);
      s.maxCarriage = Math.max(s.maxCarriage, s.carriage);
    }
    s.v = dir * next;
    // near standstill one step takes as long as it does from rest, sqrt(2/a), never longer
    const mean = Math.min(Math.max((speed + next) / 2, Math.sqrt(2 * a) / 2), s.maxSpeed);
    s.nextStepAt += 1 / mean;
  }

  private switchPressed(s: Stepper): boolean {
    return !s.opt.limitBroken && s.carriage <= (s.opt.switchAt ?? 0);
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
