import { describe, expect, it } from 'vitest';
import type { StageAxisConfig } from '../../../../src/config/hardware.ts';
import { stageSchema } from '../../../../src/config/hardware.ts';
import { UserError } from '../../../../src/errors.ts';
import { SimGpioChip } from '../../../../src/hardware/sim/gpio-chip.ts';
import { SimGpioStage, type SimStageAxisOptions } from '../../../../src/hardware/sim/stage-gpio.ts';
import { GpioStepperStage } from '../../../../src/hardware/stage/gpio-stepper.ts';
import { trapezoid } from '../../../../src/hardware/stage/profile.ts';
import { StageFault } from '../../../../src/hardware/stage/types.ts';
import { silentLogger } from '../../../../src/log.ts';

function axisCfg(over: Partial<StageAxisConfig> = {}): StageAxisConfig {
  const parsed = stageSchema.parse({
    type: 'gpio',
    axes: {
      x: {
        stepPin: 2,
        dirPin: 3,
        enablePin: 4,
        limitPin: 5,
        stepsPerUm: 1,
        microstep: 1,
        minUm: 0,
        maxUm: 1000,
        maxSpeedUmS: 20000,
        accelUmS2: 400000,
        homeBackoffUm: 50,
        ...over,
      },
    },
  });
  if (parsed.type !== 'gpio') throw new Error('unreachable');
  return parsed.axes.x;
}

async function rig(opts: { axis?: Partial<StageAxisConfig>; sim?: SimStageAxisOptions; timeoutMs?: number } = {}) {
  const chip = new SimGpioChip();
  const cfg = axisCfg(opts.axis);
  const twin = new SimGpioStage(chip, {
    axes: { x: cfg },
    perAxis: { x: opts.sim ?? {} },
    pxPerUm: 0.5,
  });
  const faults: Error[] = [];
  const stage = await GpioStepperStage.open(
    chip,
    {
      axes: { x: cfg },
      debounceMs: 1,
      motionTimeoutMs: opts.timeoutMs ?? 10_000,
    },
    silentLogger,
    (_d, e) => faults.push(e),
  );
  return { chip, twin, stage, faults };
}

describe('trapezoidal profile', () => {
  it('reaches the distance, is monotonic, triangular when short', () => {
    const long = trapezoid(1000, 100, 1000);
    expect(long.peakSpeed).toBe(100);
    expect(long.positionAt(long.duration)).toBe(1000);
    let prev = 0;
    for (let t = 0; t <= long.duration; t += long.duration / 50) {
      const p = long.positionAt(t);
      expect(p).toBeGreaterThanOrEqual(prev - 1e-9);
      prev = p;
    }
    const short = trapezoid(10, 100, 1000);
    expect(short.peakSpeed).toBeCloseTo(100, 0);
    expect(short.peakSpeed).toBeLessThanOrEqual(100);
    expect(trapezoid(4, 100, 1000).peakSpeed).toBeCloseTo(Math.sqrt(4 * 1000), 6);
  });
});

describe('GPIO stepper stage', () => {
  it('homing finds the switch and makes host and carriage agree', async () => {
    const { stage, twin } = await rig({ sim: { startUm: 600, bounces: 3 } });
    await stage.home('x');
    expect(stage.status().axes.x.homed).toBe(true);
    expect(stage.position('x')).toBe(0);
    // the carriage sits at the switch (how far past it depends on scheduling: software stepping
    // overshoots by the steps emitted before the debounced edge is seen; the end stop bounds it)
    const p0 = twin.positionUm('x');
    expect(p0).toBeLessThanOrEqual(0);
    expect(p0).toBeGreaterThanOrEqual(-20);
    await stage.moveTo('x', 400);
    expect(stage.position('x')).toBe(400);
    expect(twin.positionUm('x') - p0).toBe(400);
    await stage.moveBy('x', -150);
    expect(twin.positionUm('x') - p0).toBe(250);
    expect(twin.offsetPx().x).toBeCloseTo((twin.positionUm('x') - 500) * 0.5, 6);
    await stage.close();
  });

  it('refuses moves outside the soft limits with a clear error and no motion', async () => {
    const { stage, twin } = await rig();
    await expect(stage.moveTo('x', 1200)).rejects.toThrow(UserError);
    await expect(stage.moveTo('x', -1)).rejects.toThrow(/outside the soft limits \[0, 1000\]/);
    await expect(stage.moveTo('y', 1)).rejects.toThrow(/unknown stage axis "y"/);
    await expect(stage.moveTo('x', Number.NaN)).rejects.toThrow(/finite/);
    expect(twin.stepCount('x')).toBe(0);
    await stage.close();
  });

  it('a missing limit switch makes homing fail after max travel', async () => {
    const { stage, faults } = await rig({ sim: { limitBroken: true } });
    const err = await stage.home('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StageFault);
    expect((err as StageFault).code).toBe('home-not-found');
    expect(stage.status().axes.x.homed).toBe(false);
    expect(faults).toHaveLength(1);
    await stage.close();
  });

  it('a stalled move stops with a timeout error', async () => {
    const { stage, faults } = await rig({
      axis: { maxSpeedUmS: 2000, accelUmS2: 2000 },
      timeoutMs: 40,
    });
    const err = await stage.moveTo('x', 900).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StageFault);
    expect((err as StageFault).code).toBe('timeout');
    expect(stage.status().axes.x.moving).toBe(false);
    expect(faults.map((f) => (f as StageFault).code)).toEqual(['timeout']);
    await stage.close();
  });

  it('e-stop rejects the in-flight move, stops stepping and blocks moves until re-homed', async () => {
    const { stage, twin, chip } = await rig({
      axis: { maxSpeedUmS: 2000, accelUmS2: 4000 },
    });
    const move = stage.moveTo('x', 1000).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 30));
    stage.estop();
    const err = await move;
    expect((err as StageFault).code).toBe('estop');
    const stepsAtStop = twin.stepCount('x');
    expect(stepsAtStop).toBeLessThan(500);
    await new Promise((r) => setTimeout(r, 30));
    expect(twin.stepCount('x')).toBe(stepsAtStop);
    // ENABLE is active-low: de-energised = electrically high
    expect(chip.level(4)).toBe(1);
    await expect(stage.moveTo('x', 10)).rejects.toThrow(/emergency-stopped/);
    expect(stage.status().estopped).toBe(true);
    await stage.home('x');
    expect(stage.status().estopped).toBe(false);
    await stage.close();
  });

  it('stops a move that runs into the limit switch and asks for re-homing', async () => {
    // unhomed: the host believes it is at 0 but the carriage is at -300, 200 µm from the switch
    const { stage, twin } = await rig({
      axis: { minUm: -500 },
      sim: { startUm: -300 },
    });
    const err = await stage.moveTo('x', -400).catch((e: unknown) => e);
    expect((err as StageFault).code).toBe('limit-hit');
    expect(stage.status().axes.x.homed).toBe(false);
    expect(stage.status().axes.x.limit).toBe(true);
    expect(twin.positionUm('x')).toBeLessThanOrEqual(-500);
    await stage.close();
  });

  it('refuses a second move on a busy axis', async () => {
    const { stage } = await rig({
      axis: { maxSpeedUmS: 5000, accelUmS2: 50000 },
    });
    const first = stage.moveTo('x', 300);
    await expect(stage.moveTo('x', 10)).rejects.toThrow(/already moving/);
    await first;
    expect(stage.position('x')).toBe(300);
    await stage.close();
  });
});
