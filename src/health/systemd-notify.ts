import { createRequire } from 'node:module';
import type { Logger } from '../log.ts';

/**
 * sd_notify(3) from the daemon's own process: one AF_UNIX SOCK_DGRAM datagram per message to
 * $NOTIFY_SOCKET. systemd attributes a datagram by the sender's PID (SCM_CREDENTIALS), so sending
 * it ourselves lets the unit say NotifyAccess=main: camera children and other helpers of the
 * service cannot claim READY or pet the watchdog. Node has no unix datagram sockets, so the
 * datagram goes through the `unix-dgram` addon (an optional dependency built at install time).
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

/** Sends one datagram to a unix socket path; rejects on a socket error. */
export type DatagramSender = (path: string, payload: Buffer) => Promise<void>;

export interface SystemdNotifierOptions {
  env?: NodeJS.ProcessEnv;
  /** config `systemd.notify`; false turns every call into a no-op */
  enabled?: boolean;
  /** how datagrams leave; default: the unix-dgram addon (tests may pass a failing one) */
  sender?: DatagramSender | null;
  log?: Logger;
}

interface UnixDgramSocket {
  on(event: 'error', listener: (err: Error) => void): void;
  send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: Error) => void): void;
  close(): void;
}

/** The unix-dgram addon's sender, or null when the addon is not installed or did not build. */
export function unixDgramSender(): DatagramSender | null {
  let mod: { createSocket(type: 'unix_dgram'): UnixDgramSocket };
  try {
    mod = createRequire(import.meta.url)('unix-dgram') as typeof mod;
  } catch {
    return null;
  }
  return (path, payload) =>
    new Promise<void>((resolve, reject) => {
      let sock: UnixDgramSocket;
      try {
        sock = mod.createSocket('unix_dgram');
      } catch (e) {
        reject(e as Error);
        return;
      }
      sock.on('error', (err) => reject(err));
      sock.send(payload, 0, payload.length, path, (err) => {
        try {
          sock.close();
        } catch {
          // already closed by the addon after an error
        }
        if (err) reject(err);
        else resolve();
      });
    });
}

export class SystemdNotifier implements Notifier {
  readonly enabled: boolean;
  private readonly socketPath: string;
  private readonly sender: DatagramSender | null;
  private readonly log?: Logger;
  /** messages go out in order: READY must never overtake a later STOPPING */
  private chain: Promise<void> = Promise.resolve();
  private warned = false;

  constructor(opts: SystemdNotifierOptions = {}) {
    const env = opts.env ?? process.env;
    this.socketPath = notifySocketPath(env.NOTIFY_SOCKET);
    this.enabled = (opts.enabled ?? true) && this.socketPath !== '';
    this.sender = this.enabled ? (opts.sender === undefined ? unixDgramSender() : opts.sender) : null;
    this.log = opts.log;
    if (this.enabled && !this.sender) {
      this.warn('the unix-dgram addon is not installed (npm install needs g++ and make); systemd will not hear from the daemon');
    }
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
    if (!this.enabled || !this.sender) return Promise.resolve();
    const lines = formatAssignments(assignments);
    if (lines.length === 0) return Promise.resolve();
    const sender = this.sender;
    const payload = Buffer.from(lines.join('\n'));
    const next = this.chain.then(() =>
      // a missing notification must never stop the daemon
      sender(this.socketPath, payload).catch((e: Error) => this.warn(`sd_notify to ${this.socketPath}: ${e.message}`)),
    );
    this.chain = next;
    return next;
  }

  private warn(problem: string): void {
    if (!this.warned) this.log?.warn({ problem }, 'systemd notification failed (further failures are logged at debug)');
    else this.log?.debug({ problem }, 'systemd notification failed');
    this.warned = true;
  }
}

/**
 * The filesystem path of $NOTIFY_SOCKET, or "" when there is none we can reach. An abstract
 * socket ("@…") is not supported by the addon; systemd itself always passes a path
 * (/run/systemd/notify).
 */
export function notifySocketPath(value: string | undefined): string {
  return value?.startsWith('/') ? value : '';
}

/**
 * KEY=value lines. A newline would start a new assignment in the datagram, so values are
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
