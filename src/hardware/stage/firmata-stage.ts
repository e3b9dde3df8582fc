import { createRequire } from 'node:module';
import type { StageAxisConfig } from '../../config/hardware.ts';
import { UserError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { FLOAT_MAX } from './firmata-protocol.ts';
import { type AxisStatus, type FaultSink, type Stage, StageFault, type StageStatus } from './types.ts';

/*
 * Stage driven by the firmware bridge (firmware-bridge/): ConfigurableFirmata with
 * AccelStepperFirmata on a microcontroller that times the STEP pulses itself. The host speaks
 * Firmata through firmata.js (firmata-io) directly: johnny-five's Stepper class only speaks the
 * older STEPPER (0x72) sysex, not ACCELSTEPPER_DATA (0x62), so it would not give us acceleration
 * or move-complete reports with positions.
 */

/** A byte stream the Firmata client can talk over: a SerialPort or the simulated firmware. */
export interface FirmataTransport {
  write(data: Buffer, cb?: (err?: Error | null) => void): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  close?(cb?: (err?: Error | null) => void): void;
}

/** The subset of firmata.js's Board we use. */
interface FirmataBoard {
  MODES: { INPUT: number; PULLUP: number };
  STEPPER: { TYPE: { DRIVER: number }; STEP_SIZE: { WHOLE: number } };
  isReady: boolean;
  on(event: string, fn: (...args: never[]) => void): void;
  once(event: string, fn: (...args: never[]) => void): void;
  removeListener(event: string, fn: (...args: never[]) => void): void;
  pinMode(pin: number, mode: number): void;
  reportDigitalPin(pin: number, value: 0 | 1): void;
  accelStepperConfig(o: {
    deviceNum: number;
    type: number;
    stepSize: number;
    stepPin: number;
    directionPin: number;
    enablePin?: number;
    invertPins?: number[];
  }): void;
  accelStepperZero(dev: number): void;
  accelStepperStep(dev: number, steps: number): void;
  accelStepperTo(dev: number, position: number): void;
  accelStepperEnable(dev: number, enabled: boolean): void;
  accelStepperStop(dev: number): void;
  accelStepperSpeed(dev: number, speed: number): void;
  accelStepperAcceleration(dev: number, accel: number): void;
}
type FirmataCtor = new (
  transport: FirmataTransport,
  opts: {
    skipCapabilities: boolean;
    pinCount: number;
    reportVersionTimeout: number;
  },
  cb: (err?: Error) => void,
) => FirmataBoard;

export interface FirmataStageOptions {
  axes: Record<string, StageAxisConfig>;
  motionTimeoutMs: number;
  readyTimeoutMs?: number;
  homingSpeedFraction?: number;
  /** digital pins the board exposes (for firmata.js's pin table when capabilities are skipped) */
  pinCount?: number;
}

interface Axis {
  name: string;
  dev: number;
  cfg: StageAxisConfig;
  stepsPerUm: number;
  /** firmware counter + offset = host position in steps (set by homing) */
  offsetSteps: number;
  counter: number;
  limitActive: boolean;
  homed: boolean;
  busy: boolean;
  targetUm?: number;
  cancel?: (err: StageFault) => void;
}

type MoveResult = { reason: 'done' | 'limit'; counter: number };

export class FirmataStage implements Stage {
  readonly kind = 'firmata';
  readonly axes: string[];
  private readonly ax = new Map<string, Axis>();
  private estopped = false;
  private closed = false;
  private lastFault: string | undefined;

  private constructor(
    private readonly board: FirmataBoard,
    private readonly transport: FirmataTransport,
    private readonly opts: FirmataStageOptions,
    private readonly log: Logger,
    private readonly onFault: FaultSink,
  ) {
    this.axes = Object.keys(opts.axes);
  }

  static async open(
    transport: FirmataTransport,
    opts: FirmataStageOptions,
    log: Logger,
    onFault: FaultSink = () => {},
  ): Promise<FirmataStage> {
    const names = Object.keys(opts.axes);
    if (names.length > 10) throw new UserError(`firmata stage: AccelStepperFirmata supports at most 10 steppers, got ${names.length}`);
    const require = createRequire(import.meta.url);
    const { Firmata } = require('firmata-io') as { Firmata: FirmataCtor };
    const readyMs = opts.readyTimeoutMs ?? 10_000;
    const board = await new Promise<FirmataBoard>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new StageFault('io', `firmata stage: board did not report its firmware within ${readyMs} ms`)),
        readyMs,
      );
      const b: FirmataBoard = new Firmata(
        transport,
        {
          skipCapabilities: true,
          pinCount: opts.pinCount ?? 70,
          reportVersionTimeout: Math.min(2000, readyMs),
        },
        (err) => {
          clearTimeout(t);
          if (err) reject(new StageFault('io', `firmata stage: ${err.message}`));
          else resolve(b);
        },
      );
    });
    const stage = new FirmataStage(board, transport, opts, log, onFault);
    board.on('error', (err: Error) => {
      stage.lastFault = `firmata: ${err.message}`;
      onFault('stage', new StageFault('io', `firmata stage: ${err.message}`));
    });
    for (const [dev, name] of names.entries()) stage.configureAxis(name, dev, opts.axes[name]);
    return stage;
  }

  private configureAxis(name: string, dev: number, cfg: StageAxisConfig): void {
    if (cfg.minUm >= cfg.maxUm) throw new UserError(`stage axis ${name}: minUm ${cfg.minUm} must be below maxUm ${cfg.maxUm}`);
    const b = this.board;
    const a: Axis = {
      name,
      dev,
      cfg,
      stepsPerUm: cfg.stepsPerUm * cfg.microstep,
      offsetSteps: 0,
      counter: 0,
      limitActive: false,
      homed: false,
      busy: false,
    };
    // microstepping is set on the driver's MS pins; the firmware only counts pulses (WHOLE)
    b.accelStepperConfig({
      deviceNum: dev,
      type: b.STEPPER.TYPE.DRIVER,
      stepSize: b.STEPPER.STEP_SIZE.WHOLE,
      stepPin: cfg.stepPin,
      directionPin: cfg.dirPin,
      ...(cfg.enablePin !== undefined
        ? {
            enablePin: cfg.enablePin,
            invertPins: cfg.enableActiveLow ? [cfg.enablePin] : [],
          }
        : {}),
    });
    this.applySpeed(a, 1);
    b.accelStepperAcceleration(dev, this.wireFloat(a, 'acceleration', cfg.accelUmS2 * a.stepsPerUm));
    if (cfg.limitPin !== undefined) {
      const pin = cfg.limitPin;
      b.pinMode(pin, cfg.limitActiveLow ? b.MODES.PULLUP : b.MODES.INPUT);
      b.on(`digital-read-${pin}`, ((value: number) => {
        a.limitActive = (value === 1) !== cfg.limitActiveLow;
      }) as (...args: never[]) => void);
      b.reportDigitalPin(pin, 1);
    }
    this.ax.set(name, a);
  }

  private applySpeed(a: Axis, fraction: number): void {
    this.board.accelStepperSpeed(a.dev, this.wireFloat(a, 'speed', a.cfg.maxSpeedUmS * a.stepsPerUm * fraction));
  }

  private wireFloat(a: Axis, what: string, v: number): number {
    if (v <= FLOAT_MAX) return v;
    this.log.warn({ axis: a.name, requested: v, sent: FLOAT_MAX }, `stage: ${what} exceeds the AccelStepperFirmata float range; clamped`);
    return FLOAT_MAX;
  }

  private axis(name: string): Axis {
    const a = this.ax.get(name);
    if (!a) throw new UserError(`unknown stage axis "${name}" (have: ${this.axes.join(', ') || 'none'})`);
    return a;
  }

  position(axis: string): number {
    const a = this.axis(axis);
    return (a.counter + a.offsetSteps) / a.stepsPerUm;
  }

  status(): StageStatus {
    const axes: Record<string, AxisStatus> = {};
    for (const a of this.ax.values()) {
      axes[a.name] = {
        positionUm: this.position(a.name),
        homed: a.homed,
        moving: a.busy,
        limit: a.limitActive,
        targetUm: a.targetUm,
      };
    }
    return {
      kind: this.kind,
      estopped: this.estopped,
      axes,
      lastFault: this.lastFault,
    };
  }

  async moveBy(axis: string, deltaUm: number): Promise<void> {
    if (!Number.isFinite(deltaUm)) throw new UserError(`stage move: distance must be a finite number of µm, got ${deltaUm}`);
    return this.moveTo(axis, this.position(axis) + deltaUm);
  }

  async moveTo(axis: string, um: number): Promise<void> {
    const a = this.axis(axis);
    if (!Number.isFinite(um)) throw new UserError(`stage move: target must be a finite number of µm, got ${um}`);
    if (um < a.cfg.minUm || um > a.cfg.maxUm) {
      throw new UserError(`stage axis ${axis}: target ${um} µm is outside the soft limits [${a.cfg.minUm}, ${a.cfg.maxUm}] µm`);
    }
    this.assertCanMove(a);
    a.targetUm = um;
    const counterTarget = Math.round(um * a.stepsPerUm) - a.offsetSteps;
    await this.guarded(a, async () => {
      const r = await this.command(a, 'to', counterTarget, Math.sign(counterTarget - a.counter));
      if (r.reason === 'limit') {
        a.homed = false;
        throw new StageFault('limit-hit', `stage axis ${axis}: limit switch hit at ${this.position(axis).toFixed(1)} µm; re-home the axis`);
      }
    });
  }

  async home(axis?: string): Promise<void> {
    if (this.closed) throw new StageFault('closed', 'stage is closed');
    const names = axis === undefined ? this.axes : [axis];
    for (const n of names) this.axis(n);
    this.estopped = false;
    for (const n of names) await this.homeAxis(this.axis(n));
  }

  private async homeAxis(a: Axis): Promise<void> {
    if (a.cfg.limitPin === undefined) throw new UserError(`stage axis ${a.name} has no limit switch (limitPin); it cannot be homed`);
    this.assertCanMove(a);
    const toward = a.cfg.homeDirection === 'min' ? -1 : 1;
    const range = a.cfg.maxUm - a.cfg.minUm;
    const backoff = Math.round(Math.min(a.cfg.homeBackoffUm, range / 2) * a.stepsPerUm);
    const fast = this.opts.homingSpeedFraction ?? 0.5;
    a.targetUm = a.cfg.homeDirection === 'min' ? a.cfg.minUm : a.cfg.maxUm;
    await this.guarded(a, async () => {
      try {
        this.applySpeed(a, fast);
        if (a.limitActive) await this.backOff(a, -toward * backoff);
        const maxTravel = Math.round(range * 1.1 * a.stepsPerUm) + backoff;
        const seek = await this.command(a, 'step', toward * maxTravel, toward);
        if (seek.reason !== 'limit') {
          throw new StageFault(
            'home-not-found',
            `stage axis ${a.name}: homing travelled ${(maxTravel / a.stepsPerUm).toFixed(0)} µm without reaching the limit switch (check wiring of pin ${a.cfg.limitPin})`,
          );
        }
        await this.backOff(a, -toward * backoff);
        this.applySpeed(a, fast / 10);
        const approach = await this.command(a, 'step', toward * 2 * backoff, toward);
        if (approach.reason !== 'limit')
          throw new StageFault('home-not-found', `stage axis ${a.name}: limit switch not found again on the slow approach`);
        this.board.accelStepperZero(a.dev);
        a.counter = 0;
        a.offsetSteps = Math.round((a.cfg.homeDirection === 'min' ? a.cfg.minUm : a.cfg.maxUm) * a.stepsPerUm);
        a.homed = true;
      } finally {
        this.applySpeed(a, 1);
      }
    });
  }

  private async backOff(a: Axis, steps: number): Promise<void> {
    await this.command(a, 'step', steps, Math.sign(steps));
    // the switch state arrives with the next digital report (sampling interval ~19 ms)
    await new Promise((r) => setTimeout(r, 60));
    if (a.limitActive) throw new StageFault('switch-stuck', `stage axis ${a.name}: limit switch still pressed after backing off`);
  }

  estop(): void {
    this.estopped = true;
    for (const a of this.ax.values()) {
      a.homed = false;
      try {
        this.board.accelStepperStop(a.dev);
        // AccelStepper's stop() decelerates; cutting the driver makes the halt immediate
        if (a.cfg.enablePin !== undefined) this.board.accelStepperEnable(a.dev, false);
      } catch (err) {
        this.log.error({ err, axis: a.name }, 'stage: cannot send e-stop to the firmware');
      }
      a.cancel?.(new StageFault('estop', `stage axis ${a.name}: emergency stop`));
    }
    this.log.warn('stage: emergency stop');
  }

  async park(): Promise<void> {
    for (const a of this.ax.values()) {
      if (a.homed && !this.estopped) await this.moveTo(a.name, a.cfg.homeDirection === 'min' ? a.cfg.minUm : a.cfg.maxUm);
      if (a.cfg.enablePin !== undefined) this.board.accelStepperEnable(a.dev, false);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.ax.values()) {
      a.cancel?.(new StageFault('closed', `stage axis ${a.name}: stage closed during a move`));
      try {
        this.board.accelStepperStop(a.dev);
        if (a.cfg.enablePin !== undefined) this.board.accelStepperEnable(a.dev, false);
      } catch {
        // the port may already be gone
      }
    }
    await new Promise<void>((r) => (this.transport.close ? this.transport.close(() => r()) : r()));
  }

  private assertCanMove(a: Axis): void {
    if (this.closed) throw new StageFault('closed', 'stage is closed');
    if (this.estopped) throw new StageFault('estop', 'stage is emergency-stopped; home it to resume');
    if (a.busy) throw new StageFault('busy', `stage axis ${a.name} is already moving`);
  }

  private async guarded(a: Axis, body: () => Promise<void>): Promise<void> {
    a.busy = true;
    try {
      if (a.cfg.enablePin !== undefined) this.board.accelStepperEnable(a.dev, true);
      await body();
    } catch (err) {
      const fault =
        err instanceof StageFault || err instanceof UserError
          ? err
          : new StageFault('io', `stage axis ${a.name}: ${(err as Error).message}`);
      if (fault instanceof StageFault) {
        this.lastFault = fault.message;
        this.log.error({ axis: a.name, code: fault.code }, fault.message);
        this.onFault('stage', fault);
      }
      throw fault;
    } finally {
      a.busy = false;
      a.targetUm = undefined;
    }
  }

  /**
   * Send a 'to' (absolute, firmware counter) or 'step' (relative) move and wait for the firmware's
   * move-complete report. direction tells which way the carriage goes so that a limit switch
   * closing ahead of it stops the move.
   */
  private command(a: Axis, kind: 'to' | 'step', value: number, direction: number): Promise<MoveResult> {
    if (this.estopped) return Promise.reject(new StageFault('estop', `stage axis ${a.name}: emergency stop`));
    if (this.closed) return Promise.reject(new StageFault('closed', 'stage is closed'));
    const towardSwitch = direction !== 0 && direction === (a.cfg.homeDirection === 'min' ? -1 : 1);
    const b = this.board;
    if ((kind === 'to' && value === a.counter) || (kind === 'step' && value === 0))
      return Promise.resolve({ reason: 'done', counter: a.counter });
    return new Promise<MoveResult>((resolve, reject) => {
      let hitLimit = false;
      let finished = false;
      const doneEvent = `stepper-done-${a.dev}`;
      const limitEvent = a.cfg.limitPin !== undefined ? `digital-read-${a.cfg.limitPin}` : undefined;
      const cleanup = (): void => {
        finished = true;
        clearTimeout(timer);
        b.removeListener(doneEvent, onDone);
        if (limitEvent) b.removeListener(limitEvent, onLimit);
        a.cancel = undefined;
      };
      const onDone = ((counter: number) => {
        if (finished) return;
        cleanup();
        a.counter = counter;
        resolve({ reason: hitLimit ? 'limit' : 'done', counter });
      }) as (...args: never[]) => void;
      const onLimit = (() => {
        // the axis' own listener (registered first) has already updated limitActive
        if (!finished && towardSwitch && a.limitActive && !hitLimit) {
          hitLimit = true;
          b.accelStepperStop(a.dev);
        }
      }) as (...args: never[]) => void;
      const timer = setTimeout(() => {
        if (finished) return;
        cleanup();
        b.accelStepperStop(a.dev);
        reject(new StageFault('timeout', `stage axis ${a.name}: move did not complete within ${this.opts.motionTimeoutMs} ms; stopped`));
      }, this.opts.motionTimeoutMs);
      a.cancel = (err) => {
        if (finished) return;
        cleanup();
        reject(err);
      };
      b.on(doneEvent, onDone);
      if (limitEvent) b.on(limitEvent, onLimit);
      if (towardSwitch && a.limitActive) {
        // already on the switch: do not push into it
        cleanup();
        resolve({ reason: 'limit', counter: a.counter });
        return;
      }
      if (kind === 'to') b.accelStepperTo(a.dev, value);
      else b.accelStepperStep(a.dev, value);
    });
  }
}

/** Open the serial port to the bridge (lazy import: serialport has a native binding). */
export async function openSerialTransport(path: string, baudRate = 57600): Promise<FirmataTransport> {
  type V10 = new (o: { path: string; baudRate: number }) => FirmataTransport;
  type V8 = new (path: string, o: { baudRate: number }) => FirmataTransport;
  try {
    const specifier = 'serialport'; // untyped package; keep tsc from resolving it
    const mod = (await import(specifier)) as unknown as {
      SerialPort?: V10;
      default?: V8 | { SerialPort?: V10 };
    };
    // serialport ≥ 10 exports { SerialPort } taking an options object; 8.x (firmata's dependency) exports the class
    if (mod.SerialPort) return new mod.SerialPort({ path, baudRate });
    const d = mod.default;
    if (typeof d === 'function') return new d(path, { baudRate });
    if (d?.SerialPort) return new d.SerialPort({ path, baudRate });
    throw new Error('unrecognised serialport module');
  } catch (err) {
    throw new StageFault('io', `firmata stage: cannot open serial port ${path}: ${(err as Error).message}`);
  }
}
