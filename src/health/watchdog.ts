import type { Logger } from '../log.ts';
import type { Notifier } from './systemd-notify.ts';

export interface WatchdogProgress {
  /** cumulative frames that completed the pipeline */
  framesOut: number;
  /** true while the pipeline is meant to stream; false after a `stop` command */
  streaming: boolean;
  /**
   * how long one frame takes the engine at the current size (ms), when known: a 4056×3040 frame
   * on a small board can take longer than `stallSeconds`, and that is not a wedge
   */
  frameMs?: number;
}

/** Frames a healthy pipeline may take between two completions before it counts as wedged. */
const STALL_FRAMES = 3;

export interface WatchdogOptions {
  notifier: Pick<Notifier, 'watchdog' | 'status'>;
  progress: () => WatchdogProgress;
  /** seconds without a completed frame (while streaming) before petting stops */
  stallSeconds: number;
  /** pet period, normally watchdogIntervalMs(); null disables the timer (tick() still works) */
  intervalMs: number | null;
  now?: () => number;
  log?: Logger;
}

export type WatchdogDecision = 'pet' | 'stalled';

/**
 * Pets systemd only while the daemon does its job. A live event loop alone is not enough while
 * streaming: a wedged camera or inference session would keep the loop spinning forever, so a
 * stall of `stallSeconds` withholds WATCHDOG=1 and systemd restarts the unit. When streaming was
 * stopped on purpose, the timer firing at all is the proof of liveness.
 */
export class Watchdog {
  private readonly now: () => number;
  private lastFrames = -1;
  private lastProgressAt: number;
  private wasStreaming = false;
  private stalledNow = false;
  private timer: NodeJS.Timeout | null = null;
  private petsSent = 0;

  constructor(private readonly opts: WatchdogOptions) {
    if (!(opts.stallSeconds > 0)) throw new Error(`stallSeconds must be positive, got ${opts.stallSeconds}`);
    this.now = opts.now ?? Date.now;
    this.lastProgressAt = this.now();
  }

  get stalled(): boolean {
    return this.stalledNow;
  }

  get pets(): number {
    return this.petsSent;
  }

  /** Evaluates progress once and pets if healthy. Called by the timer; public for tests. */
  tick(): WatchdogDecision {
    const t = this.now();
    let p: WatchdogProgress;
    try {
      p = this.opts.progress();
    } catch (err) {
      // a broken progress probe is itself a fault worth a restart
      this.opts.log?.error({ err }, 'watchdog progress probe failed');
      return this.markStalled(0);
    }
    if (p.framesOut !== this.lastFrames) {
      this.lastFrames = p.framesOut;
      this.lastProgressAt = t;
    }
    if (p.streaming && !this.wasStreaming) {
      // the pipeline needs a moment to produce its first frame after (re)start
      this.lastProgressAt = t;
    }
    this.wasStreaming = p.streaming;

    const idleMs = t - this.lastProgressAt;
    const limitMs = Math.max(this.opts.stallSeconds * 1000, STALL_FRAMES * (p.frameMs ?? 0));
    if (p.streaming && idleMs >= limitMs) return this.markStalled(idleMs);

    if (this.stalledNow) {
      this.stalledNow = false;
      this.opts.log?.info('pipeline moving again; resuming watchdog');
      void this.opts.notifier.status('running');
    }
    this.petsSent++;
    void this.opts.notifier.watchdog();
    return 'pet';
  }

  start(): void {
    if (this.timer || this.opts.intervalMs === null) return;
    this.lastProgressAt = this.now();
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private markStalled(idleMs: number): WatchdogDecision {
    if (!this.stalledNow) {
      this.stalledNow = true;
      const secs = Math.round(idleMs / 1000);
      this.opts.log?.error({ idleSeconds: secs }, 'no frame completed while streaming; withholding watchdog');
      void this.opts.notifier.status(`stalled: no frame for ${secs} s`);
    }
    return 'stalled';
  }
}
