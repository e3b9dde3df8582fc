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

/*
 * Mutation check (deliberate wrong behaviour in the driver → the test that turns red):
 * | mutation                                                   | caught by                                         |
 * |------------------------------------------------------------|---------------------------------------------------|
 * | STEP high/low or DIR setup/hold wait removed or shortened   | "holds every STEP pulse and DIR change to …"      |
 * | home() clears the e-stop / resetEstop missing               | "e-stop rejects the in-flight move…"              |
 * | absolute move allowed before homing                         | "refuses absolute moves on an axis not homed…"    |
 * | multi-axis move checked axis by axis                        | "validates a multi-axis move as a whole…"         |
 * | speedUmS ignored                                            | "speedUmS caps the step rate"                     |
 * | limit checked before "target reached" / switch at minUm a hit | "reaching minUm on a homed axis…"               |
 * | AbortSignal ignored                                         | "an aborted move stops stepping…"                 |
 */
// DRV8825 datasheet (TI SLVSA73), "Timing Requirements": the strictest of the three drivers
const DRV8825 = { highNs: 1900n, lowNs: 1900n, dirSetupNs: 650n, dirHoldNs: 650n };

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
    const err = await stage.moveBy('x', 900).catch((e: unknown) => e);
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
    await stage.home('x');
    const homedSteps = twin.stepCount('x');
    const move = stage.moveTo('x', 1000).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 30));
    stage.estop();
    const err = await move;
    expect((err as StageFault).code).toBe('estop');
    const stepsAtStop = twin.stepCount('x');
    expect(stepsAtStop - homedSteps).toBeLessThan(500);
    await new Promise((r) => setTimeout(r, 30));
    expect(twin.stepCount('x')).toBe(stepsAtStop);
    // ENABLE is active-low: de-energised = electrically high
    expect(chip.level(4)).toBe(1);
    await expect(stage.moveTo('x', 10)).rejects.toThrow(/emergency-stopped/);
    expect(stage.status().estopped).toBe(true);
    // home() must not clear the latch; only resetEstop() does, and it moves nothing
    await expect(stage.home('x')).rejects.toThrow(/emergency-stopped/);
    expect(twin.stepCount('x')).toBe(stepsAtStop);
    stage.resetEstop();
    expect(stage.status().estopped).toBe(false);
    expect(twin.stepCount('x')).toBe(stepsAtStop);
    await expect(stage.moveTo('x', 10)).rejects.toThrow(/not homed/);
    await stage.home('x');
    await stage.moveTo('x', 10);
    await stage.close();
  });

  it('stops a move that runs into the limit switch and asks for re-homing', async () => {
    // unhomed: the host believes it is at 0 but the carriage is at -300, 200 µm from the switch
    const { stage, twin } = await rig({
      axis: { minUm: -500 },
      sim: { startUm: -300 },
    });
    const err = await stage.moveBy('x', -400).catch((e: unknown) => e);
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
    await stage.home('x');
    const first = stage.moveTo('x', 300);
    await expect(stage.moveTo('x', 10)).rejects.toThrow(/already moving/);
    await first;
    expect(stage.position('x')).toBe(300);
    await stage.close();
  });

  it('refuses absolute moves on an axis not homed, unless allowUnhomedMoves is set', async () => {
    const { stage, twin } = await rig();
    await expect(stage.moveTo('x', 300)).rejects.toThrow(/not homed/);
    expect(twin.stepCount('x')).toBe(0);
    // jogging is allowed, bounded by the travel
    await expect(stage.moveBy('x', 5000)).rejects.toThrow(/longer than the axis' travel/);
    await stage.moveBy('x', 20);
    expect(twin.stepCount('x')).toBe(20);
    await stage.close();
    const loose = await rig({ axis: { allowUnhomedMoves: true } });
    // the carriage starts mid-travel (500) where the host believes 0: trusting that is the hazard
    await loose.stage.moveTo('x', 300);
    expect(loose.twin.positionUm('x')).toBe(800);
    await loose.stage.close();
  });

  it('validates a multi-axis move as a whole before any axis moves', async () => {
    const chip = new SimGpioChip();
    const x = axisCfg();
    const y = { ...axisCfg(), stepPin: 12, dirPin: 13, enablePin: 14, limitPin: 15 };
    const twin = new SimGpioStage(chip, { axes: { x, y } });
    const stage = await GpioStepperStage.open(chip, { axes: { x, y }, debounceMs: 1, motionTimeoutMs: 10_000 }, silentLogger);
    await stage.home();
    const before = [twin.stepCount('x'), twin.stepCount('y')];
    await expect(stage.move({ x: 100, y: 5000 })).rejects.toThrow(/axis y: target 5000/);
    await expect(stage.move({ x: 100, y: 10 }, { speedUmS: 1e9 })).rejects.toThrow(/exceeds/);
    expect([twin.stepCount('x'), twin.stepCount('y')]).toEqual(before);
    await stage.move({ x: 100, y: 40 });
    expect([stage.position('x'), stage.position('y')]).toEqual([100, 40]);
    await stage.close();
    twin.dispose();
  });

  it('reaching minUm on a homed axis is not a limit hit', async () => {
    const { stage, twin, faults } = await rig({ sim: { startUm: 300 } });
    await stage.home('x');
    const home = twin.positionUm('x');
    for (let i = 0; i < 3; i++) {
      await stage.moveTo('x', 200);
      await stage.moveTo('x', 0);
      expect(twin.positionUm('x')).toBe(home);
    }
    expect(stage.status().axes.x.homed).toBe(true);
    await stage.park();
    expect(faults).toHaveLength(0);
    await stage.close();
  });

  it('speedUmS caps the step rate', async () => {
    // a lower bound only: software stepping may lag its profile, never run ahead of it
    const { stage, chip } = await rig({ axis: { maxSpeedUmS: 20000, accelUmS2: 1e6 } });
    await stage.home('x');
    const rises: bigint[] = [];
    chip.observe(2, (level, t) => {
      if (level === 1) rises.push(t);
    });
    const start = process.hrtime.bigint();
    await stage.moveTo('x', 200, { speedUmS: 2000 });
    expect(rises).toHaveLength(200);
    const seconds = Number(rises[rises.length - 1] - start) / 1e9;
    // the 200th step is due 200/2000 s (+ the ramp) after the move starts; at the 20000 steps/s
    // maximum it would be due after ~10 ms
    expect(seconds).toBeGreaterThanOrEqual(0.1);
    await stage.close();
  });

  it('an aborted move stops stepping, rejects with "aborted" and records no fault', async () => {
    const { stage, twin, faults } = await rig({ axis: { maxSpeedUmS: 2000, accelUmS2: 4000 } });
    await stage.home('x');
    const ac = new AbortController();
    const move = stage.moveTo('x', 1000, { signal: ac.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 30));
    ac.abort();
    expect(((await move) as StageFault).code).toBe('aborted');
    const steps = twin.stepCount('x');
    await new Promise((r) => setTimeout(r, 30));
    expect(twin.stepCount('x')).toBe(steps);
    expect(faults).toHaveLength(0);
    await stage.close();
  });

  it('holds every STEP pulse and DIR change to the DRV8825 minimums (strictest of A4988/DRV8825/TMC2209)', async () => {
    const { stage, chip } = await rig({ sim: { startUm: 40 } });
    const edges: Array<{ pin: number; level: number; t: bigint }> = [];
    for (const pin of [2, 3]) chip.observe(pin, (level, t) => edges.push({ pin, level, t }));
    await stage.home('x'); // toward the switch, back off, slow approach: two DIR reversals
    await stage.moveTo('x', 60);
    await stage.moveTo('x', 10);
    let dirAt = -1n;
    let riseAt = -1n;
    let fallAt = -1n;
    let rises = 0;
    let reversals = 0;
    for (const e of edges) {
      if (e.pin === 3) {
        if (riseAt >= 0n) expect(e.t - riseAt).toBeGreaterThanOrEqual(DRV8825.dirHoldNs);
        dirAt = e.t;
        reversals++;
      } else if (e.level === 1) {
        if (dirAt >= 0n) expect(e.t - dirAt).toBeGreaterThanOrEqual(DRV8825.dirSetupNs);
        if (fallAt >= 0n) expect(e.t - fallAt).toBeGreaterThanOrEqual(DRV8825.lowNs);
        riseAt = e.t;
        rises++;
      } else {
        expect(e.t - riseAt).toBeGreaterThanOrEqual(DRV8825.highNs);
        fallAt = e.t;
      }
    }
    expect(rises).toBeGreaterThan(100);
    expect(reversals).toBeGreaterThanOrEqual(3);
    await stage.close();
  });
});
