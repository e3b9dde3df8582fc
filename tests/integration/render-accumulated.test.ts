import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/config/load.ts';
import { type Daemon, startDaemon } from '../../src/controller.ts';
import { readPngText } from '../../src/io/png.ts';
import { silentLogger } from '../../src/log.ts';
import { brokerKinds, startTestBroker, type TestBroker } from '../helpers/broker.ts';

interface Answer {
  status: string;
  data?: Record<string, unknown>;
  error?: string;
  transaction?: string;
}

// A subscriber asks for the accumulated render over MQTT (and from the dashboard): it comes out on
// the same retained …/accumulated topics as the scheduled one, with the requested region and grid,
// and its meta says it was requested.
describe.each(brokerKinds())('render_accumulated through %s', (kind) => {
  let broker: TestBroker;
  let daemon: Daemon;
  let sub: mqtt.MqttClient;
  let dir: string;
  const retained = new Map<string, Buffer>();
  const answers = new Map<string, Answer>();

  beforeAll(async () => {
    broker = await startTestBroker({ kind });
    dir = mkdtempSync(join(tmpdir(), 'rayleigh-acc-'));
    const settings = parseSettings({
      device: { id: 'acc1' },
      stateDir: dir,
      mqtt: { url: broker.url, protocolVersion: 4, reconnectPeriodMs: 200 },
      web: { port: 0 },
      camera: { type: 'sim', width: 48, height: 40, fps: 20, density: 30 },
      inference: { model: 'rl', rl: { iterations: 5 } },
      hardware: { dmd: { type: 'none' } },
      // the schedule renders once at start, then not for an hour: any later render was asked for
      pipeline: { accumulate: { everyMs: 3_600_000, frames: 50, maxBytes: 65_536, maxEdge: 256 } },
    });
    daemon = await startDaemon(settings, { log: silentLogger });
    sub = mqtt.connect(broker.url, { protocolVersion: 4, reconnectPeriod: 200 });
    sub.on('message', (topic, payload) => {
      if (topic.endsWith('/response')) {
        const a = JSON.parse(payload.toString()) as Answer;
        if (a.transaction) answers.set(a.transaction, a);
      } else retained.set(topic, payload);
    });
    await new Promise<void>((resolve) => sub.once('connect', () => resolve()));
    await sub.subscribeAsync(
      ['rayleigh/acc1/result/main/accumulated/#', 'rayleigh/acc1/result/main/accumulated', 'rayleigh/acc1/cmd/+/response'],
      {
        qos: 1,
      },
    );
  }, 60_000);

  afterAll(async () => {
    await sub?.endAsync(true);
    await daemon?.stop({ drain: false });
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ask = async (params: Record<string, unknown>, tx: string): Promise<Answer> => {
    await sub.publishAsync('rayleigh/acc1/cmd/render_accumulated', JSON.stringify({ ...params, transaction: tx }), { qos: 1 });
    await expect.poll(() => answers.has(tx), { timeout: 30_000, interval: 50 }).toBe(true);
    return answers.get(tx) as Answer;
  };

  it('publishes the requested render on …/accumulated, meta and PNG saying trigger "request"', async () => {
    // the scheduled render at start is retained first
    await expect
      .poll(() => retained.get('rayleigh/acc1/result/main/accumulated/meta')?.toString(), { timeout: 30_000, interval: 50 })
      .toMatch(/"trigger":"schedule"/);
    await expect.poll(() => daemon.pipeline.stats().framesOut, { timeout: 30_000, interval: 50 }).toBeGreaterThan(5);
    const region = { x: 8, y: 4, width: 24, height: 20 };
    const a = await ask({ region, binsPerPixel: 2, frames: 5 }, 'r1');
    expect(a.status, a.error).toBe('ok');
    expect(a.data).toMatchObject({
      topic: 'rayleigh/acc1/result/main/accumulated',
      trigger: 'request',
      region,
      binsPerPixel: 2,
      bin: 1,
      width: 48,
      height: 40,
      encoding: 'png16',
    });
    expect(a.data?.frames).toBeLessThanOrEqual(5);
    const seq = a.data?.seq;
    // what a subscriber of the topics sees: that render, retained meta and PNG naming the same frame
    await expect
      .poll(() => (JSON.parse(retained.get('rayleigh/acc1/result/main/accumulated/meta')?.toString() ?? '{}') as { seq?: number }).seq, {
        timeout: 10_000,
        interval: 50,
      })
      .toBe(seq);
    const meta = JSON.parse(retained.get('rayleigh/acc1/result/main/accumulated/meta')?.toString() ?? '{}');
    expect(meta).toMatchObject({ trigger: 'request', region, stream: 'main' });
    await expect
      .poll(() => {
        const png = retained.get('rayleigh/acc1/result/main/accumulated');
        return png ? JSON.parse(readPngText(png).rayleigh).seq : undefined;
      })
      .toBe(seq);
    const png = retained.get('rayleigh/acc1/result/main/accumulated') as Buffer;
    expect(JSON.parse(readPngText(png).rayleigh)).toMatchObject({ kind: 'accumulated', trigger: 'request', region });
    expect(png.readUInt32BE(16)).toBe(48); // IHDR width
    expect(png.byteLength).toBe(meta.bytes);
  });

  it('refuses more than the device is configured to publish, naming the setting', async () => {
    const a = await ask({ maxBytes: 1 << 20 }, 'big');
    expect(a.status).toBe('error');
    expect(a.error).toMatch(/pipeline\.accumulate\.maxBytes \(65536\)/);
    const bad = await ask({ region: { x: -1, y: 0, width: 4, height: 4 } }, 'neg');
    expect(bad.status).toBe('error');
    expect(bad.error).toMatch(/invalid parameters for render_accumulated: region\.x/);
  });

  it('renders from the dashboard’s button and shows it there', async () => {
    const web = daemon.webUrl as string;
    const res = await fetch(`${web}/api/cmd/render_accumulated`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    const body = (await res.json()) as { status: string; data?: { seq: number; trigger: string } };
    expect(body.status).toBe('ok');
    expect(body.data?.trigger).toBe('request');
    const meta = (await (await fetch(`${web}/api/accumulated`)).json()) as { seq: number; trigger: string };
    expect(meta).toMatchObject({ seq: body.data?.seq, trigger: 'request' });
    const preview = await fetch(`${web}/api/accumulated.png`);
    expect(preview.headers.get('content-type')).toBe('image/png');
    expect(preview.headers.get('x-rayleigh-seq')).toBe(String(body.data?.seq));
  });

  it('says so when the stream is stopped (the render is made by the next frame)', async () => {
    await daemon.api.stop({});
    const a = await ask({}, 'stopped');
    expect(a.status).toBe('error');
    expect(a.error).toMatch(/not streaming/);
  });
});
