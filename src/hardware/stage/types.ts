export interface AxisStatus {
  positionUm: number;
  homed: boolean;
  moving: boolean;
  /** logical state of the limit switch (true = pressed); false when the axis has none */
  limit: boolean;
  targetUm?: number;
}

export interface StageStatus {
  kind: string;
  estopped: boolean;
  axes: Record<string, AxisStatus>;
  lastFault?: string;
}

/** Per-motion options: both optional; bad values are refused before anything moves. */
export interface MoveOptions {
  /** cruise speed for this motion, µm/s, at most the axis' maxSpeedUmS */
  speedUmS?: number;
  /** aborting stops the motion promptly (the axis halts, the promise rejects with code "aborted") */
  signal?: AbortSignal;
}

export interface MultiMoveOptions extends MoveOptions {
  /** targets are offsets from the current positions */
  relative?: boolean;
}

/**
 * A motorized stage. Positions are in µm in the stage's own frame (after homing: the home switch
 * sits at minUm or maxUm). Moves outside the soft limits are refused with a UserError; hardware
 * problems (missed switch, timeout, e-stop) reject with StageFault and never throw asynchronously.
 */
export interface Stage {
  readonly kind: string;
  readonly axes: string[];
  /** home one axis or all; refused while e-stopped (home() never clears the e-stop) */
  home(axis?: string, opts?: { signal?: AbortSignal }): Promise<void>;
  /** absolute move; refused on an axis that is not homed unless its allowUnhomedMoves is set */
  moveTo(axis: string, um: number, opts?: MoveOptions): Promise<void>;
  moveBy(axis: string, deltaUm: number, opts?: MoveOptions): Promise<void>;
  /** several axes, one after another; every target is checked before any axis moves */
  move(targets: Record<string, number>, opts?: MultiMoveOptions): Promise<void>;
  position(axis: string): number;
  status(): StageStatus;
  /**
   * Halt every axis now and latch: in-flight moves reject with code "estop", every axis loses its
   * home, and every motion (home included) is refused until resetEstop().
   */
  estop(): void;
  /** clear the e-stop latch; moves nothing (absolute moves still need homing) */
  resetEstop(): void;
  /** move to the home end and de-energise the drivers */
  park(): Promise<void>;
  close(): Promise<void>;
}

export type StageFaultCode = 'limit-hit' | 'home-not-found' | 'switch-stuck' | 'timeout' | 'estop' | 'aborted' | 'busy' | 'io' | 'closed';

/** Shape-compatible with the hardware fault registry (device + message + code). */
export class StageFault extends Error {
  override name = 'StageFault';
  readonly device: string;
  constructor(
    readonly code: StageFaultCode,
    message: string,
    device = 'stage',
  ) {
    super(message);
    this.device = device;
  }
}

export type FaultSink = (device: string, err: Error) => void;
