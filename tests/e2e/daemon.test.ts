import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../src/io/png.ts';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';

const root = join(import.meta.dirname, '..', '..');

interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

function waitFor<T>(fn: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = (): void => {
      const v = fn();
      if (v !== undefined) {
        resolve(v);
        return;
      }
      if (Date.now() - t0 > timeoutMs) {
        reject(new Error(`timed out waiting for ${what}`));
        return;
      }
      setTimeout(tick, 50);
    };
    tick();
  });
}

// The real daemon (the CLI a user runs) against a real broker (Mosquitto when installed), observed
// only through what an MQTT subscriber receives.
describe('rayleigh run, end to end', () => {
  let broker: TestBroker;
  let daemon: ChildProcess;
  let sub: mqtt.MqttClient;
  const got: Received[] = [];
  let stdout = '';

  beforeAll(async () => {
    broker = await startTestBroker();
    console.log(`e2e broker: ${broker.kind}`);
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-e2e-'));
    // the shipped models, plus one entry whose file does not match its recorded sha256
    const models = join(dir, 'models');
    mkdirSync(models);
    const shipped = JSON.parse(readFileSync(join(root, 'models-int8', 'manifest.json'), 'utf8')) as {
      models: Array<{ id: string; file: string }>;
    };
    for (const e of shipped.models) copyFileSync(join(root, 'models-int8', e.file), join(models, e.file));
    const int8 = shipped.models.find((e) => e.id === 'damn');
    if (!int8) throw new Error('the shipped manifest has no "damn" model');
    const tampered = readFileSync(join(models, int8.file));
    tampered[tampered.length - 1] ^= 1;
    writeFileSync(join(models, 'tampered.onnx'), tampered);
    shipped.models.push({ ...int8, id: 'damn-tampered', file: 'tampered.onnx' });
    writeFileSync(join(models, 'manifest.json'), JSON.stringify(shipped));
    const cfg = join(dir, 'config.yaml');
    writeFileSync(
      cfg,
      [
        'device: { id: e2e01 }',
        `stateDir: ${JSON.stringify(join(dir, 'state'))}`,
        `mqtt: { url: ${JSON.stringify(broker.url)}, protocolVersion: 4 }`,
        'camera: { type: sim, width: 32, height: 32, fps: 4, density: 20 }',
        `inference: { model: rl, rl: { iterations: 8 }, modelsDir: ${JSON.stringify(models)} }`,
        'health: { interval: 1 }',
        'web: { port: 0 }',
        'log: { level: warn }',
      ].join('\n'),
    );
    sub = mqtt.connect(broker.url, { protocolVersion: 4, clientId: `e2e-sub-${process.pid}` });
    sub.on('message', (topic, payload, packet) => got.push({ topic, payload, retain: packet.retain }));
    await new Promise<void>((resolve) => sub.on('connect', () => resolve()));
    await sub.subscribeAsync('rayleigh/e2e01/#', { qos: 1 });
    daemon = spawn(process.execPath, [join(root, 'bin', 'rayleigh.mjs'), 'run', '--config', cfg], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    daemon.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  });

  afterAll(async () => {
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
    await sub?.endAsync();
    await broker?.close();
  });

  const ask = async (name: string, body: string, transaction: string): Promise<{ status: string; data?: unknown; error?: string }> => {
    await sub.publishAsync(`rayleigh/e2e01/cmd/${name}`, body, { qos: 1 });
    const r = await waitFor(
      () =>
        got.find((x) => {
          if (x.topic !== `rayleigh/e2e01/cmd/${name}/response`) return false;
          try {
            return (JSON.parse(x.payload.toString()) as { transaction?: string }).transaction === transaction;
          } catch {
            return false;
          }
        }),
      60_000,
      `${name} response`,
    );
    return JSON.parse(r.payload.toString()) as { status: string; data?: unknown; error?: string };
  };

  it('names the broker it publishes to in its first line', async () => {
    await waitFor(() => (stdout.includes('\n') ? true : undefined), 30_000, 'first stdout line');
    expect(stdout.split('\n')[0]).toContain(broker.url);
  });

  it('announces itself online and publishes per-frame meta, PNG image and retained health', async () => {
    await waitFor(() => got.find((m) => m.topic === 'rayleigh/e2e01/status' && m.payload.toString() === 'online'), 30_000, 'status online');
    const meta = await waitFor(() => got.find((m) => m.topic === 'rayleigh/e2e01/result/main/meta'), 30_000, 'result meta');
    const m = JSON.parse(meta.payload.toString()) as {
      seq: number;
      model: { id: string };
      output: { width: number; height: number };
      localizations: { count: number; x: number[]; y: number[]; sigmaX?: Array<number | null> };
      timings: Record<string, number>;
    };
    expect(m.model.id).toBe('rl');
    // the default pipeline.postprocess.fit (gauss) adds the fit's uncertainties
    expect(m.localizations.sigmaX).toHaveLength(m.localizations.count);
    expect(m.localizations.sigmaX?.some((v) => v !== null && v > 0 && v < 1)).toBe(true);
    expect(m.output).toEqual({ width: 128, height: 128 });
    expect(m.localizations.count).toBeGreaterThan(0);
    expect(m.localizations.x).toHaveLength(m.localizations.count);
    for (const x of m.localizations.x) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(32);
    }
    expect(m.timings.reconstruct).toBeGreaterThan(0);

    const image = await waitFor(() => got.find((x) => x.topic === 'rayleigh/e2e01/result/main/image'), 30_000, 'result image');
    const png = PNG.sync.read(image.payload);
    expect(png.width).toBe(128);
    expect(png.height).toBe(128);
    // the image names its frame, and that frame's meta says it has an image
    const tag = JSON.parse(readPngText(image.payload).rayleigh) as { seq: number; stream: string };
    expect(tag.stream).toBe('main');
    const itsMeta = got
      .filter((x) => x.topic === 'rayleigh/e2e01/result/main/meta')
      .map((x) => JSON.parse(x.payload.toString()) as { seq: number; image?: { bytes: number } })
      .find((x) => x.seq === tag.seq);
    expect(itsMeta?.image?.bytes).toBe(image.payload.length);

    const health = await waitFor(() => got.find((x) => x.topic === 'rayleigh/e2e01/health'), 30_000, 'health');
    const h = JSON.parse(health.payload.toString()) as { deviceId: string; frames: { out: number } };
    expect(h.deviceId).toBe('e2e01');
  });

  it('answers commands: capture, a bad payload, and the closed-loop self-test', async () => {
    const cap = await ask('capture', JSON.stringify({ count: 1, transaction: 't1' }), 't1');
    expect(cap.status).toBe('ok');
    expect((cap.data as { frames: unknown[] }).frames).toHaveLength(1);

    await sub.publishAsync('rayleigh/e2e01/cmd/capture', '{not json', { qos: 1 });
    const bad = await waitFor(
      () =>
        got.find(
          (x) =>
            x.topic === 'rayleigh/e2e01/cmd/capture/response' &&
            (JSON.parse(x.payload.toString()) as { status: string }).status === 'error',
        ),
      30_000,
      'error response',
    );
    expect(JSON.parse(bad.payload.toString()).error).toMatch(/JSON/i);

    const st = await ask('selftest', JSON.stringify({ patterns: 2, transaction: 's1' }), 's1');
    expect(st.status).toBe('ok');
    const rep = st.data as { score: number; patterns: Array<{ emitters: number; found: number }> };
    expect(rep.patterns).toHaveLength(2);
    expect(rep.patterns[0].emitters).toBeGreaterThan(0);
    expect(rep.score).toBeGreaterThanOrEqual(0);
    expect(rep.score).toBeLessThanOrEqual(1);
    await waitFor(
      () => got.find((x) => x.topic === 'rayleigh/e2e01/event' && x.payload.toString().includes('selftest')),
      10_000,
      'selftest event',
    );
  });

  it('refuses a model whose file does not match its sha256, keeps serving, then switches to the shipped INT8 model', async () => {
    const lastMeta = (): { seq: number; model: { id: string } } | undefined => {
      const m = got.filter((x) => x.topic === 'rayleigh/e2e01/result/main/meta').at(-1);
      return m ? JSON.parse(m.payload.toString()) : undefined;
    };
    const bad = await ask('select_model', JSON.stringify({ model: 'damn-tampered', transaction: 'm1' }), 'm1');
    expect(bad.status).toBe('error');
    expect(bad.error).toMatch(/sha256/);
    const before = lastMeta()?.seq ?? -1;
    const still = await waitFor(
      () => {
        const m = lastMeta();
        return m && m.seq > before ? m : undefined;
      },
      30_000,
      'a frame after the refused model',
    );
    expect(still.model.id).toBe('rl');

    const ok = await ask('select_model', JSON.stringify({ model: 'damn', transaction: 'm2' }), 'm2');
    expect(ok.status).toBe('ok');
    expect((ok.data as { model: string }).model).toBe('damn');
    const served = await waitFor(
      () => {
        const m = lastMeta();
        return m?.model.id === 'damn' ? m : undefined;
      },
      30_000,
      'a frame from the INT8 model',
    );
    expect(served.seq).toBeGreaterThan(still.seq);
  });

  it('exits cleanly on SIGTERM and leaves status "stopped"', async () => {
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    const last = got.filter((x) => x.topic === 'rayleigh/e2e01/status').at(-1);
    expect(last?.payload.toString()).toBe('stopped');
  });
});
