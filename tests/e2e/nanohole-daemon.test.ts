import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultMetaSchema } from '../../src/mqtt/payloads.ts';
import { NANOHOLE } from '../../src/optics/nanohole.ts';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { tinyUnetModelsDir } from '../helpers/nanohole-models.ts';

const root = join(import.meta.dirname, '..', '..');

// `rayleigh run` on the simulated nanohole instrument with a model of the unet contract (a tiny
// closed-form stand-in until the trained one ships), observed only through MQTT.
describe('rayleigh run, nanohole task, end to end', () => {
  let broker: TestBroker;
  let daemon: ChildProcess;
  let sub: mqtt.MqttClient;
  const metas: unknown[] = [];

  beforeAll(async () => {
    broker = await startTestBroker();
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-e2e-unet-'));
    const models = tinyUnetModelsDir([{ id: 'unet-tiny', precision: 'int8', gain: 12, bias: -6 }]);
    const cfg = join(dir, 'config.yaml');
    writeFileSync(
      cfg,
      [
        'device: { id: holes01 }',
        `stateDir: ${JSON.stringify(join(dir, 'state'))}`,
        `mqtt: { url: ${JSON.stringify(broker.url)}, protocolVersion: 4 }`,
        'camera: { type: sim, scene: nanohole, fps: 4, nanohole: { minHoles: 2, maxHoles: 5 } }',
        `inference: { model: unet-tiny, threads: 1, modelsDir: ${JSON.stringify(models)} }`,
        'web: { enabled: false }',
        'log: { level: warn }',
      ].join('\n'),
    );
    sub = mqtt.connect(broker.url, { protocolVersion: 4, clientId: `e2e-unet-${process.pid}` });
    sub.on('message', (topic, payload) => {
      if (topic === 'rayleigh/holes01/result/main/meta') metas.push(JSON.parse(payload.toString()));
    });
    await new Promise<void>((resolve) => sub.on('connect', () => resolve()));
    await sub.subscribeAsync('rayleigh/holes01/#', { qos: 1 });
    daemon = spawn(process.execPath, [join(root, 'bin', 'rayleigh.mjs'), 'run', '--config', cfg], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    daemon.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  }, 30_000);

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
    await sub?.endAsync();
    await broker?.close();
  });

  it('publishes per-frame meta with the hole list (λ and camera px), scored against the simulated truth', async () => {
    const t0 = Date.now();
    while (metas.length < 3 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100));
    expect(metas.length).toBeGreaterThanOrEqual(3);
    const pitch = NANOHOLE.inputExtent / NANOHOLE.inputSize;
    for (const raw of metas.slice(0, 3)) {
      const m = resultMetaSchema.parse(raw);
      expect(m.model.id).toBe('unet-tiny');
      expect(m.input).toEqual({ width: 128, height: 128 });
      expect(m.output).toEqual({ width: 128, height: 128 });
      const h = m.holes;
      if (!h) throw new Error('meta without holes');
      expect(h.list).toHaveLength(h.count);
      expect(h.camera).toEqual({ pitch, centre: { x: 64, y: 64 } });
      for (const o of h.list) {
        expect(Math.abs(o.x)).toBeLessThanOrEqual(1.25);
        expect(o.px).toBeCloseTo(64 + o.x / pitch, 2);
      }
      // truth: 2..5 simulated holes per frame
      expect(m.score?.truth).toBeGreaterThanOrEqual(2);
      expect(m.score?.truth).toBeLessThanOrEqual(5);
      expect(m.score?.found).toBe(h.count);
    }
  }, 90_000);
});
