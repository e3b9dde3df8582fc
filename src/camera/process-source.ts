import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import type { Image } from '../optics/image.ts';
import { signalChild } from '../signal-child.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';
import { FrameAssembler } from './raw-frames.ts';
import type { Frame, FrameSource, FrameSourceStats } from './types.ts';

export interface ProcessSourceOptions {
  kind: string;
  command: string;
  /** passed as an argument array: never through a shell */
  args: string[];
  frameBytes: number;
  decode(frame: Buffer): Image;
  /** no complete frame for this long → kill and restart */
  stallTimeoutMs?: number;
  /** grace for the first frame after (re)start; camera stacks take seconds to come up */
  startupTimeoutMs?: number;
  backoff?: BackoffOptions;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /** the sensor pixel of each frame's (0, 0) when the command reads out only the ROI (Frame.origin) */
  origin?: { x: number; y: number };
}

/**
 * A FrameSource fed by a child process that writes fixed-size raw frames to stdout (rpicam-vid,
 * gst-launch-1.0). The child is restarted with exponential backoff when it exits or stalls; the
 * backoff resets once it delivers a frame again. stop() kills it.
 */
export class ProcessFrameSource implements FrameSource {
  readonly kind: string;
  private child: ChildProcess | undefined;
  private readonly assembler: FrameAssembler;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private running = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private readonly st: FrameSourceStats = { frames: 0, restarts: 0, errors: 0 };
  private onFrame: ((f: Frame) => void) | undefined;
  private onError: ((e: Error) => void) | undefined;
  private readonly waiters = new Set<(f: Frame) => void>();
  private starts = 0;

  constructor(private readonly o: ProcessSourceOptions) {
    this.kind = o.kind;
    this.assembler = new FrameAssembler(o.frameBytes);
    this.backoff = new Backoff(o.backoff);
    this.log = o.log ?? silentLogger;
  }

  async start(onFrame: (frame: Frame) => void, onError: (err: Error) => void): Promise<void> {
    if (this.running) throw new Error(`${this.kind} source already started`);
    this.onFrame = onFrame;
    this.onError = onError;
    this.running = true;
    this.spawnChild();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.onFrame = undefined;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.clearStall();
    await this.kill();
  }

  /** one frame: the next streamed frame if running, otherwise a short-lived run of the process */
  async capture(): Promise<Frame> {
    if (this.running) return this.nextFrame();
    let failure: Error | undefined;
    await this.start(
      () => {},
      (e) => (failure = e),
    );
    try {
      const timeoutMs = (this.o.stallTimeoutMs ?? 5000) * 2;
      return await Promise.race([
        this.nextFrame(),
        new Promise<never>((_, rej) =>
          setTimeout(
            () => rej(new Error(`${this.kind}: no frame within ${timeoutMs} ms${failure ? ` (${failure.message})` : ''}`)),
            timeoutMs,
          ).unref(),
        ),
      ]);
    } finally {
      await this.stop();
    }
  }

  stats(): FrameSourceStats {
    return { ...this.st };
  }

  private nextFrame(): Promise<Frame> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  private spawnChild(): void {
    if (!this.running) return;
    if (this.starts++ > 0) this.st.restarts++;
    this.assembler.reset();
    let child: ChildProcess;
    try {
      child = spawn(this.o.command, this.o.args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: this.o.env ?? process.env,
      });
    } catch (err) {
      this.fail(new Error(`${this.kind}: cannot start ${this.o.command}: ${(err as Error).message}`));
      this.scheduleRestart();
      return;
    }
    this.child = child;
    let stderrTail = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderrTail = (stderrTail + d.toString('utf8')).slice(-500);
    });
    child.stdout?.on('data', (chunk: Buffer) => this.onData(chunk));
    child.on('error', (err) => {
      // ENOENT etc.: 'exit' may not follow, so handle the restart here
      if (this.child !== child) return;
      this.child = undefined;
      this.clearStall();
      this.fail(new Error(`${this.kind}: ${this.o.command} failed: ${err.message}`));
      this.scheduleRestart();
    });
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.clearStall();
      if (!this.running) return;
      const why = signal ? `signal ${signal}` : `code ${code}`;
      this.fail(
        new Error(`${this.kind}: ${this.o.command} exited (${why})${stderrTail ? `: ${stderrTail.trim().split('\n').at(-1)}` : ''}`),
      );
      this.scheduleRestart();
    });
    this.armStall(Math.max(this.o.stallTimeoutMs ?? 5000, this.o.startupTimeoutMs ?? 10_000));
  }

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.assembler.push(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    for (const buf of frames) {
      let image: Image;
      try {
        image = this.o.decode(buf);
      } catch (err) {
        this.fail(new Error(`${this.kind}: bad frame: ${(err as Error).message}`));
        continue;
      }
      this.backoff.reset();
      this.armStall();
      const frame: Frame = {
        seq: this.seq++,
        timestamp: Date.now(),
        image,
        source: this.kind,
        ...(this.o.origin ? { origin: this.o.origin } : {}),
      };
      this.st.frames++;
      for (const w of [...this.waiters]) {
        this.waiters.delete(w);
        w(frame);
      }
      try {
        this.onFrame?.(frame);
      } catch (err) {
        this.log.error({ err }, `${this.kind}: frame handler threw`);
      }
    }
  }

  private armStall(ms = this.o.stallTimeoutMs ?? 5000): void {
    this.clearStall();
    this.stallTimer = setTimeout(() => {
      if (!this.running || !this.child) return;
      this.fail(new Error(`${this.kind}: no frame for ${ms} ms; restarting ${this.o.command}`));
      const stalled = this.child;
      this.child = undefined;
      signalChild(stalled, 'SIGKILL');
      this.scheduleRestart();
    }, ms);
  }

  private clearStall(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  private scheduleRestart(): void {
    if (!this.running || this.restartTimer) return;
    const delay = this.backoff.next();
    this.log.warn({ delayMs: delay, restarts: this.st.restarts }, `${this.kind}: restarting capture process`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.spawnChild();
    }, delay);
  }

  private fail(err: Error): void {
    this.st.errors++;
    this.st.lastError = err.message;
    this.log.warn({ err: err.message }, `${this.kind}: capture error`);
    try {
      this.onError?.(err);
    } catch {
      // an error callback must not take the source down
    }
  }

  private async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    await new Promise<void>((resolve) => {
      // a child that exited or never started (spawn error) has nothing to wait for
      if (!signalChild(child, 'SIGTERM')) return resolve();
      const t = setTimeout(() => signalChild(child, 'SIGKILL'), 2000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** pid of the running capture process (diagnostics, tests) */
  get pid(): number | undefined {
    return this.child?.pid;
  }
}
