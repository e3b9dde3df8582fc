/**
 * Bounded FIFO between capture and reconstruction. When full, the OLDEST item is dropped:
 * a live instrument wants the freshest frame, and a slow model must never make capture block.
 */
export class DropOldestQueue<T> {
  private items: T[] = [];
  private waiters: Array<(item: T | undefined) => void> = [];
  private closed = false;
  dropped = 0;
  enqueued = 0;

  constructor(
    readonly capacity: number,
    private readonly onDrop?: (item: T) => void,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`queue capacity must be a positive integer, got ${capacity}`);
  }

  get depth(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.closed) return;
    this.enqueued++;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter(item);
      return;
    }
    if (this.items.length >= this.capacity) {
      const old = this.items.shift() as T;
      this.dropped++;
      this.onDrop?.(old);
    }
    this.items.push(item);
  }

  /** Resolves with the next item, or undefined once the queue is closed and empty. */
  take(): Promise<T | undefined> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** No more pushes; pending takes drain what is left, then get undefined. */
  close(): void {
    this.closed = true;
    if (this.items.length === 0) for (const w of this.waiters.splice(0)) w(undefined);
  }

  /** Drop everything queued (counted as dropped) — e.g. on an immediate stop. */
  clear(): number {
    const n = this.items.length;
    for (const it of this.items.splice(0)) {
      this.dropped++;
      this.onDrop?.(it);
    }
    return n;
  }
}
