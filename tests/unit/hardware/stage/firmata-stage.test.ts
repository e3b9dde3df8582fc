import { describe, expect, it } from 'vitest';
import type { StageAxisConfig } from '../../../../src/config/hardware.ts';
import { stageSchema } from '../../../../src/config/hardware.ts';
import { UserError } from '../../../../src/errors.ts';
import {
  decodeFloat,
  decodeInt32,
  encodeInt32,
  SimFirmataDevice,
  type SimFirmataStepperOptions,
} from '../../../../src/hardware/sim/firmata-device.ts';
import { FirmataStage } from '../../../../src/hardware/stage/firmata-stage.ts';
import { createStage, type StageFault } from '../../../../src/hardware/stage/index.ts';
import { silentLogger } from '../../../../src/log.ts';

/*
 * Expected bytes follow firmata/protocol accelStepperFirmata.md (AccelStepperFirmata, "Stepper 2.0",
 * Firmata protocol 2.6.0): START_SYSEX 0xF0, ACCELSTEPPER_DATA 0x62, command, device, payload, END_SYSEX 0xF7.
 * The twin (src/hardware/sim/firmata-device.ts) models AccelStepper's acceleration and what its
 * STOP leaves behind (speed kept), from the AccelStepper class reference.
 *
 * Mutation check (deliberate wrong byte/field in the driver → the test that turns red):
 * | mutation                                                        | caught by                                  |
 * |-----------------------------------------------------------------|--------------------------------------------|
 * | config interface byte 0x11 → 0x10 / invert mask 0x10 → 0x01     | "configures the stepper with the exact…"   |
 * | custom-float exponent bias −11 → −10; no clamp at FLOAT_MAX     | "configures…" (speed / acceleration bytes) |
 * | STEP (0x02) sent as TO (0x03) in homing / sign bit 0x08 dropped | "homes on the switch…"                     |
 * | no ZERO after a STOP (limit, timeout, e-stop)                   | "a stop at speed…", "an e-stop at speed…", "homing at a realistic…", "a timed-out move…" |
 * | e-stop sends STOP alone (no position report + ZERO)             | "an e-stop at speed…"                      |
 * | relative move planned before a STOP's position report arrived   | "an e-stop at speed…"                      |
 * | permanent move-complete listener does not update the counter    | "homes on the switch…"                     |
 * | no Stepper limit (0x07) message for the home switch             | "configures the stepper with the exact…"   |
 * | e-stop cleared by home() / resetEstop() missing                 | "e-stop latches…"                          |
 * | AbortSignal ignored                                             | "an aborted move stops promptly…"          |
 * | speedUmS not sent (SET_SPEED 0x09 before the TO)                | "speedUmS slows the move…"                 |
 * | switch at minUm counted as a hit                                | "reaching minUm on a homed axis…"          |
 * | absolute move before homing allowed / multi-axis checked per axis | "refuses absolute moves before homing…", "validates a multi-axis move…" |
 */
const axis = (over: Partial<StageAxisConfig> = {}): StageAxisConfig => {
  const p = stageSchema.parse({
    type: 'firmata',
    axes: {
      x: {
        stepPin: 2,
        dirPin: 3,
        enablePin: 4,
        limitPin: 9,
        stepsPerUm: 1,
        microstep: 1,
        minUm: 0,
        maxUm: 1000,
        maxSpeedUmS: 20000,
        accelUmS2: 100000,
        homeBackoffUm: 50,
        ...over,
      },
    },
  });
  if (p.type !== 'firmata') throw new Error('unreachable');
  return p.axes.x;
};

async function rig(sim: SimFirmataStepperOptions = {}, cfg = axis(), timeoutMs = 10_000, extra: Record<string, StageAxisConfig> = {}) {
  const device = new SimFirmataDevice(
    { 0: { limitPin: 9, start: 400, switchAt: 0, ...sim }, 1: { limitPin: 10, start: 400, switchAt: 0 } },
    2,
  );
  const faults: Error[] = [];
  const stage = await FirmataStage.open(device, { axes: { x: cfg, ...extra }, motionTimeoutMs: timeoutMs }, silentLogger, (_d, e) =>
    faults.push(e),
  );
  return { device, stage, faults };
}

const sysex = (device: SimFirmataDevice, cmd: number, dev = 0) =>
  device.received.filter((m) => m[0] === 0xf0 && m[1] === 0x62 && m[2] === cmd && m[3] === dev);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AccelStepperFirmata encodings (protocol doc examples)', () => {
  it('the twin decodes the documented custom floats and round-trips 32-bit integers', () => {
    expect(decodeFloat([0x01, 0x00, 0x00, 0x34])).toBeCloseTo(100, 9); // "100 steps per second"
    expect(decodeFloat([0x31, 0x45, 0x29, 0x05])).toBeCloseTo(2777777e-10, 12); // "1 step per hour"
    for (const v of [0, 1, -1, 127, 128, -5000, 2 ** 31 - 1, -(2 ** 31 - 1)]) expect(decodeInt32(encodeInt32(v))).toBe(v);
    expect(encodeInt32(-200)).toEqual([200 & 0x7f, 200 >> 7, 0, 0, 0x08]);
  });
});

describe('Firmata stage against the simulated firmware', () => {
  it('configures the stepper with the exact ACCELSTEPPER_DATA bytes', async () => {
    const { device, stage } = await rig();
    // config: interface = driver (001 in the upper 3 bits) | whole step | has enable pin → 0x11,
    // step pin, dir pin, enable pin, invert mask bit 4 (enable is active-low)
    expect(sysex(device, 0x00)).toEqual([[0xf0, 0x62, 0x00, 0x00, 0x11, 2, 3, 4, 0x10, 0xf7]]);
    // max speed 20000 steps/s = 2 × 10^4 → significand 2, exponent 4+11 = 15 → last byte 15 << 2
    expect(sysex(device, 0x09)[0]).toEqual([0xf0, 0x62, 0x09, 0x00, 0x02, 0x00, 0x00, 15 << 2, 0xf7]);
    // acceleration 100000 steps/s² exceeds the format's range (max 83886.08): the host clamps it
    // instead of letting firmata.js wrap the exponent (it would arrive as 1e-11)
    expect(decodeFloat(sysex(device, 0x08)[0].slice(4, 8))).toBeCloseTo(83886, 1);
    // limit pin: SET_PIN_MODE 9 INPUT, then REPORT_DIGITAL for port 1 (pins 8-15)
    expect(device.received).toContainEqual([0xf4, 9, 0x00]);
    expect(device.received).toContainEqual([0xd1, 1]);
    // Stepper limit: lower limit pin 9, limit state 1 (switch reads high when pressed), no upper (127)
    expect(sysex(device, 0x07)).toEqual([[0xf0, 0x62, 0x07, 0x00, 9, 1, 0x7f, 0, 0xf7]]);
    await stage.close();
  });

  it('homes on the switch, then a move sends STEPPER_TO and completes on the move-complete report', async () => {
    const { device, stage } = await rig();
    await stage.home('x');
    expect(stage.status().axes.x.homed).toBe(true);
    expect(stage.position('x')).toBe(0);
    // homing seeks with a relative step command of −(1.1 × range + backoff) steps
    expect(sysex(device, 0x02)[0]).toEqual([0xf0, 0x62, 0x02, 0x00, ...encodeInt32(-1150), 0xf7]);
    // every STOP (two limit stops while homing) is followed by a position request and ZERO
    const stops = device.received.flatMap((m, i) => (m[2] === 0x05 && m[1] === 0x62 ? [i] : []));
    expect(stops.length).toBe(2);
    for (const i of stops) {
      const after = device.received.slice(i + 1).filter((m) => m[1] === 0x62 && (m[2] === 0x06 || m[2] === 0x01));
      expect(after.slice(0, 2)).toEqual([
        [0xf0, 0x62, 0x06, 0x00, 0xf7],
        [0xf0, 0x62, 0x01, 0x00, 0xf7],
      ]);
    }
    const switchPhys = device.physical(0);
    await stage.moveTo('x', 300);
    expect(sysex(device, 0x03).at(-1)).toEqual([0xf0, 0x62, 0x03, 0x00, 300 & 0x7f, 300 >> 7, 0, 0, 0, 0xf7]);
    expect(stage.position('x')).toBe(300);
    expect(device.physical(0) - switchPhys).toBe(300);
    await stage.close();
  });

  it('a stop at speed leaves no speed behind: the back-off does not first drive into the switch', async () => {
    // the case: 800 steps/s, 4000 steps/s²; stopping distance 800²/(2·4000) = 80 steps
    const { device, stage } = await rig({ start: 600 }, axis({ maxSpeedUmS: 800, accelUmS2: 4000, maxUm: 2000 }));
    const hit = (await stage.moveBy('x', -1000).catch((e: unknown) => e)) as StageFault;
    expect(hit.code).toBe('limit-hit');
    const stoppedAt = device.physical(0);
    expect(stoppedAt).toBeLessThanOrEqual(0);
    expect(device.speed(0)).toBe(0);
    device.resetExtremes(0);
    await stage.moveBy('x', 200);
    // AccelStepper with its old speed would go ~80 steps further toward the switch first
    expect(device.extremes(0).min).toBe(stoppedAt);
    expect(device.physical(0)).toBe(stoppedAt + 200);
    expect(stage.position('x') - 0).toBe(device.physical(0) - 600);
    await stage.close();
  });

  it('an e-stop at speed leaves no speed behind: the next move does not first coast on', async () => {
    // same figures as the limit case, heading away from the switch: 80 steps of stopping distance
    const { device, stage } = await rig({ start: 400 }, axis({ maxSpeedUmS: 800, accelUmS2: 4000, maxUm: 5000 }));
    const move = stage.moveBy('x', 3000).catch((e: unknown) => e);
    for (let i = 0; i < 200 && device.speed(0) < 800; i++) await sleep(5);
    expect(device.speed(0)).toBe(800);
    stage.estop();
    expect(((await move) as StageFault).code).toBe('estop');
    stage.resetEstop();
    const stoppedAt = device.physical(0);
    device.resetExtremes(0);
    // at once: the relative target must come from the halted position, not the last move-complete
    await stage.moveBy('x', -200);
    // AccelStepper with its old speed would go ~80 steps further away first, then come back
    expect(device.extremes(0).max).toBe(stoppedAt);
    expect(device.physical(0)).toBe(stoppedAt - 200);
    expect(stage.position('x')).toBe(device.physical(0) - 400);
    await stage.close();
  });

  it('homing at a realistic speed and acceleration finds the switch and keeps the frame exact', async () => {
    const { device, stage } = await rig({ start: 300 }, axis({ maxSpeedUmS: 1600, accelUmS2: 8000, homeBackoffUm: 40 }));
    await stage.home('x');
    const home = device.physical(0);
    // the slow approach stops within a step or two of where the switch closes (at 0)
    expect(home).toBeLessThanOrEqual(0);
    expect(home).toBeGreaterThanOrEqual(-3);
    expect(device.extremes(0).min).toBeGreaterThanOrEqual(-12);
    await stage.moveTo('x', 250);
    expect(device.physical(0) - home).toBe(250);
    await stage.close();
  });

  it('fails homing when the switch never closes', async () => {
    const { stage, faults } = await rig({ limitBroken: true });
    const err = await stage.home('x').catch((e: unknown) => e);
    expect((err as StageFault).code).toBe('home-not-found');
    expect(faults).toHaveLength(1);
    await stage.close();
  });

  it('e-stop sends STOP and disable, rejects the in-flight move and latches until resetEstop()', async () => {
    const { device, stage } = await rig({}, axis({ maxSpeedUmS: 1000 }));
    await stage.home('x');
    const move = stage.moveTo('x', 900).catch((e: unknown) => e);
    await sleep(30);
    stage.estop();
    expect(((await move) as StageFault).code).toBe('estop');
    expect(sysex(device, 0x05).length).toBeGreaterThan(0);
    expect(sysex(device, 0x04).at(-1)).toEqual([0xf0, 0x62, 0x04, 0x00, 0x00, 0xf7]);
    const at = device.physical(0);
    await sleep(30);
    expect(device.physical(0)).toBe(at);
    await expect(stage.moveTo('x', 10)).rejects.toThrow(/emergency-stopped/);
    // home() does not clear the latch
    await expect(stage.home('x')).rejects.toThrow(/emergency-stopped/);
    expect(stage.status().estopped).toBe(true);
    expect(device.physical(0)).toBe(at);
    stage.resetEstop();
    expect(stage.status().estopped).toBe(false);
    // the e-stop cost the home: absolute moves wait for a new one
    await expect(stage.moveTo('x', 10)).rejects.toThrow(/not homed/);
    await stage.home('x');
    await stage.moveTo('x', 100);
    expect(stage.position('x')).toBe(100);
    await stage.close();
  });

  it('a timed-out move leaves no stale counter: STOP, then the position is re-read', async () => {
    const { device, stage } = await rig({}, axis({ maxSpeedUmS: 100, accelUmS2: 1000 }), 60);
    const err = await stage.moveBy('x', 300).catch((e: unknown) => e);
    expect((err as StageFault).code).toBe('timeout');
    expect(sysex(device, 0x05)).toHaveLength(1);
    const moved = device.physical(0) - 400;
    expect(moved).toBeGreaterThan(0);
    // the host frame starts at the start position: host and carriage agree after the stop
    expect(stage.position('x')).toBe(moved);
    expect(device.speed(0)).toBe(0);
    await stage.close();
  });

  it('an aborted move stops promptly, rejects with "aborted" and is not a device fault', async () => {
    const { device, stage, faults } = await rig({}, axis({ maxSpeedUmS: 1000 }));
    await stage.home('x');
    const ac = new AbortController();
    const move = stage.moveTo('x', 900, { signal: ac.signal }).catch((e: unknown) => e);
    await sleep(30);
    ac.abort();
    expect(((await move) as StageFault).code).toBe('aborted');
    const at = device.physical(0);
    await sleep(30);
    expect(device.physical(0)).toBe(at);
    expect(faults).toHaveLength(0);
    expect(stage.status().axes.x.moving).toBe(false);
    // already aborted: refused before anything is sent
    const before = device.received.length;
    await expect(stage.moveTo('x', 10, { signal: ac.signal })).rejects.toThrow(/aborted/);
    expect(device.received.length).toBe(before);
    await stage.close();
  });

  it('speedUmS slows the move: SET_SPEED before the TO, full speed restored after', async () => {
    const { device, stage } = await rig({}, axis({ maxSpeedUmS: 1000 }));
    await stage.home('x');
    const from = device.received.length;
    await stage.moveTo('x', 200, { speedUmS: 250 });
    const msgs = device.received.slice(from).filter((m) => m[1] === 0x62 && (m[2] === 0x09 || m[2] === 0x03));
    expect(msgs.map((m) => (m[2] === 0x09 ? decodeFloat(m.slice(4, 8)) : 'to'))).toEqual([250, 'to', 1000]);
    await expect(stage.moveTo('x', 10, { speedUmS: 5000 })).rejects.toThrow(/exceeds the axis' maxSpeedUmS 1000/);
    await expect(stage.moveTo('x', 10, { speedUmS: -1 })).rejects.toThrow(UserError);
    await stage.close();
  });

  it('reaching minUm on a homed axis is not a limit hit', async () => {
    const { stage, faults } = await rig();
    await stage.home('x');
    await stage.moveTo('x', 300);
    await stage.moveTo('x', 0);
    expect(stage.position('x')).toBe(0);
    expect(stage.status().axes.x.homed).toBe(true);
    await stage.park();
    expect(faults).toHaveLength(0);
    await stage.close();
  });

  it('refuses absolute moves before homing, unless allowUnhomedMoves is set', async () => {
    const { device, stage } = await rig();
    await expect(stage.moveTo('x', 300)).rejects.toThrow(/not homed/);
    expect(sysex(device, 0x03)).toHaveLength(0);
    await stage.close();
    const loose = await rig({}, axis({ allowUnhomedMoves: true }));
    await loose.stage.moveTo('x', 300);
    expect(loose.device.physical(0)).toBe(700);
    await loose.stage.close();
  });

  it('validates a multi-axis move as a whole before any axis moves', async () => {
    const y = { ...axis(), stepPin: 5, dirPin: 6, enablePin: 7, limitPin: 10 };
    const { device, stage } = await rig({}, axis(), 10_000, { y });
    await stage.home();
    const before = sysex(device, 0x03, 0).length;
    await expect(stage.move({ x: 100, y: 5000 })).rejects.toThrow(/axis y: target 5000/);
    await expect(stage.move({ x: 100, z: 1 })).rejects.toThrow(/unknown stage axis "z"/);
    expect(sysex(device, 0x03, 0).length).toBe(before);
    await stage.move({ x: 100, y: 50 });
    expect([stage.position('x'), stage.position('y')]).toEqual([100, 50]);
    await stage.move({ x: -20, y: 10 }, { relative: true });
    expect([stage.position('x'), stage.position('y')]).toEqual([80, 60]);
    await stage.close();
  });

  it('createStage builds a simulated firmata stage from config', async () => {
    const cfg = stageSchema.parse({
      type: 'firmata',
      port: 'sim',
      axes: {
        z: {
          stepPin: 2,
          dirPin: 3,
          limitPin: 9,
          maxUm: 200,
          maxSpeedUmS: 20000,
          microstep: 1,
        },
      },
    });
    const { stage } = await createStage(cfg, silentLogger);
    if (!stage) throw new Error('expected a stage');
    await stage.home();
    await stage.moveTo('z', 120);
    expect(stage.position('z')).toBe(120);
    expect(stage.axes).toEqual(['z']);
    await stage.close();
    expect((await createStage(stageSchema.parse({ type: 'none' }), silentLogger)).stage).toBeNull();
  });
});
