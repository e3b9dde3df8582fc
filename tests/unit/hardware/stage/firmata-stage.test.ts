import { describe, expect, it } from 'vitest';
import type { StageAxisConfig } from '../../../../src/config/hardware.ts';
import { stageSchema } from '../../../../src/config/hardware.ts';
import { SimFirmataDevice, type SimFirmataStepperOptions } from '../../../../src/hardware/sim/firmata-device.ts';
import { decodeFloat, decodeInt32, encodeInt32, FLOAT_MAX } from '../../../../src/hardware/stage/firmata-protocol.ts';
import { FirmataStage } from '../../../../src/hardware/stage/firmata-stage.ts';
import { createStage, type StageFault } from '../../../../src/hardware/stage/index.ts';
import { silentLogger } from '../../../../src/log.ts';

/*
 * Expected bytes follow firmata/protocol accelStepperFirmata.md (AccelStepperFirmata, "Stepper 2.0",
 * Firmata protocol 2.6.0): START_SYSEX 0xF0, ACCELSTEPPER_DATA 0x62, command, device, payload, END_SYSEX 0xF7.
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

async function rig(sim: SimFirmataStepperOptions = {}, cfg = axis(), timeoutMs = 10_000) {
  const device = new SimFirmataDevice({ 0: { limitPin: 9, start: 400, switchAt: 0, ...sim } }, 2);
  const faults: Error[] = [];
  const stage = await FirmataStage.open(device, { axes: { x: cfg }, motionTimeoutMs: timeoutMs }, silentLogger, (_d, e) => faults.push(e));
  return { device, stage, faults };
}

const sysex = (device: SimFirmataDevice, cmd: number) => device.received.filter((m) => m[0] === 0xf0 && m[1] === 0x62 && m[2] === cmd);

describe('AccelStepperFirmata encodings (protocol doc examples)', () => {
  it('decodes the documented custom floats and round-trips 32-bit integers', () => {
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
    expect(decodeFloat(sysex(device, 0x08)[0].slice(4, 8))).toBeCloseTo(FLOAT_MAX, 1);
    // limit pin: SET_PIN_MODE 9 INPUT, then REPORT_DIGITAL for port 1 (pins 8-15)
    expect(device.received).toContainEqual([0xf4, 9, 0x00]);
    expect(device.received).toContainEqual([0xd1, 1]);
    await stage.close();
  });

  it('homes on the switch, then a move sends STEPPER_TO and completes on the move-complete report', async () => {
    const { device, stage } = await rig();
    await stage.home('x');
    expect(stage.status().axes.x.homed).toBe(true);
    expect(stage.position('x')).toBe(0);
    expect(sysex(device, 0x01)).toEqual([[0xf0, 0x62, 0x01, 0x00, 0xf7]]); // zero
    // homing seeks with a relative step command of −(1.1 × range + backoff) steps
    expect(sysex(device, 0x02)[0]).toEqual([0xf0, 0x62, 0x02, 0x00, ...encodeInt32(-1150), 0xf7]);
    const switchPhys = device.physical(0);
    await stage.moveTo('x', 300);
    expect(sysex(device, 0x03).at(-1)).toEqual([0xf0, 0x62, 0x03, 0x00, 300 & 0x7f, 300 >> 7, 0, 0, 0, 0xf7]);
    expect(stage.position('x')).toBe(300);
    expect(device.physical(0) - switchPhys).toBe(300);
    await stage.close();
  });

  it('fails homing when the switch never closes', async () => {
    const { stage, faults } = await rig({ limitBroken: true });
    const err = await stage.home('x').catch((e: unknown) => e);
    expect((err as StageFault).code).toBe('home-not-found');
    expect(faults).toHaveLength(1);
    await stage.close();
  });

  it('e-stop sends STOP and disable, and rejects the in-flight move', async () => {
    const { device, stage } = await rig({}, axis({ maxSpeedUmS: 1000 }));
    const move = stage.moveTo('x', 900).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    stage.estop();
    expect(((await move) as StageFault).code).toBe('estop');
    expect(sysex(device, 0x05)).toContainEqual([0xf0, 0x62, 0x05, 0x00, 0xf7]);
    expect(sysex(device, 0x04).at(-1)).toEqual([0xf0, 0x62, 0x04, 0x00, 0x00, 0xf7]);
    await expect(stage.moveTo('x', 10)).rejects.toThrow(/emergency-stopped/);
    await stage.close();
  });

  it('times out a move whose completion never arrives and sends STOP', async () => {
    const { device, stage } = await rig({}, axis({ maxSpeedUmS: 100 }), 50);
    const err = await stage.moveTo('x', 900).catch((e: unknown) => e);
    expect((err as StageFault).code).toBe('timeout');
    expect(sysex(device, 0x05)).toHaveLength(1);
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
