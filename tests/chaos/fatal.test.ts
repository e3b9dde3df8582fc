import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { dmdSchema } from '../../src/config/hardware.ts';
import { countLit, parsePatternSpec, renderPattern } from '../../src/hardware/patterns.ts';
import { createSimDmdRig } from '../../src/hardware/sim/dmd-rig.ts';
import { SimGpioChip } from '../../src/hardware/sim/gpio-chip.ts';
import { SimGpioStage } from '../../src/hardware/sim/stage-gpio.ts';
import { GpioStepperStage } from '../../src/hardware/stage/gpio-stepper.ts';
import { installFatalHandlers } from '../../src/health/fatal.ts';
import { silentLogger } from '../../src/log.ts';
import { AXIS } from './harness.ts';

// An unhandled rejection leaves the daemon in an unknown state: before the process exits the
// stage is parked and the DMD blanked. Checked on the device models (carriage, mirrors).
describe('a fatal error makes the instrument safe before exiting', () => {
  it('parks the stage and blanks the DMD on unhandledRejection, then exits 1', async () => {
    const dmd = createSimDmdRig(dmdSchema.parse({ type: 'dlpc900', bus: 'sim' }) as Parameters<typeof createSimDmdRig>[0]);
    const chip = new SimGpioChip();
    const axes = { x: AXIS };
    const twin = new SimGpioStage(chip, { axes });
    const stage = await GpioStepperStage.open(chip, { axes, debounceMs: 0, motionTimeoutMs: 30_000 }, silentLogger);
    await stage.home();
    await stage.moveTo('x', 800);
    await dmd.dmd.setLeds(true);
    await dmd.dmd.showMask(renderPattern(parsePatternSpec({ kind: 'grid', pitch: 64 }), dmd.dmd.width, dmd.dmd.height));
    expect(dmd.model.shownMask()).not.toBeNull();
    expect(twin.positionUm('x')).toBeGreaterThan(700);

    const proc = new EventEmitter();
    const exits: number[] = [];
    const exited = new Promise<void>((resolve) => {
      installFatalHandlers({
        proc: proc as never,
        log: silentLogger,
        // what the daemon's stop does with its devices (instrument.close): park, then blank
        steps: () => [
          { name: 'park stage', timeoutMs: 10_000, run: () => stage.park() },
          { name: 'blank DMD', timeoutMs: 5000, run: () => dmd.dmd.blank() },
        ],
        exit: (code) => {
          exits.push(code);
          resolve();
        },
      });
    });
    proc.emit('unhandledRejection', new Error('a bug nobody caught'));
    await exited;
    expect(exits).toEqual([1]);
    const shown = dmd.model.shownMask();
    expect(shown === null || countLit(shown) === 0).toBe(true);
    expect(twin.positionUm('x')).toBeLessThan(5);
    await stage.close();
    twin.dispose();
  });
});
