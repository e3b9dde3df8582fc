/**
 * Sliding-window statistics that back the health payload. prom-client's own summaries are
 * async and per-registry; the retained MQTT health message needs the same numbers synchronously.
 */

/** Events per second over the last `windowSeconds`, bucketed per second so memory stays fixed. */
export class RateWindow {
  private readonly buckets: Float64Array;
  private readonly stamps: Float64Array;
  private readonly createdAt: number;

  constructor(
    windowSeconds: number,
    private readonly now: () => number,
  ) {
    if (!(windowSeconds >= 1)) throw new Error(`rate window must be at least 1 s, got ${windowSeconds}`);
    this.buckets = new Float64Array(Math.ceil(windowSeconds));
    this.stamps = new Float64Array(Math.ceil(windowSeconds)).fill(-1);
    this.createdAt = now();
  }

  add(n = 1): void {
    const sec = Math.floor(this.now() / 1000);
    const i = sec % this.buckets.length;
    if (this.stamps[i] !== sec) {
      this.stamps[i] = sec;
      this.buckets[i] = 0;
    }
    this.buckets[i] += n;
  }

  /** Averages over the full window, or over the time since creation while younger than it. */
  perSecond(): number {
    const nowMs = this.now();
    const sec = Math.floor(nowMs / 1000);
    const len = this.buckets.length;
    let total = 0;
    for (let i = 0; i < len; i++) {
      const s = this.stamps[i];
      if (s >= 0 && s > sec - len && s <= sec) total += this.buckets[i];
    }
    const span = Math.min(len, Math.max(1, (nowMs - this.createdAt) / 1000));
    return total / span;
  }
}

export interface Quantiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** samples currently in the window */
  count: number;
}

/** The last `capacity` samples; percentiles by sorting a copy (capacity is small). */
export class SampleWindow {
  private readonly samples: Float64Array;
  private size = 0;
  private next = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`sample window capacity must be ≥ 1, got ${capacity}`);
    this.samples = new Float64Array(capacity);
  }

  add(v: number): void {
    if (!Number.isFinite(v)) return;
    this.samples[this.next] = v;
    this.next = (this.next + 1) % this.samples.length;
    if (this.size < this.samples.length) this.size++;
  }

  quantiles(): Quantiles {
    if (this.size === 0) return { p50: null, p95: null, p99: null, count: 0 };
    const sorted = this.samples.slice(0, this.size).sort();
    return {
      p50: quantileSorted(sorted, 0.5),
      p95: quantileSorted(sorted, 0.95),
      p99: quantileSorted(sorted, 0.99),
      count: this.size,
    };
  }
}

/** Nearest-rank quantile: always one of the observed values, so tests can reason about it exactly. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new Error('quantile of an empty sample');
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}
