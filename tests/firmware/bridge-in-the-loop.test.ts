import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageSchema } from '../../src/config/hardware.ts';
import { FirmataStage, openSerialTransport, type StageFault } from '../../src/hardware/stage/index.ts';
import { silentLogger } from '../../src/log.ts';

/*
 * Firmware in the loop: firmware-bridge/ compiled for an ATmega328P runs in simavr
 * (firmware-bridge/sim/harness.c) with UART0 on a pseudo-terminal; the real host driver
 * (FirmataStage → firmata.js → serialport) homes, moves, runs into the simulated limit switch and
 * e-stops it. The harness logs every STEP/DIR/ENABLE edge with its CPU cycle; the checks below
 * hold those edges against the driver datasheets (values here, not imported from the drivers):
 *   A4988 (Allegro datasheet, "Timing Requirements"): STEP high/low ≥ 1 µs, DIR setup/hold ≥ 200 ns
 *   DRV8825 (TI SLVSA73, "Timing Requirements"): STEP high/low ≥ 1.9 µs, setup/hold ≥ 650 ns
 *   TMC2209 (Trinamic datasheet Rev 1.09, STEP/DIR timing): high/low ≥ 100 ns (+tCLK), setup/hold ≥ 20 ns
 *
 * Mutation check (deliberate wrong byte/field/behaviour → what turns red here):
 * | mutation (tried by hand, see the report)                        | caught by                                  |
 * |-------------------------------------------------------------------|--------------------------------------------|
 * | firmware: DIR written after the STEP rising edge                  | "STEP count…" (one step goes the old way: 249 ≠ 250) |
 * | firmware: int32 sign bit 0x08 → 0x40 / float exponent bias −11→−10 | "homes, moves…" (position / speed wrong)   |
 * | firmware: move-complete 0x0A → 0x06                               | "homes, moves…" (host times out)           |
 * | firmware: REPORT_DIGITAL ignored / port bits shifted              | "homes, moves…" (home-not-found)           |
 * | firmware: pins driven at reset (e.g. all OUTPUT LOW)              | "leaves every pin undriven after reset"    |
 * | firmware: STOP keeps stepping until the disable arrives            | "STEP count…" (steps while disabled)       |
 * | firmware: trigger pulse timed with delay()                        | "times the trigger pulse…" (one 20 ms STEP gap) |
 * | firmware: Stepper limit (0x07) ignored / host does not send it    | "STEP count…" (carriage past the switch)   |
 * Not caught: dropping STEP_HIGH_US / DIR_SETUP_US — the pin writes alone take 2.5 µs / 3.4 µs at
 * 16 MHz, already above every minimum here; the delays are margin for faster MCUs.
 */

const root = join(import.meta.dirname, '..', '..');
const core = '/usr/share/arduino/hardware/arduino/avr/cores/arduino/Arduino.h';
const FREQ = 16_000_000;

function missingTools(): string[] {
  const missing = ['avr-gcc', 'avr-g++', 'avr-objcopy', 'avr-size', 'gcc', 'bc'].filter(
    (t) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', t]).status !== 0,
  );
  if (!existsSync(core)) missing.push('arduino-core-avr');
  if (!existsSync('/usr/include/simavr/sim_avr.h') || !existsSync('/usr/include/simavr/parts/uart_pty.h')) missing.push('libsimavr-dev');
  return missing;
}

const missing = missingTools();
if (missing.length > 0) {
  console.warn(
    `firmware-in-the-loop test skipped: missing ${missing.join(', ')} (apt-get install gcc-avr avr-libc arduino-core-avr simavr libsimavr-dev gcc bc)`,
  );
}

interface Edge {
  cycle: number;
  pin: number;
  level: number;
}

const DRIVERS = {
  A4988: { highNs: 1000, lowNs: 1000, setupNs: 200, holdNs: 200 },
  DRV8825: { highNs: 1900, lowNs: 1900, setupNs: 650, holdNs: 650 },
  TMC2209: { highNs: 100, lowNs: 100, setupNs: 20, holdNs: 20 },
};

const STEP = 2;
const DIR = 3;
const EN = 4;
const LIMIT = 9;
const TRIGGER = 8;
const TRIGGER_US = 20_000;

describe.skipIf(missing.length > 0)('firmware bridge in the loop (simavr ATmega328P, real host driver)', () => {
  let dir: string;
  let harness: ChildProcess;
  let out = '';
  let build = '';
  let stage: FirmataStage;
  let port: Awaited<ReturnType<typeof openSerialTransport>>;
  const logPath = () => join(dir, 'edges.log');
  /** ends the simulation (stdin closes) and waits until the harness wrote its log and POS lines */
  const stopHarness = async (): Promise<void> => {
    if (!harness || harness.exitCode !== null || harness.signalCode !== null) return;
    const exited = new Promise((r) => harness.once('exit', r));
    harness.stdin?.end();
    await exited;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rayleigh-fil-'));
    const b = spawnSync('bash', [join(root, 'firmware-bridge', 'build.sh'), join(dir, 'fw')], { encoding: 'utf8' });
    build = b.stdout + b.stderr;
    if (b.status !== 0) throw new Error(`firmware build failed:\n${build}`);
    const h = spawnSync(
      'gcc',
      [
        '-O2',
        '-o',
        join(dir, 'harness'),
        join(root, 'firmware-bridge', 'sim', 'harness.c'),
        '-I/usr/include/simavr',
        '-I/usr/include/simavr/parts',
        '-lsimavr',
        '-lsimavrparts',
        '-lpthread',
        '-lutil',
      ],
      { encoding: 'utf8' },
    );
    if (h.status !== 0) throw new Error(`harness build failed:\n${h.stderr}`);
    // one axis: STEP D2, DIR D3, ENABLE D4, switch on D9 closing at carriage position ≤ 0, start at 400
    harness = spawn(
      join(dir, 'harness'),
      [
        join(dir, 'fw', 'rayleigh_bridge.elf'),
        logPath(),
        '--axis',
        `${STEP},${DIR},${EN},${LIMIT},400,0`,
        '--watch',
        `${TRIGGER}`,
        '--max-s',
        '150',
      ],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const pty = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`harness gave no pty: ${out}`)), 10_000);
      harness.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^PTY (\S+)$/m.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]);
        }
      });
      harness.once('exit', (c) => reject(new Error(`harness exited ${c}: ${out}`)));
    });
    const cfg = stageSchema.parse({
      type: 'firmata',
      port: pty,
      axes: {
        x: {
          stepPin: STEP,
          dirPin: DIR,
          enablePin: EN,
          limitPin: LIMIT,
          limitActiveLow: true,
          stepsPerUm: 1,
          microstep: 1,
          minUm: 0,
          maxUm: 1000,
          maxSpeedUmS: 2000,
          accelUmS2: 20000,
          homeBackoffUm: 40,
        },
      },
    });
    if (cfg.type !== 'firmata') throw new Error('unreachable');
    port = await openSerialTransport(pty);
    stage = await FirmataStage.open(port, { axes: cfg.axes, motionTimeoutMs: 30_000, pinCount: 20 }, silentLogger);
  }, 90_000);

  afterAll(async () => {
    await stage?.close().catch(() => undefined);
    await stopHarness();
    // RAYLEIGH_KEEP_FIL=1 keeps the build and the edge log for a look
    if (process.env.RAYLEIGH_KEEP_FIL) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  it('builds for the ATmega328P within the Uno’s 32 KB flash and 2 KB RAM', () => {
    const m = /flash (\d+) B .* RAM (\d+) B/.exec(build);
    expect(m, build).not.toBeNull();
    const [flash, ram] = [Number(m?.[1]), Number(m?.[2])];
    console.log(`firmware size: flash ${flash} B / 32256 usable, static RAM ${ram} B / 2048`);
    expect(flash).toBeLessThanOrEqual(32256);
    expect(ram).toBeLessThanOrEqual(1024); // leaves the stack and serial buffers room
  });

  it('leaves every pin undriven after reset', () => {
    // DDRx after setup(): no output at all, so an active-low ENABLE is not pulled low by us
    expect(/DDR B=00 C=00 D=00/.test(out), out).toBe(true);
  });

  it('homes, moves, stops on the simulated limit switch and e-stops, all through the real host driver', async () => {
    await stage.home('x');
    expect(stage.status().axes.x.homed).toBe(true);
    // a camera trigger pulse in the middle of a move (raw bytes beside firmata.js: SET_PIN_MODE
    // OUTPUT, then this sketch's TRIGGER_PULSE sysex with a 20 ms width in three 7-bit bytes)
    // slow and long (900 steps at 500 steps/s, 1.8 s) so the pulse lands mid-move however late the
    // host gets to send it on a loaded machine
    const moveSlow = stage.moveTo('x', 900, { speedUmS: 500 });
    await new Promise((r) => setTimeout(r, 60));
    port.write(Buffer.from([0xf4, TRIGGER, 0x01]));
    port.write(Buffer.from([0xf0, 0x01, TRIGGER, TRIGGER_US & 0x7f, (TRIGGER_US >> 7) & 0x7f, (TRIGGER_US >> 14) & 0x7f, 0xf7]));
    await moveSlow;
    await stage.moveTo('x', 120, { speedUmS: 800 });
    expect(stage.position('x')).toBe(120);

    const move = stage.moveTo('x', 900).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 150));
    stage.estop();
    expect(((await move) as StageFault).code).toBe('estop');
    await expect(stage.home('x')).rejects.toThrow(/emergency-stopped/);
    stage.resetEstop();

    // unhomed now: jog toward the switch, farther than it is
    const hit = (await stage.moveBy('x', -1000).catch((e: unknown) => e)) as StageFault;
    expect(hit.code).toBe('limit-hit');
    expect(stage.status().axes.x.limit).toBe(true);

    await stage.home('x');
    await stage.moveTo('x', 250);
    expect(stage.position('x')).toBe(250);
    await stage.close();
    await stopHarness();
  }, 120_000);

  it('STEP count, limit overshoot and e-stop silence agree with the pin log', async () => {
    await stopHarness();
    const edges = parseLog(readFileSync(logPath(), 'utf8'));
    const pos = /^POS 0 (-?\d+)$/m.exec(out);
    expect(pos, out).not.toBeNull();
    // replay the carriage from the edges: rising STEP, direction from DIR, only while ENABLE is low
    let level = { [STEP]: 0, [DIR]: 0, [EN]: 1 } as Record<number, number>;
    let p = 400;
    let min = p;
    let atLastReversal = p;
    let stepsWhileDisabled = 0;
    for (const e of edges) {
      if (e.pin === STEP && e.level === 1 && level[STEP] === 0) {
        if (level[EN] === 0) p += level[DIR] ? 1 : -1;
        else stepsWhileDisabled++;
        min = Math.min(min, p);
      }
      if (e.pin === DIR) atLastReversal = p;
      level = { ...level, [e.pin]: e.level };
    }
    expect(p).toBe(Number(pos?.[1]));
    // the last DIR change starts the final moveTo(250) from where the last homing stopped (the
    // host's 0): host frame and carriage agree to the step
    expect(p - atLastReversal).toBe(250);
    expect(atLastReversal).toBeLessThanOrEqual(0);
    // the firmware refuses steps into the switch itself (Stepper limit, 0x07): the deepest the
    // carriage gets is the step that closed it, whatever the host's reaction time
    console.log(`deepest carriage position past the switch: ${min} steps`);
    expect(min).toBe(0);
    // the e-stop's STOP halts pulses before the driver is cut: none arrive while disabled
    expect(stepsWhileDisabled).toBe(0);
  });

  it('times the trigger pulse without stalling the steps', async () => {
    await stopHarness();
    const edges = parseLog(readFileSync(logPath(), 'utf8'));
    // level changes of the trigger pin (making it an output logs its initial low too)
    const trig: Edge[] = [];
    for (const e of edges) if (e.pin === TRIGGER && trig.at(-1)?.level !== e.level) trig.push(e);
    expect(trig.map((e) => e.level)).toEqual([0, 1, 0]);
    const [up, down] = [trig[1].cycle, trig[2].cycle];
    const widthUs = ((down - up) * 1e6) / FREQ;
    // micros() ticks in 4 µs and the loop checks it between steps
    expect(widthUs).toBeGreaterThanOrEqual(TRIGGER_US);
    expect(widthUs).toBeLessThan(TRIGGER_US + 1000);
    // steps went on during the pulse: a delay() would leave one gap as long as the pulse
    const during = edges.filter((e) => e.pin === STEP && e.level === 1 && e.cycle > up - FREQ / 100 && e.cycle < down + FREQ / 100);
    expect(during.length).toBeGreaterThanOrEqual(5);
    // the pulse lies inside the move: steps before its start and after its end
    const steps = edges.filter((e) => e.pin === STEP && e.level === 1);
    expect(steps.some((e) => e.cycle < up && e.cycle > up - FREQ / 200)).toBe(true);
    expect(steps.some((e) => e.cycle > down && e.cycle < down + FREQ / 200)).toBe(true);
    let gap = 0;
    for (let i = 1; i < during.length; i++) gap = Math.max(gap, during[i].cycle - during[i - 1].cycle);
    console.log(`trigger pulse ${widthUs.toFixed(1)} µs; longest STEP gap around it ${((gap * 1e6) / FREQ).toFixed(0)} µs`);
    // (a step from rest takes sqrt(2/a) = 10 ms at 20000 steps/s², so the bound sits above that)
    expect((gap * 1e6) / FREQ).toBeLessThan(TRIGGER_US * 0.75);
  });

  it('meets the A4988, DRV8825 and TMC2209 STEP/DIR pulse timing on every edge', async () => {
    await stopHarness();
    const edges = parseLog(readFileSync(logPath(), 'utf8'));
    const ns = (cycles: number) => (cycles * 1e9) / FREQ;
    let dirAt = Number.NaN;
    let riseAt = Number.NaN;
    let fallAt = Number.NaN;
    const worst = { highNs: Infinity, lowNs: Infinity, setupNs: Infinity, holdNs: Infinity };
    let rises = 0;
    let dirChanges = 0;
    for (const e of edges) {
      if (e.pin === DIR) {
        if (!Number.isNaN(riseAt)) worst.holdNs = Math.min(worst.holdNs, ns(e.cycle - riseAt));
        dirAt = e.cycle;
        dirChanges++;
      } else if (e.pin === STEP && e.level === 1) {
        if (!Number.isNaN(dirAt)) worst.setupNs = Math.min(worst.setupNs, ns(e.cycle - dirAt));
        if (!Number.isNaN(fallAt)) worst.lowNs = Math.min(worst.lowNs, ns(e.cycle - fallAt));
        riseAt = e.cycle;
        rises++;
      } else if (e.pin === STEP && !Number.isNaN(riseAt)) {
        worst.highNs = Math.min(worst.highNs, ns(e.cycle - riseAt));
        fallAt = e.cycle;
      }
    }
    console.log(
      `firmware pulse timing over ${rises} steps, ${dirChanges} DIR changes: min high ${worst.highNs} ns, min low ${worst.lowNs} ns, min DIR setup ${worst.setupNs} ns, min DIR hold ${worst.holdNs} ns`,
    );
    expect(rises).toBeGreaterThan(1500);
    expect(dirChanges).toBeGreaterThanOrEqual(4);
    for (const [name, d] of Object.entries(DRIVERS)) {
      expect(worst.highNs, `${name} STEP high`).toBeGreaterThanOrEqual(d.highNs);
      expect(worst.lowNs, `${name} STEP low`).toBeGreaterThanOrEqual(d.lowNs);
      expect(worst.setupNs, `${name} DIR setup`).toBeGreaterThanOrEqual(d.setupNs);
      expect(worst.holdNs, `${name} DIR hold`).toBeGreaterThanOrEqual(d.holdNs);
    }
  });
});

function parseLog(text: string): Edge[] {
  const edges: Edge[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+) P(\d+) ([01])$/.exec(line);
    if (m) edges.push({ cycle: Number(m[1]), pin: Number(m[2]), level: Number(m[3]) });
  }
  return edges;
}
