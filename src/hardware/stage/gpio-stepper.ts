import type { StageAxisConfig } from '../../config/hardware.ts';
import type { Logger } from '../../log.ts';
import type { Bit, GpioChip, GpioLine } from '../gpio/types.ts';
import { type AxisState, homeEndUm, initialAxisState, type Motion, type MotionEnd, StageBase } from './base.ts';
import { trapezoid } from './profile.ts';
import { SAFE_STEP_TIMING, type StepPulseTiming } from './step-timing.ts';
import { type FaultSink, StageFault } from './types.ts';

/*
 * STEP/DIR/ENABLE stepper driving from Node.
 *
 * Step timing is generated in software: every `tickMs` the loop asks the trapezoidal profile how
 * many steps should have happened by now and emits the missing ones as a burst of STEP pulses.
 * Node cannot time individual pulses (timers have ~1 ms granularity, sysfs writes take tens of µs,
 * garbage collection pauses), so the motor sees bursts rather than an even pulse train: fine for
 * positioning a microscope stage slowly, rough at speed. For smooth, fast motion use the Firmata
 * bridge (firmware-bridge/), where the microcontroller times the pulses.
 *
 * Within a burst the driver's minimum timing is waited out in code (busy-waiting on the
 * monotonic clock, see step-timing.ts): STEP high and low widths, DIR setup before and hold after
 * a STEP edge. A GPIO write that returns has set the level, so the clock is read after it returns
 * and the waits can only come out longer than the minimum, never shorter.
 */

export interface GpioStepperOptions {
  axes: Record<string, StageAxisConfig>;
  debounceMs: number;
  motionTimeoutMs: number;
  /** scheduling granularity of the step loop */
  tickMs?: number;
  /** homing seek speed as a fraction of maxSpeed; the re-approach uses a tenth of that */
  homingSpeedFraction?: number;
  /** STEP/DIR minimum timing to enforce; default: the strictest of A4988, DRV8825, TMC2209 */
  pulse?: StepPulseTiming;
}

interface Axis extends AxisState {
  step: GpioLine;
  dir: GpioLine;
  enable?: GpioLine;
  limit?: GpioLine;
  unwatch?: () => void;
  posSteps: number;
  /** level DIR was last set to (undefined: not yet driven) */
  dirLevel?: Bit;
  /** monotonic ns of the last DIR change, STEP rising and STEP falling edges */
  dirAt: bigint;
  riseAt: bigint;
  fallAt: bigint;
}

type RunResult = { reason: MotionEnd; steps: number };

export class GpioStepperStage extends StageBase<Axis> {
  readonly kind = 'gpio';
  private readonly tickMs: number;
  private readonly homingFraction: number;
  private readonly pulse: StepPulseTiming;

  private constructor(
    private readonly opts: GpioStepperOptions,
    log: Logger,
    onFault: FaultSink,
  ) {
    super(opts.axes, log, onFault);
    this.tickMs = opts.tickMs ?? 2;
    this.homingFraction = opts.homingSpeedFraction ?? 0.5;
    this.pulse = opts.pulse ?? SAFE_STEP_TIMING;
  }

  static async open(chip: GpioChip, opts: GpioStepperOptions, log: Logger, onFault: FaultSink = () => {}): Promise<GpioStepperStage> {
    const stage = new GpioStepperStage(opts, log, onFault);
    try {
      for (const [name, cfg] of Object.entries(opts.axes)) {
        const state = initialAxisState(name, cfg);
        const step = await chip.line(cfg.stepPin, 'out');
        const dir = await chip.line(cfg.dirPin, 'out');
        await step.write(0);
        const enable =
          cfg.enablePin !== undefined
            ? await chip.line(cfg.enablePin, 'out', {
                activeLow: cfg.enableActiveLow,
              })
            : undefined;
        await enable?.write(1);
        const limit =
          cfg.limitPin !== undefined
            ? await chip.line(cfg.limitPin, 'in', {
                edge: 'both',
                debounceMs: opts.debounceMs,
                activeLow: cfg.limitActiveLow,
              })
            : undefined;
        const axis: Axis = {
          ...state,
          step,
          dir,
          enable,
          limit,
          limitActive: limit ? (await limit.read()) === 1 : false,
          posSteps: 0,
          dirAt: 0n,
          riseAt: 0n,
          fallAt: 0n,
        };
        if (limit) axis.unwatch = limit.watch((v) => (axis.limitActive = v === 1));
        stage.ax.set(name, axis);
      }
    } catch (err) {
      await stage.close();
      throw err;
    }
    return stage;
  }

  protected positionSteps(a: Axis): number {
    return a.posSteps;
  }

  protected async driveTo(a: Axis, um: number, m: Motion): Promise<MotionEnd> {
    const delta = Math.round(um * a.stepsPerUm) - a.posSteps;
    return (await this.run(a, delta, m.speedFraction, { stopOnLimit: !m.switchExpected })).reason;
  }

  protected async seekHome(a: Axis): Promise<void> {
    const toward = a.cfg.homeDirection === 'min' ? -1 : 1;
    const range = a.cfg.maxUm - a.cfg.minUm;
    const backoff = Math.min(a.cfg.homeBackoffUm, range / 2);
    const fast = this.homingFraction;
    const slow = fast / 10;
    if (a.limitActive) await this.backOff(a, -toward, backoff, fast);
    const maxTravel = Math.round((range * 1.1 + backoff) * a.stepsPerUm);
    const seek = await this.run(a, toward * maxTravel, fast, {
      stopOnLimit: true,
    });
    if (seek.reason !== 'limit') {
      a.homed = false;
      throw new StageFault(
        'home-not-found',
        `stage axis ${a.name}: homing travelled ${(maxTravel / a.stepsPerUm).toFixed(0)} µm without reaching the limit switch (check wiring of GPIO ${a.cfg.limitPin})`,
      );
    }
    await this.backOff(a, -toward, backoff, fast);
    const approach = await this.run(a, toward * Math.round(2 * backoff * a.stepsPerUm), slow, { stopOnLimit: true });
    if (approach.reason !== 'limit') {
      throw new StageFault('home-not-found', `stage axis ${a.name}: limit switch not found again on the slow approach`);
    }
    a.posSteps = Math.round(homeEndUm(a.cfg) * a.stepsPerUm);
    a.homed = true;
  }

  private async backOff(a: Axis, direction: number, backoffUm: number, speed: number): Promise<void> {
    await this.run(a, direction * Math.round(backoffUm * a.stepsPerUm), speed, {
      stopOnLimit: false,
    });
    // give the debouncer time to report the release before judging the switch stuck
    await delay(Math.max(this.opts.debounceMs * 2, this.tickMs));
    if (a.limitActive) {
      throw new StageFault('switch-stuck', `stage axis ${a.name}: limit switch still pressed after backing off ${backoffUm} µm`);
    }
  }

  protected async energise(a: Axis): Promise<void> {
    await a.enable?.write(1);
  }

  protected async deenergise(a: Axis): Promise<void> {
    await a.enable?.write(0);
  }

  protected stopMotion(_a: Axis): void {
    // nothing to send: the step loop stops at its next check once the motion is cancelled
  }

  protected halt(a: Axis): void {
    // de-energise right away; failures here are logged, an e-stop must not throw
    a.enable?.write(0).catch((err: Error) => this.log.error({ err, axis: a.name }, 'stage: cannot disable driver on e-stop'));
  }

  protected async release(a: Axis): Promise<void> {
    a.unwatch?.();
    for (const l of [a.enable, a.step, a.dir, a.limit]) {
      try {
        if (l === a.enable) await l?.write(0);
        await l?.close();
      } catch (err) {
        this.log.warn({ err, axis: a.name }, 'stage: error releasing GPIO line');
      }
    }
  }

  /** Set DIR, first holding the old level past the last STEP rising edge. */
  private async setDir(a: Axis, level: Bit): Promise<void> {
    if (a.dirLevel === level) return;
    spinUntil(a.riseAt + BigInt(this.pulse.dirHoldNs));
    await a.dir.write(level);
    a.dirLevel = level;
    a.dirAt = process.hrtime.bigint();
  }

  /** One STEP pulse with the driver's minimum setup, high and low times. */
  private async pulseStep(a: Axis): Promise<void> {
    const p = this.pulse;
    const setupDone = a.dirAt + BigInt(p.dirSetupNs);
    const lowDone = a.fallAt + BigInt(p.lowNs);
    spinUntil(setupDone > lowDone ? setupDone : lowDone);
    await a.step.write(1);
    a.riseAt = process.hrtime.bigint();
    spinUntil(a.riseAt + BigInt(p.highNs));
    await a.step.write(0);
    a.fallAt = process.hrtime.bigint();
  }

  /**
   * Emit `delta` steps (sign = direction) following a trapezoid scaled by speedFraction of the
   * axis' maximum speed. Stops early on the limit switch when moving toward it.
   */
  private run(a: Axis, delta: number, speedFraction: number, o: { stopOnLimit: boolean }): Promise<RunResult> {
    const refused = this.motionRefusal(a);
    if (refused) return Promise.reject(refused);
    const distance = Math.abs(delta);
    if (distance === 0) return Promise.resolve({ reason: 'done', steps: 0 });
    const sign = delta > 0 ? 1 : -1;
    const towardSwitch = (a.cfg.homeDirection === 'min' ? -1 : 1) === sign;
    const vmax = a.cfg.maxSpeedUmS * a.stepsPerUm * speedFraction;
    const acc = a.cfg.accelUmS2 * a.stepsPerUm;
    const profile = trapezoid(distance, vmax, acc);
    const timeoutMs = this.opts.motionTimeoutMs;

    return new Promise<RunResult>((resolve, reject) => {
      let done = 0;
      let timer: NodeJS.Timeout | undefined;
      let finished = false;
      const t0 = performance.now();
      const finish = (err: Error | undefined, r?: RunResult): void => {
        if (finished) return;
        finished = true;
        if (timer) clearTimeout(timer);
        a.cancel = undefined;
        if (err) reject(err);
        else resolve(r as RunResult);
      };
      a.cancel = (err) => finish(err);

      const tick = async (): Promise<void> => {
        timer = undefined;
        try {
          const elapsed = performance.now() - t0;
          if (elapsed > timeoutMs) {
            finish(
              new StageFault(
                'timeout',
                `stage axis ${a.name}: move did not finish within ${timeoutMs} ms (${done}/${distance} steps); stopped`,
              ),
            );
            return;
          }
          const due = Math.min(distance, Math.floor(profile.positionAt(elapsed / 1000)));
          while (done < due && !finished) {
            if (o.stopOnLimit && towardSwitch && a.limitActive) {
              finish(undefined, { reason: 'limit', steps: done });
              return;
            }
            await this.pulseStep(a);
            a.posSteps += sign;
            done++;
          }
          if (finished) return;
          // a switch seen only after a burst still ends the move as a limit stop (homing relies on
          // it); a move whose switch is expected (a homed axis sent to its home end) does not
          // stop on the switch at all (stopOnLimit false)
          if (o.stopOnLimit && towardSwitch && a.limitActive) {
            finish(undefined, { reason: 'limit', steps: done });
            return;
          }
          if (done >= distance) {
            // a burst runs without yielding, so a switch it closed is reported (debounced) only
            // afterwards: let the debouncer speak before calling the move done
            if (o.stopOnLimit && towardSwitch && a.limit) await delay(this.opts.debounceMs * 2 + this.tickMs);
            if (finished) return;
            finish(undefined, { reason: o.stopOnLimit && towardSwitch && a.limitActive ? 'limit' : 'done', steps: done });
            return;
          }
          timer = setTimeout(() => void tick(), this.tickMs);
        } catch (err) {
          finish(new StageFault('io', `stage axis ${a.name}: GPIO write failed: ${(err as Error).message}`));
        }
      };

      this.setDir(a, (sign > 0 ? 1 : 0) as Bit)
        .then(() => {
          if (!finished) timer = setTimeout(() => void tick(), 0);
        })
        .catch((err: Error) => finish(new StageFault('io', `stage axis ${a.name}: GPIO write failed: ${err.message}`)));
    });
  }
}

/** Busy-wait until the monotonic clock reaches t (ns): the waits here are a few µs at most. */
function spinUntil(t: bigint): void {
  while (process.hrtime.bigint() < t) {
    // spin: a timer cannot wait less than a millisecond
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
