/** One GPIO line, already resolved to a physical pin. Values are logical (after active-low inversion). */
export type Bit = 0 | 1;

export type Edge = 'none' | 'rising' | 'falling' | 'both';

export interface LineOptions {
  /** which transitions watch() reports; default 'both' for inputs */
  edge?: Edge;
  /** report a new level only after it has been stable this long (0 = off) */
  debounceMs?: number;
  /** invert: logical 1 = electrical low (switches wired to ground, active-low enables) */
  activeLow?: boolean;
}

/** tsNs: monotonic timestamp in nanoseconds (process.hrtime.bigint()) of the accepted edge. */
export type WatchCallback = (value: Bit, tsNs: bigint) => void;

export interface GpioLine {
  readonly bcm: number;
  readonly direction: 'in' | 'out';
  read(): Promise<Bit>;
  write(value: Bit): Promise<void>;
  /** returns an unsubscribe function */
  watch(cb: WatchCallback): () => void;
  close(): Promise<void>;
}

export interface GpioChip {
  readonly kind: string;
  /** bcm: Broadcom SoC GPIO number as printed on pinout diagrams (not the header pin number) */
  line(bcm: number, direction: 'in' | 'out', opts?: LineOptions): Promise<GpioLine>;
  close(): Promise<void>;
}

export class GpioError extends Error {
  override name = 'GpioError';
}

export function edgeAccepts(edge: Edge, value: Bit): boolean {
  if (edge === 'both') return true;
  if (edge === 'rising') return value === 1;
  if (edge === 'falling') return value === 0;
  return false;
}
