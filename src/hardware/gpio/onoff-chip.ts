import { Debouncer } from './debounce.ts';
import { resolveSysfsGpio } from './sysfs-resolve.ts';
import { type Bit, edgeAccepts, type GpioChip, GpioError, type GpioLine, type LineOptions, type WatchCallback } from './types.ts';

/** The part of onoff's Gpio we use; typed here so the lazy import stays behind one boundary. */
interface OnoffGpio {
  read(): Promise<Bit>;
  readSync(): Bit;
  write(v: Bit): Promise<void>;
  watch(cb: (err: Error | null | undefined, value: Bit) => void): void;
  unwatchAll(): void;
  unexport(): void;
}
type OnoffCtor = new (gpio: number, direction: 'in' | 'out', edge?: 'none' | 'both', options?: { activeLow?: boolean }) => OnoffGpio;

/** Real GPIO through the kernel's sysfs interface (onoff), with BCM→sysfs number resolution. */
export class SysfsGpioChip implements GpioChip {
  readonly kind = 'sysfs';
  private readonly lines = new Set<GpioLine>();

  constructor(private readonly sysfsRoot = '/sys/class/gpio') {}

  async line(bcm: number, direction: 'in' | 'out', opts: LineOptions = {}): Promise<GpioLine> {
    const sysfsNumber = await resolveSysfsGpio(bcm, this.sysfsRoot);
    let Gpio: OnoffCtor;
    try {
      const mod = (await import('onoff')) as unknown as {
        Gpio: OnoffCtor & { accessible: boolean };
      };
      if (!mod.Gpio.accessible) throw new GpioError('onoff reports GPIO is not accessible on this system');
      Gpio = mod.Gpio;
    } catch (err) {
      throw new GpioError(`cannot load GPIO support (onoff): ${(err as Error).message}`);
    }
    let gpio: OnoffGpio;
    try {
      // edge detection is done on every transition; filtering and debouncing happen in Debouncer
      gpio = new Gpio(sysfsNumber, direction, direction === 'in' ? 'both' : 'none', { activeLow: opts.activeLow ?? false });
    } catch (err) {
      throw new GpioError(`cannot export BCM GPIO ${bcm} (sysfs ${sysfsNumber}): ${(err as Error).message}`);
    }
    const line = new OnoffLine(bcm, direction, gpio, opts, () => this.lines.delete(line));
    this.lines.add(line);
    return line;
  }

  async close(): Promise<void> {
    for (const l of [...this.lines]) await l.close();
  }
}

class OnoffLine implements GpioLine {
  private readonly subs = new Set<WatchCallback>();
  private debouncer: Debouncer | undefined;
  private closed = false;

  constructor(
    readonly bcm: number,
    readonly direction: 'in' | 'out',
    private readonly gpio: OnoffGpio,
    private readonly opts: LineOptions,
    private readonly onClose: () => void,
  ) {}

  read(): Promise<Bit> {
    return this.gpio.read();
  }

  async write(value: Bit): Promise<void> {
    if (this.direction !== 'out') throw new GpioError(`BCM GPIO ${this.bcm} is an input`);
    await this.gpio.write(value);
  }

  watch(cb: WatchCallback): () => void {
    if (!this.debouncer) {
      const initial = this.safeReadSync();
      this.debouncer = new Debouncer(this.opts.debounceMs ?? 0, initial, (v) => {
        if (!edgeAccepts(this.opts.edge ?? 'both', v)) return;
        const ts = process.hrtime.bigint();
        for (const s of this.subs) s(v, ts);
      });
      this.gpio.watch((err, value) => {
        if (!err) this.debouncer?.sample(value);
      });
    }
    this.subs.add(cb);
    return () => this.subs.delete(cb);
  }

  private safeReadSync(): Bit {
    try {
      return this.gpio.readSync();
    } catch {
      return 0;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.debouncer?.dispose();
    this.subs.clear();
    try {
      this.gpio.unwatchAll();
      this.gpio.unexport();
    } finally {
      this.onClose();
    }
  }
}
