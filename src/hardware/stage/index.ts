import type { StageConfig } from '../../config/hardware.ts';
import type { Logger } from '../../log.ts';
import { SysfsGpioChip } from '../gpio/onoff-chip.ts';
import type { GpioChip } from '../gpio/types.ts';
import { SimFirmataDevice } from '../sim/firmata-device.ts';
import { SimGpioChip } from '../sim/gpio-chip.ts';
import { SimGpioStage } from '../sim/stage-gpio.ts';
import { FirmataStage, openSerialTransport } from './firmata-stage.ts';
import { GpioStepperStage } from './gpio-stepper.ts';
import type { FaultSink, Stage } from './types.ts';

export {
  FirmataStage,
  type FirmataTransport,
  openSerialTransport,
} from './firmata-stage.ts';
export { GpioStepperStage } from './gpio-stepper.ts';
export { type Trapezoid, trapezoid } from './profile.ts';
export * from './types.ts';

/** What the simulated camera needs from a simulated stage: where the field of view has moved. */
export interface StageTwin {
  offsetPx(): { x: number; y: number };
}

export interface CreatedStage {
  stage: Stage | null;
  /** present when the stage runs against a simulated mechanism (chip "sim" / port "sim") */
  twin?: StageTwin;
}

export interface StageDeps {
  /** record a device fault (e.g. the hardware fault registry's record) */
  onFault?: FaultSink;
  /** override the GPIO chip (tests, other boards) */
  gpioChip?: GpioChip;
  /** camera pixels per µm for the simulated twin's offsetPx() */
  pxPerUm?: number;
}

/** Build the stage from the `hardware.stage` config section. Errors opening hardware propagate. */
export async function createStage(cfg: StageConfig, log: Logger, deps: StageDeps = {}): Promise<CreatedStage> {
  const onFault: FaultSink = deps.onFault ?? (() => {});
  const slog = log.child({ module: 'stage' });
  if (cfg.type === 'none') return { stage: null };
  if (cfg.type === 'gpio') {
    let chip = deps.gpioChip;
    let twin: SimGpioStage | undefined;
    if (!chip && cfg.chip === 'sim') {
      const sim = new SimGpioChip();
      twin = new SimGpioStage(sim, { axes: cfg.axes, pxPerUm: deps.pxPerUm });
      chip = sim;
    }
    chip ??= new SysfsGpioChip();
    const stage = await GpioStepperStage.open(
      chip,
      {
        axes: cfg.axes,
        debounceMs: cfg.debounceMs,
        motionTimeoutMs: cfg.motionTimeoutMs,
      },
      slog,
      onFault,
    );
    return { stage, twin };
  }
  if (cfg.port === 'sim') {
    // the simulated firmware keeps positions in steps; its switch sits at the home end (steps 0)
    const device = new SimFirmataDevice(
      Object.fromEntries(
        Object.values(cfg.axes).map((a, dev) => [
          dev,
          {
            limitPin: a.limitPin,
            activeLow: a.limitActiveLow,
            switchAt: 0,
            start: Math.round(((a.maxUm - a.minUm) / 2) * a.stepsPerUm * a.microstep),
          },
        ]),
      ),
    );
    const stage = await FirmataStage.open(device, { axes: cfg.axes, motionTimeoutMs: cfg.motionTimeoutMs }, slog, onFault);
    return { stage };
  }
  const transport = await openSerialTransport(cfg.port);
  return {
    stage: await FirmataStage.open(transport, { axes: cfg.axes, motionTimeoutMs: cfg.motionTimeoutMs }, slog, onFault),
  };
}
