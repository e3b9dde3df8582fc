import { UserError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { DeviceFault, type FaultRegistry } from '../faults.ts';

/** Where a controller driver reports the faults of its bus transactions. */
export interface DmdFaultSink {
  device: string;
  registry: FaultRegistry;
  log?: Logger;
}

/**
 * Run one controller operation so that a bus or controller failure reaches the fault registry
 * (and the health topic) as a DeviceFault before the caller sees it; user mistakes pass through
 * unrecorded because they say nothing about the hardware.
 */
export async function guardOperation<T>(sink: DmdFaultSink, operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UserError) throw err;
    const fault = err instanceof DeviceFault ? err : new DeviceFault(sink.device, operation, err);
    sink.registry.record(sink.device, fault);
    sink.log?.warn({ device: sink.device, operation, err: fault.message }, 'DMD fault');
    throw fault;
  }
}
