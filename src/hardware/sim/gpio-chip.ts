import { Debouncer } from '../gpio/debounce.ts';
import { type Bit, edgeAccepts, type GpioChip, GpioError, type GpioLine, type LineOptions, type WatchCallback } from '../gpio/types.ts';

/** tNs: monotonic time of the change (process.hrtime.bigint()), taken as the level is set */
type PinListener = (electrical: Bit, tNs: bigint) => void;

/**
 * A GPIO chip with no hardware. Device models (stage twin, trigger inputs) sit on the "far side":
 * they drive input pins with drive() and observe output pins with observe(). Both sides see
 * electrical levels; the host's lines apply activeLow and debouncing exactly like the real chip.
 * Notifications are synchronous so a model sees every STEP pulse in order.
 */
export class SimGpioChip implements GpioChip {
  readonly kind = 'sim';
  private readonly levels = new Map<number, Bit>();
  private readonly listeners = new Map<number, Set<PinListener>>();
  private readonly owners = new Map<number, 'in' | 'out'>();

  async line(bcm: number, direction: 'in' | 'out', opts: LineOptions = {}): Promise<GpioLine> {
    if (!Number.isInteger(bcm) || bcm < 0 || bcm > 53) throw new GpioError(`invalid BCM GPIO number ${bcm}`);
    if (this.owners.has(bcm)) throw new GpioError(`BCM GPIO ${bcm} is already in use`);
    this.owners.set(bcm, direction);
    return new SimLine(this, bcm, direction, opts, () => this.owners.delete(bcm));
  }

  async close(): Promise<void> {
    this.owners.clear();
  }

  /** device side: set the electrical level of a pin (an input as far as the host is concerned) */
  drive(bcm: number, level: Bit): void {
    this.setLevel(bcm, level);
  }

  /** device side: current electrical level of any pin */
  level(bcm: number): Bit {
    return this.levels.get(bcm) ?? 0;
  }

  /** device side: be told of every electrical change of a pin; returns unsubscribe */
  observe(bcm: number, fn: PinListener): () => void {
    let set = this.listeners.get(bcm);
    if (!set) {
      set = new Set();
      this.listeners.set(bcm, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  /** @internal used by SimLine */
  setLevel(bcm: number, level: Bit): void {
    if (this.level(bcm) === level) return;
    this.levels.set(bcm, level);
    const t = process.hrtime.bigint();
    for (const fn of this.listeners.get(bcm) ?? []) fn(level, t);
  }
}

class SimLine implements GpioLine {
  private readonly subs = new Set<WatchCallback>();
  private debouncer: Debouncer | undefined;
  private unobserve: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly chip: SimGpioChip,
    readonly bcm: number,
    readonly direction: 'in' | 'out',
    private readonly opts: LineOptions,
    private readonly release: () => void,
  ) {}

  private toLogical(b: Bit): Bit {
    return this.opts.activeLow ? ((1 - b) as Bit) : b;
  }

  async read(): Promise<Bit> {
    this.assertOpen();
    return this.toLogical(this.chip.level(this.bcm));
  }

  async write(value: Bit): Promise<void> {
    this.assertOpen();
    if (this.direction !== 'out') throw new GpioError(`BCM GPIO ${this.bcm} is an input`);
    if (value !== 0 && value !== 1) throw new GpioError(`invalid GPIO value ${String(value)}`);
    this.chip.setLevel(this.bcm, this.toLogical(value));
  }

  watch(cb: WatchCallback): () => void {
    this.assertOpen();
    if (!this.debouncer) {
      this.debouncer = new Debouncer(this.opts.debounceMs ?? 0, this.toLogical(this.chip.level(this.bcm)), (v) => {
        if (!edgeAccepts(this.opts.edge ?? 'both', v)) return;
        const ts = process.hrtime.bigint();
        for (const s of [...this.subs]) s(v, ts);
      });
      this.unobserve = this.chip.observe(this.bcm, (e) => this.debouncer?.sample(this.toLogical(e)));
    }
    this.subs.add(cb);
    return () => this.subs.delete(cb);
  }

  private assertOpen(): void {
    if (this.closed) throw new GpioError(`BCM GPIO ${this.bcm} is closed`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.debouncer?.dispose();
    this.unobserve?.();
    this.subs.clear();
    this.release();
  }
}
