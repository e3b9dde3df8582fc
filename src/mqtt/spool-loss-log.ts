import type { Logger } from '../log.ts';

export type SpoolLoss = 'evicted' | 'rejected' | 'corrupt' | 'writeFailed';

const MESSAGES: Record<SpoolLoss, string> = {
  evicted: 'spool full: oldest results evicted',
  rejected: 'result larger than spool.maxBytes: not spooled',
  corrupt: 'torn or corrupted spool record dropped',
  writeFailed: 'spool write failed: results not stored',
};

/**
 * Every loss reaches the log, but a disk filling at 30 results/s must not write 30 lines/s: the
 * first loss of a kind in a window is logged with its details, the rest are summed into one line
 * when the window ends.
 */
export class SpoolLossLog {
  private readonly suppressed = new Map<SpoolLoss, number>();
  private readonly timers = new Map<SpoolLoss, NodeJS.Timeout>();

  constructor(
    private readonly log: Logger,
    private readonly windowMs = 10_000,
  ) {}

  note(kind: SpoolLoss, fields: Record<string, unknown>, total: number): void {
    if (this.timers.has(kind)) {
      this.suppressed.set(kind, (this.suppressed.get(kind) ?? 0) + 1);
      return;
    }
    this.emit(kind, { ...fields, total });
    const t = setTimeout(() => this.endWindow(kind, total), this.windowMs);
    t.unref();
    this.timers.set(kind, t);
  }

  private emit(kind: SpoolLoss, fields: Record<string, unknown>): void {
    if (kind === 'rejected' || kind === 'writeFailed') this.log.error(fields, MESSAGES[kind]);
    else this.log.warn(fields, MESSAGES[kind]);
  }

  private endWindow(kind: SpoolLoss, totalAtStart: number): void {
    this.timers.delete(kind);
    const more = this.suppressed.get(kind) ?? 0;
    this.suppressed.delete(kind);
    if (more > 0) this.emit(kind, { more, windowMs: this.windowMs, total: totalAtStart + more });
  }

  /** Log what is still summed up, e.g. at close. */
  flush(): void {
    for (const [kind, t] of [...this.timers]) {
      clearTimeout(t);
      this.timers.delete(kind);
      const more = this.suppressed.get(kind) ?? 0;
      this.suppressed.delete(kind);
      if (more > 0) this.emit(kind, { more });
    }
  }
}
