import type { Logger } from '../log.ts';
import { runShutdownSteps, type ShutdownStep } from './lifecycle.ts';

/** The slice of `process` the handler touches; a fake EventEmitter in tests. */
export interface FatalSource {
  on(event: 'unhandledRejection' | 'uncaughtException', listener: (err: unknown) => void): unknown;
  off(event: 'unhandledRejection' | 'uncaughtException', listener: (err: unknown) => void): unknown;
}

export interface FatalOptions {
  /** what makes the instrument safe: park the stage, blank the DMD (each bounded by its timeout) */
  steps: () => ShutdownStep[];
  log?: Logger;
  proc?: FatalSource;
  /** default process.exit */
  exit?: (code: number) => void;
}

/**
 * A bug that escapes as an unhandled rejection or exception leaves the daemon in an unknown
 * state: log it, make the hardware safe (park the stage, blank the DMD), exit non-zero so
 * systemd restarts a clean process. A second fault while doing so exits at once.
 */
export function installFatalHandlers(opts: FatalOptions): () => void {
  const proc: FatalSource = opts.proc ?? process;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let handling = false;
  const onFatal = (kind: string) => (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    if (handling) {
      opts.log?.fatal({ kind, err: message }, 'second fatal error while making the instrument safe; exiting now');
      exit(1);
      return;
    }
    handling = true;
    opts.log?.fatal({ kind, err: message, stack: err instanceof Error ? err.stack : undefined }, 'fatal error; making the instrument safe');
    runShutdownSteps(opts.steps(), opts.log).then(
      () => exit(1),
      () => exit(1),
    );
  };
  const onRejection = onFatal('unhandledRejection');
  const onException = onFatal('uncaughtException');
  proc.on('unhandledRejection', onRejection);
  proc.on('uncaughtException', onException);
  return () => {
    proc.off('unhandledRejection', onRejection);
    proc.off('uncaughtException', onException);
  };
}
