import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseSettings } from '../../src/config/load.ts';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';

const root = join(import.meta.dirname, '..', '..');
const simConfig = join(root, 'examples', 'sim-dlpc900-gpio-stage.yaml');
const piConfig = join(root, 'examples', 'pi-dlpc900-gpio-stage.yaml');

describe('example configs', () => {
  it('the deployable Pi config is the simulated one with real buses, and both validate', () => {
    const sim = parseSettings(parseYaml(readFileSync(simConfig, 'utf8')));
    const pi = parseSettings(parseYaml(readFileSync(piConfig, 'utf8')));
    expect(sim.hardware.dmd).toMatchObject({ type: 'dlpc900', bus: 'sim' });
    expect(pi.hardware.dmd).toMatchObject({ type: 'dlpc900', bus: 1 });
    expect(pi.hardware.stage.type === 'gpio' && pi.hardware.stage.chip).toBe('sysfs');
    expect(pi.hardware.stage.type === 'gpio' && sim.hardware.stage.type === 'gpio' && pi.hardware.stage.axes).toEqual(
      sim.hardware.stage.type === 'gpio' ? sim.hardware.stage.axes : null,
    );
  });
});

// The daemon with the simulated DLPC900 on a simulated I2C bus and the GPIO stepper stage on
// simulated lines, steered only through MQTT commands.
describe('rayleigh run with a DMD and a stage, steered over MQTT', () => {
  let broker: TestBroker;
  let daemon: ChildProcess;
  let sub: mqtt.MqttClient;
  const responses = new Map<string, { status: string; data?: unknown; error?: string }>();
  let results = 0;

  beforeAll(async () => {
    broker = await startTestBroker();
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-dev-'));
    sub = mqtt.connect(broker.url, { protocolVersion: 4, clientId: `dev-sub-${process.pid}` });
    sub.on('message', (topic, payload) => {
      if (topic.endsWith('/result/main/meta')) results++;
      if (!topic.endsWith('/response')) return;
      try {
        const r = JSON.parse(payload.toString()) as { status: string; transaction?: string };
        if (r.transaction) responses.set(r.transaction, r);
      } catch {
        /* not ours */
      }
    });
    await new Promise<void>((resolve) => sub.on('connect', () => resolve()));
    await sub.subscribeAsync(['rayleigh/bench01/cmd/+/response', 'rayleigh/bench01/result/main/meta'], { qos: 1 });
    daemon = spawn(process.execPath, [join(root, 'bin', 'rayleigh.mjs'), 'run', '--config', simConfig], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        RAYLEIGH_MQTT__URL: broker.url,
        RAYLEIGH_MQTT__PROTOCOL_VERSION: '4',
        RAYLEIGH_STATE_DIR: join(dir, 'state'),
        RAYLEIGH_WEB__PORT: '0',
        RAYLEIGH_LOG__LEVEL: 'warn',
      },
    });
    // results flow only once every part is up, command server included
    const t0 = Date.now();
    while (results === 0 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
  });

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
    await sub?.endAsync();
    await broker?.close();
  });

  let n = 0;
  async function ask(name: string, params: Record<string, unknown> = {}): Promise<{ status: string; data?: unknown; error?: string }> {
    const transaction = `${name}-${++n}`;
    await sub.publishAsync(`rayleigh/bench01/cmd/${name}`, JSON.stringify({ ...params, transaction }), { qos: 1 });
    const t0 = Date.now();
    while (!responses.has(transaction)) {
      if (Date.now() - t0 > 60_000) throw new Error(`no response to ${name}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return responses.get(transaction) as { status: string; data?: unknown; error?: string };
  }

  it('homes the stage, moves within soft limits and refuses a move beyond them', async () => {
    const home = await ask('stage_home');
    expect(home.status, home.error).toBe('ok');
    const move = await ask('stage_move', { axes: { x: 150, y: 40 } });
    expect(move.status, move.error).toBe('ok');
    const st = move.data as { axes: Record<string, { positionUm: number; homed: boolean }> };
    expect(st.axes.x.positionUm).toBeCloseTo(150, 0);
    expect(st.axes.y.positionUm).toBeCloseTo(40, 0);
    const far = await ask('stage_move', { axes: { x: 5000 } });
    expect(far.status).toBe('error');
    expect(far.error).toMatch(/limit/i);
  });

  it('puts a pattern on the mirrors and scores a closed-loop self-test against it', async () => {
    const show = await ask('dmd_show', { pattern: { kind: 'grid', pitch: 120 } });
    expect(show.status, show.error).toBe('ok');
    expect((show.data as { points: number }).points).toBeGreaterThan(10);
    const bad = await ask('dmd_show', { pattern: { kind: 'spiral' } });
    expect(bad.status).toBe('error');
    const st = await ask('selftest', { patterns: 2 });
    expect(st.status, st.error).toBe('ok');
    const rep = st.data as { score: number; patterns: Array<{ emitters: number; found: number }> };
    expect(rep.patterns.every((p) => p.emitters > 0 && p.found > 0)).toBe(true);
  });

  it('estop halts the stage; a move afterwards needs homing again', async () => {
    const e = await ask('estop');
    expect(e.status, e.error).toBe('ok');
    const after = await ask('stage_move', { axes: { x: 100 } });
    expect(after.status).toBe('error');
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', (c) => resolve(c)));
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
