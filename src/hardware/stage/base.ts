import type { StageAxisConfig } from '../../config/hardware.ts';
import { UserError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { type AxisStatus, type FaultSink, type Stage, StageFault, type StageStatus } from './types.ts';

/*
 * What every stage driver does the same way whatever wire it speaks: axis lookup, soft limits,
 * argument checks, the status snapshot, one motion per axis, e-stop and close bookkeeping, fault
 * reporting. A driver supplies only its protocol through the abstract hooks below, so a rule
 * (e.g. "no move after an e-stop until re-homed") holds for every driver by construction.
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
}

/** How a motion ended when it did not fail: reached its target, or stopped on the limit switch. */
export type MotionEnd = 'done' | 'limit';

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
  }

  /** Position of the axis in steps of the host frame (µm × stepsPerUm). */
  protected abstract positionSteps(a: A): number;
  /** Drive to `um` (already validated) at full speed, stopping early on the limit switch. */
  protected abstract driveTo(a: A, um: number): Promise<MotionEnd>;
  /** The homing sequence proper; runs guarded, with targetUm set to the home end. */
  protected abstract seekHome(a: A): Promise<void>;
  /** Power the driver before a motion. */
  protected abstract energise(a: A): Promise<void> | void;
  /** Cut the driver when parked. */
  protected abstract deenergise(a: A): Promise<void> | void;
  /** Halt the axis at once on an e-stop; must not throw (log instead). */
  protected abstract halt(a: A): void;
  /** Release the axis' hardware on close; must not throw. */
  protected abstract release(a: A): Promise<void> | void;
  /** Release what the axes share (a serial port...) after every axis is released. */
  protected async releaseShared(): Promise<void> {}

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
    await this.guarded(a, async () => {
      if ((await this.driveTo(a, um)) === 'limit') {
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

  private async homeAxis(a: A): Promise<void> {
    if (a.cfg.limitPin === undefined) throw new UserError(`stage axis ${a.name} has no limit switch (limitPin); it cannot be homed`);
    this.assertCanMove(a);
    a.targetUm = homeEndUm(a.cfg);
    await this.guarded(a, () => this.seekHome(a));
  }

  estop(): void {
    this.estopped = true;
    for (const a of this.ax.values()) {
      a.homed = false;
      this.halt(a);
      a.cancel?.(new StageFault('estop', `stage axis ${a.name}: emergency stop`));
    }
    this.log.warn('stage: emergency stop');
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

  /** Why a motion may not start now (closed, e-stopped), or undefined when it may. */
  protected motionRefusal(a: A): StageFault | undefined {
    if (this.estopped) return new StageFault('estop', `stage axis ${a.name}: emergency stop`);
    if (this.closed) return new StageFault('closed', 'stage is closed');
    return undefined;
  }

  private assertCanMove(a: A): void {
    if (this.closed) throw new StageFault('closed', 'stage is closed');
    if (this.estopped) throw new StageFault('estop', 'stage is emergency-stopped; home it to resume');
    if (a.busy) throw new StageFault('busy', `stage axis ${a.name} is already moving`);
  }

  /** one motion at a time per axis; faults are recorded and rethrown to the caller */
  private async guarded(a: A, body: () => Promise<void>): Promise<void> {
    a.busy = true;
    try {
      await this.energise(a);
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
}
