import type { StageAxisConfig } from '../../config/hardware.ts';
import { UserError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import {
  type AxisStatus,
  type FaultSink,
  type MoveOptions,
  type MultiMoveOptions,
  type Stage,
  StageFault,
  type StageStatus,
} from './types.ts';

/*
 * What every stage driver does the same way whatever wire it speaks: axis lookup, soft limits,
 * argument checks, the status snapshot, one motion per axis, e-stop and close bookkeeping, fault
 * reporting, abort signals. A driver supplies only its protocol through the abstract hooks below,
 * so a rule (e.g. "an e-stop latches until resetEstop()", "no absolute move before homing") holds
 * for every driver by construction.
 */

/** Per-axis state the shared logic reads and writes; drivers extend it with their protocol's own. */
export interface AxisState {
  name: string;
  cfg: StageAxisConfig;
  /** driver pulses per µm (full steps × microstepping) */
  stepsPerUm: number;
  limitActive: boolean;
  homed: boolean;
  busy: boolean;
  targetUm?: number;
  /** set while a motion is in flight: aborts it with the given fault */
  cancel?: (err: StageFault) => void;
  /** set when the running operation was aborted: every further motion of it is refused */
  abortedBy?: StageFault;
}

/** How a motion ended when it did not fail: reached its target, or stopped on the limit switch. */
export type MotionEnd = 'done' | 'limit';

/** What a driver needs to know about the motion it is asked for, beyond the target. */
export interface Motion {
  /** cruise speed as a fraction of the axis' maxSpeedUmS, in (0, 1] */
  speedFraction: number;
  /**
   * The home switch may close on this motion without it counting as a hit: a homed axis sent to
   * (or near) its home end reaches the switch by design.
   */
  switchExpected: boolean;
}

/** Validate an axis' configuration and build its protocol-independent state. */
export function initialAxisState(name: string, cfg: StageAxisConfig): AxisState {
  if (cfg.minUm >= cfg.maxUm) throw new UserError(`stage axis ${name}: minUm ${cfg.minUm} must be below maxUm ${cfg.maxUm}`);
  return {
    name,
    cfg,
    stepsPerUm: cfg.stepsPerUm * cfg.microstep,
    limitActive: false,
    homed: false,
    busy: false,
  };
}

/** The soft-limit end the home switch sits at. */
export function homeEndUm(cfg: StageAxisConfig): number {
  return cfg.homeDirection === 'min' ? cfg.minUm : cfg.maxUm;
}

/**
 * How close to the home end a homed axis may be sent before its switch closing counts as
 * expected rather than a hit: half the homing back-off (the switch was found from that far out,
 * so its closing point is known to well within it), at most 5% of the travel.
 */
export function switchZoneUm(cfg: StageAxisConfig): number {
  return Math.min(cfg.homeBackoffUm / 2, (cfg.maxUm - cfg.minUm) / 20);
}

interface PlannedMove {
  a: AxisState;
  um: number;
  motion: Motion;
}

export abstract class StageBase<A extends AxisState> implements Stage {
  abstract readonly kind: string;
  readonly axes: string[];
  protected readonly ax = new Map<string, A>();
  protected estopped = false;
  protected closed = false;
  protected lastFault: string | undefined;

  protected constructor(
    axes: Record<string, StageAxisConfig>,
    protected readonly log: Logger,
    protected readonly onFault: FaultSink,
  ) {
    this.axes = Object.keys(axes);
    for (const [name, cfg] of Object.entries(axes)) {
      if (cfg.allowUnhomedMoves) {
        log.warn(
          { axis: name },
          `stage axis ${name}: allowUnhomedMoves is set — absolute moves before homing trust a position nobody checked, and soft limits may not hold`,
        );
      }
    }
  }

  /** Position of the axis in steps of the host frame (µm × stepsPerUm). */
  protected abstract positionSteps(a: A): number;
  /** Drive to `um` (already validated), stopping early on the limit switch unless it is expected. */
  protected abstract driveTo(a: A, um: number, m: Motion): Promise<MotionEnd>;
  /** The homing sequence proper; runs guarded, with targetUm set to the home end. */
  protected abstract seekHome(a: A): Promise<void>;
  /** Power the driver before a motion. */
  protected abstract energise(a: A): Promise<void> | void;
  /** Cut the driver when parked. */
  protected abstract deenergise(a: A): Promise<void> | void;
  /** Stop the axis' motion promptly, keeping the driver powered (abort); must not throw. */
  protected abstract stopMotion(a: A): void;
  /** Halt the axis at once on an e-stop and cut the driver; must not throw (log instead). */
  protected abstract halt(a: A): void;
  /** Release the axis' hardware on close; must not throw. */
  protected abstract release(a: A): Promise<void> | void;
  /** Release what the axes share (a serial port...) after every axis is released. */
  protected async releaseShared(): Promise<void> {}
  /**
   * Settles once positionSteps() can be trusted again, e.g. after a STOP whose halted position the
   * firmware has yet to report; undefined when it already can.
   */
  protected positionSettled(_a: A): Promise<void> | undefined {
    return undefined;
  }

  protected axis(name: string): A {
    const a = this.ax.get(name);
    if (!a) throw new UserError(`unknown stage axis "${name}" (have: ${this.axes.join(', ') || 'none'})`);
    return a;
  }

  position(axis: string): number {
    const a = this.axis(axis);
    return this.positionSteps(a) / a.stepsPerUm;
  }

  status(): StageStatus {
    const axes: Record<string, AxisStatus> = {};
    for (const a of this.ax.values()) {
      axes[a.name] = {
        positionUm: this.positionSteps(a) / a.stepsPerUm,
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

  moveBy(axis: string, deltaUm: number, opts: MoveOptions = {}): Promise<void> {
    return this.move({ [axis]: deltaUm }, { ...opts, relative: true });
  }

  moveTo(axis: string, um: number, opts: MoveOptions = {}): Promise<void> {
    return this.move({ [axis]: um }, { ...opts, relative: false });
  }

  async move(targets: Record<string, number>, opts: MultiMoveOptions = {}): Promise<void> {
    if (opts.signal?.aborted) throw new StageFault('aborted', 'stage move: aborted before it started');
    // a relative target is computed from the position: an abort or e-stop rejects its move at once,
    // before the halted position is known, and a move planned then would start from a stale one
    for (const name of Object.keys(targets)) await this.positionSettled(this.axis(name));
    // every axis is checked before the first one moves: a bad y must not leave x moved
    const plan = Object.entries(targets).map(([name, v]) => this.planMove(name, v, opts));
    if (plan.length === 0) throw new UserError('stage move: name at least one axis');
    const names = new Set<string>();
    for (const p of plan) {
      if (names.has(p.a.name)) throw new UserError(`stage move: axis ${p.a.name} named twice`);
      names.add(p.a.name);
    }
    for (const { a, um, motion } of plan) {
      this.assertCanMove(a as A);
      a.targetUm = um;
      await this.guarded(a as A, opts.signal, async () => {
        if ((await this.driveTo(a as A, um, motion)) === 'limit') {
          a.homed = false;
          throw new StageFault(
            'limit-hit',
            `stage axis ${a.name}: limit switch hit at ${this.position(a.name).toFixed(1)} µm; re-home the axis`,
          );
        }
      });
    }
  }

  private planMove(axis: string, value: number, opts: MultiMoveOptions): PlannedMove {
    const a = this.axis(axis);
    this.assertCanMove(a);
    const what = opts.relative ? 'distance' : 'target';
    if (!Number.isFinite(value)) throw new UserError(`stage move: ${what} must be a finite number of µm, got ${value}`);
    const { minUm, maxUm, maxSpeedUmS } = a.cfg;
    let speedFraction = 1;
    if (opts.speedUmS !== undefined) {
      if (!Number.isFinite(opts.speedUmS) || opts.speedUmS <= 0) {
        throw new UserError(`stage move: speedUmS must be a positive number, got ${opts.speedUmS}`);
      }
      if (opts.speedUmS > maxSpeedUmS) {
        throw new UserError(`stage axis ${axis}: speedUmS ${opts.speedUmS} exceeds the axis' maxSpeedUmS ${maxSpeedUmS}`);
      }
      speedFraction = opts.speedUmS / maxSpeedUmS;
    }
    let um: number;
    if (opts.relative && !a.homed && !a.cfg.allowUnhomedMoves) {
      // jogging an unhomed axis: the frame is unknown, so only the travel is bounded
      if (Math.abs(value) > maxUm - minUm) {
        throw new UserError(`stage axis ${axis}: a ${value} µm move is longer than the axis' travel (${maxUm - minUm} µm)`);
      }
      um = this.position(axis) + value;
    } else {
      um = opts.relative ? this.position(axis) + value : value;
      if (um < minUm || um > maxUm) {
        throw new UserError(`stage axis ${axis}: target ${um} µm is outside the soft limits [${minUm}, ${maxUm}] µm`);
      }
      if (!a.homed) {
        if (!a.cfg.allowUnhomedMoves) {
          throw new UserError(
            `stage axis ${axis} is not homed: its soft limits are not limits yet; home it first (or set allowUnhomedMoves for an axis without a switch)`,
          );
        }
        this.log.warn({ axis, targetUm: um }, `stage axis ${axis}: absolute move before homing (allowUnhomedMoves)`);
      }
    }
    const switchExpected = a.homed && Math.abs(um - homeEndUm(a.cfg)) <= switchZoneUm(a.cfg);
    return { a, um, motion: { speedFraction, switchExpected } };
  }

  async home(axis?: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.closed) throw new StageFault('closed', 'stage is closed');
    if (opts.signal?.aborted) throw new StageFault('aborted', 'stage home: aborted before it started');
    const names = axis === undefined ? this.axes : [axis];
    for (const n of names) this.axis(n);
    // homing is a motion like any other: an e-stop stays latched until resetEstop()
    for (const n of names) this.assertCanMove(this.axis(n));
    for (const n of names) await this.homeAxis(this.axis(n), opts.signal);
  }

  private async homeAxis(a: A, signal: AbortSignal | undefined): Promise<void> {
    if (a.cfg.limitPin === undefined) throw new UserError(`stage axis ${a.name} has no limit switch (limitPin); it cannot be homed`);
    this.assertCanMove(a);
    a.targetUm = homeEndUm(a.cfg);
    a.homed = false;
    await this.guarded(a, signal, () => this.seekHome(a));
  }

  estop(): void {
    this.estopped = true;
    for (const a of this.ax.values()) {
      a.homed = false;
      this.halt(a);
      a.cancel?.(new StageFault('estop', `stage axis ${a.name}: emergency stop`));
    }
    this.log.warn('stage: emergency stop (latched until reset)');
  }

  resetEstop(): void {
    if (!this.estopped) return;
    this.estopped = false;
    this.log.warn('stage: emergency stop reset; axes must be homed before absolute moves');
  }

  async park(): Promise<void> {
    for (const a of this.ax.values()) {
      if (a.homed && !this.estopped) await this.moveTo(a.name, homeEndUm(a.cfg));
      await this.deenergise(a);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.ax.values()) {
      a.cancel?.(new StageFault('closed', `stage axis ${a.name}: stage closed during a move`));
      await this.release(a);
    }
    await this.releaseShared();
  }

  /** Why a motion may not start now (closed, e-stopped, aborted), or undefined when it may. */
  protected motionRefusal(a: A): StageFault | undefined {
    if (this.estopped) return new StageFault('estop', `stage axis ${a.name}: emergency stop`);
    if (this.closed) return new StageFault('closed', 'stage is closed');
    return a.abortedBy;
  }

  private assertCanMove(a: A): void {
    if (this.closed) throw new StageFault('closed', 'stage is closed');
    if (this.estopped) throw new StageFault('estop', 'stage is emergency-stopped; reset the e-stop, then home it to resume');
    if (a.busy) throw new StageFault('busy', `stage axis ${a.name} is already moving`);
  }

  /** one motion at a time per axis; faults are recorded and rethrown to the caller */
  private async guarded(a: A, signal: AbortSignal | undefined, body: () => Promise<void>): Promise<void> {
    if (signal?.aborted) throw new StageFault('aborted', `stage axis ${a.name}: aborted before it started`);
    a.busy = true;
    a.abortedBy = undefined;
    const onAbort = (): void => {
      const fault = new StageFault('aborted', `stage axis ${a.name}: motion aborted`);
      a.abortedBy = fault;
      // a sudden stop at speed can lose steps: the position is no longer trusted for soft limits
      a.homed = false;
      this.stopMotion(a);
      a.cancel?.(fault);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.energise(a);
      await body();
    } catch (err) {
      const fault =
        err instanceof StageFault || err instanceof UserError
          ? err
          : new StageFault('io', `stage axis ${a.name}: ${(err as Error).message}`);
      // an abort the caller asked for is not a device fault
      if (fault instanceof StageFault && fault.code !== 'aborted') {
        this.lastFault = fault.message;
        this.log.error({ axis: a.name, code: fault.code }, fault.message);
        this.onFault('stage', fault);
      }
      throw fault;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      a.busy = false;
      a.targetUm = undefined;
    }
  }
}
