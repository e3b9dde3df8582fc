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

/**
 * A motorized stage. Positions are in µm in the stage's own frame (after homing: the home switch
 * sits at minUm or maxUm). Moves outside the soft limits are refused with a UserError; hardware
 * problems (missed switch, timeout, e-stop) reject with StageFault and never throw asynchronously.
 */
/** Per-motion options: an aborted signal halts that motion (command timeout, e-stop). */
export interface MotionOptions {
  signal?: AbortSignal;
}

export interface Stage {
  readonly kind: string;
  readonly axes: string[];
  home(axis?: string, opts?: MotionOptions): Promise<void>;
  moveTo(axis: string, um: number, opts?: MotionOptions): Promise<void>;
  moveBy(axis: string, deltaUm: number, opts?: MotionOptions): Promise<void>;
  position(axis: string): number;
  status(): StageStatus;
  /** halt every axis now; in-flight moves reject; further moves refused until home() */
  estop(): void;
  /**
   * clear a latched e-stop (home() does not); axes stay un-homed. Optional until every driver
   * latches; without it the command layer's latch is the only one.
   */
  resetEstop?(): Promise<void>;
  /** move to the home end and de-energise the drivers */
  park(): Promise<void>;
  close(): Promise<void>;
}

export type StageFaultCode = 'limit-hit' | 'home-not-found' | 'switch-stuck' | 'timeout' | 'estop' | 'busy' | 'io' | 'closed';

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
