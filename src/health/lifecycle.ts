import type { Logger } from '../log.ts';
import type { Notifier } from './systemd-notify.ts';

/** One step of an orderly stop, e.g. drain queue → publish stopped → flush spool → park stage → blank DMD. */
export interface ShutdownStep {
  name: string;
  /** a hung device must not hold the whole stop past systemd's TimeoutStopSec */
  timeoutMs: number;
  run: () => Promise<void> | void;
}

export interface StepOutcome {
  name: string;
  status: 'ok' | 'error' | 'timeout';
  ms: number;
  error?: string;
}

export interface ShutdownReport {
  reason: string;
  steps: StepOutcome[];
  ok: boolean;
}

/** Runs steps in order; each one's failure or timeout is recorded and the next still runs. */
export async function runShutdownSteps(steps: ShutdownStep[], log?: Logger, now: () => number = Date.now): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  for (const step of steps) {
    const t0 = now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), step.timeoutMs);
    });
    let outcome: StepOutcome;
    try {
      const r = await Promise.race([
        Promise.resolve()
          .then(step.run)
          .then(() => 'ok' as const),
        timeout,
      ]);
      outcome = { name: step.name, status: r, ms: now() - t0 };
      if (r === 'timeout') outcome.error = `did not finish within ${step.timeoutMs} ms`;
    } catch (err) {
      outcome = { name: step.name, status: 'error', ms: now() - t0, error: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
    }
    if (outcome.status === 'ok') log?.info({ step: step.name, ms: outcome.ms }, 'shutdown step done');
    else log?.warn({ step: step.name, status: outcome.status, error: outcome.error }, 'shutdown step failed');
    outcomes.push(outcome);
  }
  return outcomes;
}

/** The slice of `process` the handler touches; a fake EventEmitter in tests. */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface LifecycleOptions {
  steps: ShutdownStep[] | (() => ShutdownStep[]);
  notifier?: Pick<Notifier, 'stopping'>;
  log?: Logger;
  signals?: NodeJS.Signals[];
  proc?: SignalSource;
  /** default process.exit */
  exit?: (code: number) => void;
}

export interface Lifecycle {
  /** Starts the orderly stop (also what a signal does); later calls return the same promise. */
  shutdown(reason: string): Promise<ShutdownReport>;
  uninstall(): void;
}

/**
 * SIGTERM/SIGINT → STOPPING=1, the ordered steps, exit 0 (1 if a step failed). A second signal
 * while stopping exits at once with 128+signal: the operator (or systemd's final SIGKILL
 * escalation path) has decided not to wait.
 */
export function installShutdownHandlers(opts: LifecycleOptions): Lifecycle {
  const proc: SignalSource = opts.proc ?? process;
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT'];
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let running: Promise<ShutdownReport> | null = null;

  const shutdown = (reason: string): Promise<ShutdownReport> => {
    if (running) return running;
    running = (async () => {
      opts.log?.info({ reason }, 'shutting down');
      await opts.notifier?.stopping(`stopping: ${reason}`).catch(() => undefined);
      const steps = typeof opts.steps === 'function' ? opts.steps() : opts.steps;
      const outcomes = await runShutdownSteps(steps, opts.log);
      return { reason, steps: outcomes, ok: outcomes.every((o) => o.status === 'ok') };
    })();
    return running;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (running) {
      opts.log?.warn({ signal }, 'second signal; exiting now');
      exit(128 + signalNumber(signal));
      return;
    }
    shutdown(signal).then(
      (report) => exit(report.ok ? 0 : 1),
      () => exit(1),
    );
  };

  for (const s of signals) proc.on(s, onSignal);
  return {
    shutdown,
    uninstall: () => {
      for (const s of signals) proc.off(s, onSignal);
    },
  };
}

function signalNumber(signal: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };
  return table[signal] ?? 1;
}
