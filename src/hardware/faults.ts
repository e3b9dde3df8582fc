/**
 * Device faults: one error type every hardware driver throws when a device misbehaves, and a small
 * registry the health reporter reads. A fault is never a crash: the daemon records it, reports it
 * and keeps serving.
 */

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}

/** A device did not do what was asked (NACK, timeout, refused command, bad reply). */
export class DeviceFault extends Error {
  override name = 'DeviceFault';
  readonly device: string;
  readonly operation: string;

  constructor(device: string, operation: string, cause: unknown) {
    super(`${device}: ${operation} failed: ${describe(cause)}`, { cause });
    this.device = device;
    this.operation = operation;
  }
}

export interface FaultSummary {
  count: number;
  lastMessage: string;
  lastOperation: string | null;
  /** ISO time of the last fault */
  lastAt: string;
}

export class FaultRegistry {
  private readonly byDevice = new Map<string, FaultSummary>();

  record(device: string, err: unknown): void {
    const prev = this.byDevice.get(device);
    this.byDevice.set(device, {
      count: (prev?.count ?? 0) + 1,
      lastMessage: describe(err),
      lastOperation: err instanceof DeviceFault ? err.operation : null,
      lastAt: new Date().toISOString(),
    });
  }

  /** A copy: callers (health, MQTT) may serialise it while drivers keep recording. */
  snapshot(): Record<string, FaultSummary> {
    const out: Record<string, FaultSummary> = {};
    for (const [k, v] of this.byDevice) out[k] = { ...v };
    return out;
  }

  clear(device?: string): void {
    if (device === undefined) this.byDevice.clear();
    else this.byDevice.delete(device);
  }
}

/** Process-wide registry; drivers take a registry argument so tests can use their own. */
export const faults = new FaultRegistry();
