import type { StageAxisConfig } from '../../config/hardware.ts';
import type { Bit } from '../gpio/types.ts';
import type { SimGpioChip } from './gpio-chip.ts';

export interface SimStageAxisOptions {
  /** where the carriage physically starts, µm in the stage frame (default: middle of travel) */
  startUm?: number;
  /** the switch never closes: models a broken wire */
  limitBroken?: boolean;
  /** the switch chatters this many extra times each time it changes state */
  bounces?: number;
  /** stop counting steps after this many: models a stalled motor / jammed carriage */
  stallAfterSteps?: number;
}

export interface SimGpioStageOptions {
  axes: Record<string, StageAxisConfig>;
  perAxis?: Record<string, SimStageAxisOptions>;
  /** camera pixels per µm of stage travel, for offsetPx() */
  pxPerUm?: number;
  /** which stage axes move the field of view horizontally / vertically */
  xAxis?: string;
  yAxis?: string;
}

interface SimAxis {
  cfg: StageAxisConfig;
  opt: SimStageAxisOptions;
  stepsPerUm: number;
  /** physical carriage position, microsteps in the stage frame */
  pos: number;
  steps: number;
  switchClosed: boolean;
  unobserve: () => void;
}

/**
 * The stage's simulated twin: a carriage on a lead screw driven by a STEP/DIR driver. It counts
 * STEP rising edges (direction read from DIR at that instant, ignored while ENABLE is inactive),
 * stops at the mechanical ends of travel and closes the limit switch at the home end — the same
 * electrical behaviour the GPIO stepper driver sees on a real board.
 */
export class SimGpioStage {
  private readonly axes = new Map<string, SimAxis>();
  private readonly pxPerUm: number;

  constructor(
    private readonly chip: SimGpioChip,
    private readonly opts: SimGpioStageOptions,
  ) {
    this.pxPerUm = opts.pxPerUm ?? 0.1;
    for (const [name, cfg] of Object.entries(opts.axes)) {
      const opt = opts.perAxis?.[name] ?? {};
      const stepsPerUm = cfg.stepsPerUm * cfg.microstep;
      const startUm = opt.startUm ?? (cfg.minUm + cfg.maxUm) / 2;
      const axis: SimAxis = {
        cfg,
        opt,
        stepsPerUm,
        pos: Math.round(startUm * stepsPerUm),
        steps: 0,
        switchClosed: false,
        unobserve: () => {},
      };
      axis.unobserve = chip.observe(cfg.stepPin, (level) => {
        if (level === 1) this.onStep(axis);
      });
      this.axes.set(name, axis);
      this.updateSwitch(axis);
    }
  }

  /** physical position in µm (what a ruler on the stage would read) */
  positionUm(axis: string): number {
    const a = this.axes.get(axis);
    if (!a) throw new Error(`sim stage: unknown axis ${axis}`);
    return a.pos / a.stepsPerUm;
  }

  /** STEP pulses received (including those lost against the end stops) */
  stepCount(axis: string): number {
    return this.axes.get(axis)?.steps ?? 0;
  }

  /** field-of-view shift for the simulated camera: carriage offset from the centre of travel */
  offsetPx(): { x: number; y: number } {
    const off = (name: string | undefined): number => {
      const a = name ? this.axes.get(name) : undefined;
      if (!a) return 0;
      return (a.pos / a.stepsPerUm - (a.cfg.minUm + a.cfg.maxUm) / 2) * this.pxPerUm;
    };
    const names = [...this.axes.keys()];
    return {
      x: off(this.opts.xAxis ?? names[0]),
      y: off(this.opts.yAxis ?? names[1]),
    };
  }

  dispose(): void {
    for (const a of this.axes.values()) a.unobserve();
  }

  private onStep(a: SimAxis): void {
    a.steps++;
    if (a.opt.stallAfterSteps !== undefined && a.steps > a.opt.stallAfterSteps) return;
    const enablePin = a.cfg.enablePin;
    if (enablePin !== undefined) {
      const electrical = this.chip.level(enablePin);
      const enabled = a.cfg.enableActiveLow ? electrical === 0 : electrical === 1;
      if (!enabled) return;
    }
    const dir = this.chip.level(a.cfg.dirPin) === 1 ? 1 : -1;
    // mechanical ends sit a little beyond the soft limits; the switch closes just inside them
    const margin = Math.max(1, Math.round(0.02 * (a.cfg.maxUm - a.cfg.minUm) * a.stepsPerUm));
    const lo = Math.round(a.cfg.minUm * a.stepsPerUm) - margin;
    const hi = Math.round(a.cfg.maxUm * a.stepsPerUm) + margin;
    a.pos = Math.min(hi, Math.max(lo, a.pos + dir));
    this.updateSwitch(a);
  }

  private updateSwitch(a: SimAxis): void {
    const pin = a.cfg.limitPin;
    if (pin === undefined) return;
    const home = a.cfg.homeDirection === 'min' ? a.cfg.minUm : a.cfg.maxUm;
    const homeSteps = Math.round(home * a.stepsPerUm);
    const pressed = !a.opt.limitBroken && (a.cfg.homeDirection === 'min' ? a.pos <= homeSteps : a.pos >= homeSteps);
    if (pressed === a.switchClosed && this.chip.level(pin) === this.electrical(a, pressed)) return;
    a.switchClosed = pressed;
    for (let i = 0; i < (a.opt.bounces ?? 0); i++) {
      this.chip.drive(pin, this.electrical(a, !pressed));
      this.chip.drive(pin, this.electrical(a, pressed));
    }
    this.chip.drive(pin, this.electrical(a, pressed));
  }

  private electrical(a: SimAxis, pressed: boolean): Bit {
    const logical = pressed ? 1 : 0;
    return (a.cfg.limitActiveLow ? 1 - logical : logical) as Bit;
  }
}
