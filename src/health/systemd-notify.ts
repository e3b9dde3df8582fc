import { spawn } from 'node:child_process';
import type { Logger } from '../log.ts';

/**
 * sd_notify without a native addon. Node cannot open AF_UNIX SOCK_DGRAM sockets, so each message
 * is sent by the `systemd-notify` tool. The datagram then comes from the child's PID, not the
 * daemon's main PID, which systemd drops unless the unit says NotifyAccess=all. systemd-notify
 * (systemd ≥ 246) waits on a BARRIER=1 round trip before it exits, so systemd can still attribute
 * the short-lived sender to our cgroup.
 */
export interface Notifier {
  readonly enabled: boolean;
  ready(status?: string): Promise<void>;
  watchdog(): Promise<void>;
  stopping(status?: string): Promise<void>;
  status(text: string): Promise<void>;
  /** raw assignments, e.g. { EXTEND_TIMEOUT_USEC: '20000000' } */
  send(assignments: Record<string, string>): Promise<void>;
}

export interface SystemdNotifierOptions {
  env?: NodeJS.ProcessEnv;
  /** config `systemd.notify`; false turns every call into a no-op */
  enabled?: boolean;
  /** path or name of the tool; default "systemd-notify" */
  command?: string;
  /** kill a hung systemd-notify after this; default 5 s */
  timeoutMs?: number;
  log?: Logger;
}

export class SystemdNotifier implements Notifier {
  readonly enabled: boolean;
  private readonly env: NodeJS.ProcessEnv;
  private readonly command: string;
  private readonly timeoutMs: number;
  private readonly log?: Logger;
  /** messages go out in order: READY must never overtake a later STOPPING */
  private chain: Promise<void> = Promise.resolve();
  private warned = false;

  constructor(opts: SystemdNotifierOptions = {}) {
    this.env = opts.env ?? process.env;
    this.enabled = (opts.enabled ?? true) && Boolean(this.env.NOTIFY_SOCKET);
    this.command = opts.command ?? 'systemd-notify';
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.log = opts.log;
  }

  ready(status?: string): Promise<void> {
    return this.send(status === undefined ? { READY: '1' } : { READY: '1', STATUS: status });
  }

  watchdog(): Promise<void> {
    return this.send({ WATCHDOG: '1' });
  }

  stopping(status?: string): Promise<void> {
    return this.send(status === undefined ? { STOPPING: '1' } : { STOPPING: '1', STATUS: status });
  }

  status(text: string): Promise<void> {
    return this.send({ STATUS: text });
  }

  send(assignments: Record<string, string>): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const args = formatAssignments(assignments);
    if (args.length === 0) return Promise.resolve();
    const next = this.chain.then(() => this.run(args));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Resolves even when the tool fails: a missing notification must never stop the daemon. */
  private run(args: string[]): Promise<void> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (problem?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (problem && !this.warned) {
          this.warned = true;
          this.log?.warn({ problem }, 'systemd notification failed (further failures are logged at debug)');
        } else if (problem) {
          this.log?.debug({ problem }, 'systemd notification failed');
        }
        resolve();
      };
      const child = spawn(this.command, args, { env: this.env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (b: Buffer) => {
        if (stderr.length < 500) stderr += b.toString();
      });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        done(`${this.command} timed out after ${this.timeoutMs} ms`);
      }, this.timeoutMs);
      child.on('error', (err) => done(`${this.command}: ${err.message}`));
      child.on('close', (code) => done(code === 0 ? undefined : `${this.command} exited ${code}: ${stderr.trim()}`));
    });
  }
}

/**
 * KEY=value arguments. A newline would start a new assignment in the datagram, so values are
 * flattened; keys are restricted to what sd_notify defines (upper case, digits, underscore).
 */
export function formatAssignments(assignments: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(assignments)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(k)) throw new Error(`invalid sd_notify key ${JSON.stringify(k)}`);
    out.push(
      `${k}=${String(v)
        .replace(/[\r\n]+/g, ' ')
        .slice(0, 1000)}`,
    );
  }
  return out;
}

/** WATCHDOG_USEC → pet interval (half of it, as sd_watchdog_enabled(3) recommends); null when unset or not for us. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return null;
  // WATCHDOG_PID names the process the watchdog applies to; a forked helper must not pet
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

/** A notifier that does nothing (no systemd, tests). */
export const nullNotifier: Notifier = {
  enabled: false,
  ready: async () => undefined,
  watchdog: async () => undefined,
  stopping: async () => undefined,
  status: async () => undefined,
  send: async () => undefined,
};
