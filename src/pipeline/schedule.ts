/**
 * When the bulky products of a frame are due: images at most `maxRate` per second and only while
 * a byte budget shared with everything else the stream publishes has room. A token bucket: it
 * fills at `bytesPerSecond` up to one burst, every published byte drains it, and an image is due
 * only when the bucket holds its worst case (`maxBytes`), so the average stays within budget.
 */
export class PublishBudget {
  private tokens: number;
  private last: number;

  constructor(
    readonly bytesPerSecond: number,
    private readonly burst: number,
    now = Date.now(),
  ) {
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    const dt = Math.max(0, now - this.last);
    // an unlimited budget is always full (and ∞ × 0 would be NaN)
    this.tokens =
      this.bytesPerSecond === Number.POSITIVE_INFINITY ? this.burst : Math.min(this.burst, this.tokens + (dt / 1000) * this.bytesPerSecond);
    this.last = now;
  }

  /** Room for `bytes` now? */
  has(bytes: number, now = Date.now()): boolean {
    this.refill(now);
    return this.tokens >= bytes;
  }

  spend(bytes: number, now = Date.now()): void {
    this.refill(now);
    this.tokens -= bytes;
  }
}

/** At most one event per `intervalMs`. */
export class RateGate {
  private last = Number.NEGATIVE_INFINITY;

  constructor(private readonly intervalMs: number) {}

  due(now = Date.now()): boolean {
    return now - this.last >= this.intervalMs;
  }

  mark(now = Date.now()): void {
    this.last = now;
  }
}
