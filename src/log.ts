import { type Logger, pino } from 'pino';

export type { Logger };

/** Structured JSON logs to stderr so stdout stays free for command output and binary streams. */
export function createLogger(level: string = process.env.RAYLEIGH_LOG_LEVEL ?? 'info', name = 'rayleigh'): Logger {
  return pino({ name, level, base: undefined }, pino.destination({ dest: 2, sync: true }));
}

/** For tests and library use: a logger that writes nothing. */
export const silentLogger: Logger = pino({ level: 'silent' });
