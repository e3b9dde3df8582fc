import type { Bit } from './types.ts';

/**
 * Accept a level only after it held for `ms`. Mechanical limit switches bounce for a few ms;
 * reporting every bounce would stop a move, restart it, stop it again. Done in our own code
 * rather than relying on onoff's debounceTimeout so the simulated chip behaves identically.
 */
export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  private pending: Bit | undefined;

  constructor(
    private readonly ms: number,
    private stable: Bit,
    private readonly onStable: (value: Bit) => void,
  ) {}

  get value(): Bit {
    return this.stable;
  }

  /** feed a raw sample (every electrical edge) */
  sample(raw: Bit): void {
    if (this.ms <= 0) {
      if (raw !== this.stable) {
        this.stable = raw;
        this.onStable(raw);
      }
      return;
    }
    this.pending = raw;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const v = this.pending;
      this.pending = undefined;
      if (v !== undefined && v !== this.stable) {
        this.stable = v;
        this.onStable(v);
      }
    }, this.ms);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
