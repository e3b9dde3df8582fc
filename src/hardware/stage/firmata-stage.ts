import { createRequire } from 'node:module';
import type { StageAxisConfig } from '../../config/hardware.ts';
import { UserError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { type AxisState, homeEndUm, initialAxisState, type Motion, type MotionEnd, StageBase } from './base.ts';
import { ACCELSTEPPER, ACCELSTEPPER_DATA, FLOAT_MAX } from './firmata-protocol.ts';
import { type FaultSink, StageFault } from './types.ts';

/*
 * Stage driven by a microcontroller that times the STEP pulses itself and speaks Firmata's
 * AccelStepperFirmata messages: our own firmware (firmware-bridge/) or stock ConfigurableFirmata.
 * The host speaks Firmata through firmata.js (firmata-io) directly: johnny-five's Stepper class
 * only speaks the older STEPPER (0x72) sysex, not ACCELSTEPPER_DATA (0x62), so it would not give
 * us acceleration or move-complete reports with positions.
 *
 * STOP (0x05) halts at once, it does not decelerate: ConfigurableFirmata's AccelStepperFirmata
 * calls AccelStepper::stop() and then stops calling run() (AccelStepperFirmata.cpp, STOP case),
 * so the motor stops on the next step (accelStepperFirmata.md says "if an acceleration is set,
 * stop will not be immediate"; the implementation is what runs) but AccelStepper keeps its speed
 * and a target one stopping distance ahead. The next move would first coast on in the old direction — after a limit stop
 * at 800 steps/s with 4000 steps/s², a 200-step back-off drives ~80 steps further into the switch.
 * So every STOP (limit, timeout, abort, e-stop) is followed by a position report and ZERO: ZERO
 * is AccelStepper::setCurrentPosition(0), which "has the side effect of setting the current motor
 * speed to 0" (AccelStepper class reference, setCurrentPosition), and the host folds the halted
 * position into its offset. Our own firmware also forgets the speed on STOP; the host does not
 * rely on it.
 */

/** "no limit pin" in a Stepper limit message (pin numbers are 7-bit; 127 is none) */
const NO_PIN = 0x7f;

/** how long to wait for the position report that follows a STOP before calling the axis lost */
const RESYNC_TIMEOUT_MS = 2000;
/** how long a switch may take to report its release after the back-off before it counts as stuck */
const SWITCH_RELEASE_WAIT_MS = 500;

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
  accelStepperReportPosition(dev: number): void;
  accelStepperSpeed(dev: number, speed: number): void;
  accelStepperAcceleration(dev: number, accel: number): void;
  sysexCommand(message: number[]): void;
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

interface Axis extends AxisState {
  dev: number;
  /** firmware counter + offset = host position in steps (set by homing, grown by every STOP) */
  offsetSteps: number;
  /** the firmware's position, from the last move-complete (kept by a permanent listener) */
  counter: number;
  /** the move waiting for its move-complete, if any */
  onComplete?: (counter: number) => void;
  /** the STOP → position report → ZERO sequence in progress; motions wait for it */
  resync?: Promise<void>;
}

type MoveResult = { reason: MotionEnd; counter: number };

export class FirmataStage extends StageBase<Axis> {
  readonly kind = 'firmata';

  private constructor(
    private readonly board: FirmataBoard,
    private readonly transport: FirmataTransport,
    private readonly opts: FirmataStageOptions,
    log: Logger,
    onFault: FaultSink,
  ) {
    super(opts.axes, log, onFault);
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
    const b = this.board;
    const a: Axis = { ...initialAxisState(name, cfg), dev, offsetSteps: 0, counter: 0 };
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
    // permanent, so a move-complete that arrives after its move gave up still updates the counter
    b.on(`stepper-done-${dev}`, ((counter: number) => {
      a.counter = counter;
      a.onComplete?.(counter);
    }) as (...args: never[]) => void);
    this.applySpeed(a, 1);
    b.accelStepperAcceleration(dev, this.wireFloat(a, 'acceleration', cfg.accelUmS2 * a.stepsPerUm));
    if (cfg.limitPin !== undefined) {
      const pin = cfg.limitPin;
      b.pinMode(pin, cfg.limitActiveLow ? b.MODES.PULLUP : b.MODES.INPUT);
      b.on(`digital-read-${pin}`, ((value: number) => {
        a.limitActive = (value === 1) !== cfg.limitActiveLow;
      }) as (...args: never[]) => void);
      b.reportDigitalPin(pin, 1);
      // Stepper limit (0x07): lets the firmware refuse steps into the switch itself instead of
      // waiting for the host's STOP (our firmware implements it; stock AccelStepperFirmata marks
      // it "not yet implemented" and ignores it, and the host's STOP still applies)
      const state = cfg.limitActiveLow ? 0 : 1;
      const none = [NO_PIN, 0];
      const mine = [pin, state];
      b.sysexCommand([
        ACCELSTEPPER_DATA,
        ACCELSTEPPER.LIMIT,
        dev,
        ...(cfg.homeDirection === 'min' ? [...mine, ...none] : [...none, ...mine]),
      ]);
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

  protected positionSteps(a: Axis): number {
    return a.counter + a.offsetSteps;
  }

  protected override positionSettled(a: Axis): Promise<void> | undefined {
    return a.resync;
  }

  protected async driveTo(a: Axis, um: number, m: Motion): Promise<MotionEnd> {
    // the offset moves when a STOP is folded in: compute the firmware target after it settled
    if (a.resync) await a.resync;
    const counterTarget = Math.round(um * a.stepsPerUm) - a.offsetSteps;
    const slower = m.speedFraction < 1;
    if (slower) this.applySpeed(a, m.speedFraction);
    try {
      return (await this.command(a, 'to', counterTarget, Math.sign(counterTarget - a.counter), m.switchExpected)).reason;
    } finally {
      if (slower) this.applySpeed(a, 1);
    }
  }

  protected async seekHome(a: Axis): Promise<void> {
    const toward = a.cfg.homeDirection === 'min' ? -1 : 1;
    const range = a.cfg.maxUm - a.cfg.minUm;
    const backoff = Math.round(Math.min(a.cfg.homeBackoffUm, range / 2) * a.stepsPerUm);
    const fast = this.opts.homingSpeedFraction ?? 0.5;
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
      const backedOff = await this.backOff(a, -toward * backoff);
      this.applySpeed(a, fast / 10);
      const approach = await this.command(a, 'step', toward * (backedOff + backoff), toward);
      if (approach.reason !== 'limit')
        throw new StageFault('home-not-found', `stage axis ${a.name}: limit switch not found again on the slow approach`);
      this.board.accelStepperZero(a.dev);
      a.counter = 0;
      a.offsetSteps = Math.round(homeEndUm(a.cfg) * a.stepsPerUm);
      a.homed = true;
    } finally {
      this.applySpeed(a, 1);
    }
  }

  /**
   * Move off the switch. A stop on the switch overshoots by the host's reaction time, which may
   * exceed one back-off on a busy host, so up to three back-offs are tried before the switch
   * counts as stuck.
   */
  private async backOff(a: Axis, steps: number): Promise<number> {
    for (let i = 1; i <= 3; i++) {
      await this.command(a, 'step', steps, Math.sign(steps));
      if (!a.limitActive || (await this.switchReleased(a, SWITCH_RELEASE_WAIT_MS))) return i * Math.abs(steps);
    }
    throw new StageFault('switch-stuck', `stage axis ${a.name}: limit switch still pressed after backing off three times`);
  }

  /**
   * Wait for the switch's release to be reported. Our firmware reports a change on the loop that
   * sees it; ASSUMPTION: stock ConfigurableFirmata's DigitalInputFirmata reports within its
   * sampling interval (19 ms default, protocol.md "sampling interval"), settled by
   * DigitalInputFirmata.cpp report(). The wait ends on the report, so a generous bound costs
   * nothing when the link is quick.
   */
  private switchReleased(a: Axis, ms: number): Promise<boolean> {
    const pin = a.cfg.limitPin;
    if (!a.limitActive || pin === undefined) return Promise.resolve(true);
    const b = this.board;
    const event = `digital-read-${pin}`;
    return new Promise<boolean>((resolve) => {
      const onReport = (() => {
        if (a.limitActive) return;
        clearTimeout(timer);
        b.removeListener(event, onReport);
        resolve(true);
      }) as (...args: never[]) => void;
      const timer = setTimeout(() => {
        b.removeListener(event, onReport);
        resolve(!a.limitActive);
      }, ms);
      b.on(event, onReport);
    });
  }

  protected energise(a: Axis): void {
    if (a.cfg.enablePin !== undefined) this.board.accelStepperEnable(a.dev, true);
  }

  protected deenergise(a: Axis): void {
    if (a.cfg.enablePin !== undefined) this.board.accelStepperEnable(a.dev, false);
  }

  protected stopMotion(a: Axis): void {
    try {
      void this.stopAndResync(a);
    } catch (err) {
      this.log.error({ err, axis: a.name }, 'stage: cannot send STOP to the firmware');
    }
  }

  protected halt(a: Axis): void {
    try {
      void this.stopAndResync(a);
      // STOP already halts the pulses; cutting the driver also drops the holding torque
      this.deenergise(a);
    } catch (err) {
      this.log.error({ err, axis: a.name }, 'stage: cannot send e-stop to the firmware');
    }
  }

  /**
   * STOP, then ask for the position and ZERO: clears the speed AccelStepper keeps after a STOP
   * (see the header) and moves the halted position into offsetSteps. Every move-complete the
   * firmware sends before the position report carries that same halted position, so nothing
   * arriving later can refer to the old frame.
   */
  private stopAndResync(a: Axis): Promise<void> {
    if (a.resync) return a.resync;
    const b = this.board;
    const posEvent = `stepper-position-${a.dev}`;
    const settled = new Promise<void>((resolve) => {
      const onPos = ((pos: number) => {
        clearTimeout(timer);
        b.removeListener(posEvent, onPos);
        b.accelStepperZero(a.dev);
        a.offsetSteps += pos;
        a.counter = 0;
        resolve();
      }) as (...args: never[]) => void;
      const timer = setTimeout(() => {
        b.removeListener(posEvent, onPos);
        a.homed = false;
        this.lastFault = `stage axis ${a.name}: no position report after STOP; position unknown`;
        this.log.error({ axis: a.name }, this.lastFault);
        resolve();
      }, RESYNC_TIMEOUT_MS);
      b.on(posEvent, onPos);
      b.accelStepperStop(a.dev);
      b.accelStepperReportPosition(a.dev);
    });
    const tracked = settled.finally(() => {
      if (a.resync === tracked) a.resync = undefined;
    });
    a.resync = tracked;
    return tracked;
  }

  protected release(a: Axis): void {
    try {
      this.board.accelStepperStop(a.dev);
      this.board.accelStepperZero(a.dev);
      this.deenergise(a);
    } catch {
      // the port may already be gone
    }
  }

  protected override releaseShared(): Promise<void> {
    return new Promise<void>((r) => (this.transport.close ? this.transport.close(() => r()) : r()));
  }

  /**
   * Send a 'to' (absolute, firmware counter) or 'step' (relative) move and wait for the firmware's
   * move-complete report. direction tells which way the carriage goes so that a limit switch
   * closing ahead of it stops the move (unless the switch is expected there). Every way a move
   * ends early goes through stopAndResync before the promise settles, except cancel (abort,
   * e-stop, close), whose caller has already sent the STOP: it rejects at once and the next
   * motion waits for the resync.
   */
  private async command(a: Axis, kind: 'to' | 'step', value: number, direction: number, switchExpected = false): Promise<MoveResult> {
    if (a.resync) await a.resync;
    const refused = this.motionRefusal(a);
    if (refused) throw refused;
    const towardSwitch = direction !== 0 && direction === (a.cfg.homeDirection === 'min' ? -1 : 1);
    const stopsOnSwitch = towardSwitch && !switchExpected;
    const b = this.board;
    if ((kind === 'to' && value === a.counter) || (kind === 'step' && value === 0)) return { reason: 'done', counter: a.counter };
    // already on the switch: do not push into it
    if (stopsOnSwitch && a.limitActive) return { reason: 'limit', counter: a.counter };
    return new Promise<MoveResult>((resolve, reject) => {
      let stopping = false;
      let finished = false;
      const limitEvent = a.cfg.limitPin !== undefined ? `digital-read-${a.cfg.limitPin}` : undefined;
      const finish = (settle: () => void): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        if (limitEvent) b.removeListener(limitEvent, onLimit);
        a.onComplete = undefined;
        a.cancel = undefined;
        settle();
      };
      const stopThen = (settle: () => void): void => {
        if (stopping || finished) return;
        stopping = true;
        void this.stopAndResync(a).then(() => finish(settle));
      };
      a.onComplete = (counter) => {
        if (!stopping) finish(() => resolve({ reason: 'done', counter }));
      };
      const onLimit = (() => {
        // the axis' own listener (registered first) has already updated limitActive
        if (stopsOnSwitch && a.limitActive) stopThen(() => resolve({ reason: 'limit', counter: a.counter }));
      }) as (...args: never[]) => void;
      const timer = setTimeout(() => {
        stopThen(() =>
          reject(new StageFault('timeout', `stage axis ${a.name}: move did not complete within ${this.opts.motionTimeoutMs} ms; stopped`)),
        );
      }, this.opts.motionTimeoutMs);
      a.cancel = (err) => finish(() => reject(err));
      if (limitEvent) b.on(limitEvent, onLimit);
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
