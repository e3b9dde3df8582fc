import type { Mask } from '../patterns.ts';

export type { Mask };

export interface DmdStatus {
  model: string;
  /** no error bit set and the controller reports itself initialised */
  ok: boolean;
  /** human-readable display mode, e.g. "pattern-on-the-fly", "external-video" */
  mode: string;
  running: boolean;
  ledsEnabled: boolean;
  /** decoded error and warning flags, empty when healthy */
  errors: string[];
  /** raw status bytes by register name, for logs and the health topic */
  raw: Record<string, number>;
}

/** Test patterns common to the controllers we drive; each driver maps them to its own codes. */
export const TEST_PATTERNS = [
  'solid',
  'horizontal-ramp',
  'vertical-ramp',
  'horizontal-lines',
  'vertical-lines',
  'diagonal-lines',
  'grid',
  'checkerboard',
  'color-bars',
] as const;

export type TestPatternName = (typeof TEST_PATTERNS)[number];

export interface Dmd {
  readonly model: string;
  readonly width: number;
  readonly height: number;
  status(): Promise<DmdStatus>;
  /** current: 0..255 drive level (PWM duty on the DLPC900, scaled to 10 bits on the DLPC347x) */
  setLeds(enabled: boolean, current?: number): Promise<void>;
  showMask(mask: Mask): Promise<void>;
  testPattern(name: string): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  blank(): Promise<void>;
  /** ground truth: the mask the mirrors show now and that is lit, null when nothing is */
  current(): Mask | null;
  close(): Promise<void>;
}
