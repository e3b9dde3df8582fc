import type { StageAxisConfig } from '../../config/hardware.ts';
import { UserError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { Bit, GpioChip, GpioLine } from '../gpio/types.ts';
import { trapezoid } from './profile.ts';
import { type AxisStatus, type FaultSink, type Stage, StageFault, type StageStatus } from './types.ts';

/*
 * STEP/DIR/ENABLE stepper driving from Node.
 *
 * Step timing is generated in software: every `tickMs` the loop asks the trapezoidal profile how
 * many steps should have happened by now and emits the missing ones as a burst of STEP pulses.
 * Node cannot time individual pulses (timers have ~1 ms granularity, sysfs writes take tens of µs,
 * garbage collection pauses), so the motor sees bursts rather than an even pulse train: fine for
 * positioning a microscope stage slowly, rough at speed. For smooth, fast motion use the Firmata
 * bridge (firmware-bridge/), where AccelStepper times pulses on the microcontroller.
 */

export interface GpioStepperOptions {
  axes: Record<string, StageAxisConfig>;
  debounceMs: number;
  motionTimeoutMs: number;
  /** scheduling granularity of the step loop */
  tickMs?: number;
  /** homing seek speed as a fraction of maxSpeed; the re-approach uses a tenth of that */
  homingSpeedFraction?: number;
}

interface Axis {
  name: string;
  cfg: StageAxisConfig;
  stepsPerUm: number;
  step: GpioLine;
  dir: GpioLine;
  enable?: GpioLine;
  limit?: GpioLine;
  limitActive: boolean;
  unwatch?: () => void;
  posSteps: number;
  homed: boolean;
  targetUm?: number;
  busy: boolean;
  cancel?: (err: StageFault) => void;
}

type RunResult = { reason: 'done' | 'limit'; steps: number };

export class GpioStepperStage implements Stage {
  readonly kind = 'gpio';
  readonly axes: string[];
  private readonly ax = new Map<string, Axis>();
  private estopped = false;
  private closed = false;
  private lastFault: string | undefined;
  private readonly tickMs: number;
  private readonly homingFraction: number;

  private constructor(
    private readonly opts: GpioStepperOptions,
    private readonly log: Logger,
    private readonly onFault: FaultSink,
  ) {
    this.axes = Object.keys(opts.axes);
    this.tickMs = opts.tickMs ?? 2;
    this.homingFraction = opts.homingSpeedFraction ?? 0.5;
  }

  static async open(chip: GpioChip, opts: GpioStepperOptions, log: Logger, onFault: FaultSink = () => {}): Promise<GpioStepperStage> {
    const stage = new GpioStepperStage(opts, log, onFault);
    try {
      for (const [name, cfg] of Object.entries(opts.axes)) {
        if (cfg.minUm >= cfg.maxUm) throw new UserError(`stage axis ${name}: minUm ${cfg.minUm} must be below maxUm ${cfg.maxUm}`);
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
          name,
          cfg,
          stepsPerUm: cfg.stepsPerUm * cfg.microstep,
          step,
          dir,
          enable,
          limit,
          limitActive: limit ? (await limit.read()) === 1 : false,
          posSteps: 0,
          homed: false,
          busy: false,
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

  private axis(name: string): Axis {
    const a = this.ax.get(name);
    if (!a) throw new UserError(`unknown stage axis "${name}" (have: ${this.axes.join(', ') || 'none'})`);
    return a;
  }

  position(axis: string): number {
    const a = this.axis(axis);
    return a.posSteps / a.stepsPerUm;
  }

  status(): StageStatus {
    const axes: Record<string, AxisStatus> = {};
    for (const a of this.ax.values()) {
      axes[a.name] = {
        positionUm: a.posSteps / a.stepsPerUm,
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
    const delta = Math.round(um * a.stepsPerUm) - a.posSteps;
    a.targetUm = um;
    await this.guarded(a, async () => {
      const r = await this.run(a, delta, 1, { stopOnLimit: true });
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
    if (!a.limit) throw new UserError(`stage axis ${a.name} has no limit switch (limitPin); it cannot be homed`);
    this.assertCanMove(a);
    const toward = a.cfg.homeDirection === 'min' ? -1 : 1;
    const range = a.cfg.maxUm - a.cfg.minUm;
    const backoff = Math.min(a.cfg.homeBackoffUm, range / 2);
    const fast = this.homingFraction;
    const slow = fast / 10;
    a.targetUm = a.cfg.homeDirection === 'min' ? a.cfg.minUm : a.cfg.maxUm;
    await this.guarded(a, async () => {
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
      a.posSteps = Math.round((a.cfg.homeDirection === 'min' ? a.cfg.minUm : a.cfg.maxUm) * a.stepsPerUm);
      a.homed = true;
    });
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

  estop(): void {
    this.estopped = true;
    for (const a of this.ax.values()) {
      a.homed = false;
      a.cancel?.(new StageFault('estop', `stage axis ${a.name}: emergency stop`));
      // de-energise right away; failures here are logged, an e-stop must not throw
      a.enable?.write(0).catch((err: Error) => this.log.error({ err, axis: a.name }, 'stage: cannot disable driver on e-stop'));
    }
    this.log.warn('stage: emergency stop');
  }

  async park(): Promise<void> {
    for (const a of this.ax.values()) {
      if (a.homed && !this.estopped) await this.moveTo(a.name, a.cfg.homeDirection === 'min' ? a.cfg.minUm : a.cfg.maxUm);
      await a.enable?.write(0);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.ax.values()) {
      a.cancel?.(new StageFault('closed', `stage axis ${a.name}: stage closed during a move`));
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
  }

  private assertCanMove(a: Axis): void {
    if (this.closed) throw new StageFault('closed', 'stage is closed');
    if (this.estopped) throw new StageFault('estop', 'stage is emergency-stopped; home it to resume');
    if (a.busy) throw new StageFault('busy', `stage axis ${a.name} is already moving`);
  }

  /** one motion at a time per axis; faults are recorded and rethrown to the caller */
  private async guarded(a: Axis, body: () => Promise<void>): Promise<void> {
    a.busy = true;
    try {
      await a.enable?.write(1);
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
   * Emit `delta` steps (sign = direction) following a trapezoid scaled by speedFraction of the
   * axis' maximum speed. Stops early on the limit switch when moving toward it.
   */
  private run(a: Axis, delta: number, speedFraction: number, o: { stopOnLimit: boolean }): Promise<RunResult> {
    if (this.estopped) return Promise.reject(new StageFault('estop', `stage axis ${a.name}: emergency stop`));
    if (this.closed) return Promise.reject(new StageFault('closed', 'stage is closed'));
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
            await a.step.write(1);
            await a.step.write(0);
            a.posSteps += sign;
            done++;
          }
          if (finished) return;
          if (o.stopOnLimit && towardSwitch && a.limitActive) {
            finish(undefined, { reason: 'limit', steps: done });
            return;
          }
          if (done >= distance) {
            finish(undefined, { reason: 'done', steps: done });
            return;
          }
          timer = setTimeout(() => void tick(), this.tickMs);
        } catch (err) {
          finish(new StageFault('io', `stage axis ${a.name}: GPIO write failed: ${(err as Error).message}`));
        }
      };

      a.dir
        .write((sign > 0 ? 1 : 0) as Bit)
        .then(() => {
          if (!finished) timer = setTimeout(() => void tick(), 0);
        })
        .catch((err: Error) => finish(new StageFault('io', `stage axis ${a.name}: GPIO write failed: ${err.message}`)));
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
