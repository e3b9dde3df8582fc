import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/config/load.ts';
import { UserError } from '../../src/errors.ts';
import { MqttClient } from '../../src/mqtt/client.ts';
import { CommandServer } from '../../src/mqtt/commands.ts';
import { startMqtt } from '../../src/mqtt/index.ts';
import { ResultPublisher } from '../../src/mqtt/publisher.ts';
import { Spool } from '../../src/mqtt/spool.ts';
import { brokerKinds, makeTestPki, startTestBroker, type TestBroker, type TestPki } from '../helpers/broker.ts';
import { type Collected, makeResult, mqttConfig, observer, RecordingApi, until, validRequests } from '../unit/mqtt/fixtures.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'rayleigh-mqtt-it-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function device(url: string, id: string, over: Record<string, unknown> = {}): Promise<MqttClient> {
  const c = new MqttClient({ url, deviceId: id, config: mqttConfig(over) });
  cleanups.push(() => c.stop(500));
  c.start();
  await c.waitForConnect(10_000);
  return c;
}

const json = (m: Collected): Record<string, unknown> => JSON.parse(m.payload.toString()) as Record<string, unknown>;

describe.each(brokerKinds())('MQTT against %s', (kind) => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ kind });
  });
  afterAll(async () => {
    await broker.close();
  });
  const version = kind === 'mosquitto' ? 5 : 4;

  it('negotiates the protocol: MQTT 5 when the broker supports it, else 3.1.1', async () => {
    const c = await device(broker.url, 'neg1');
    expect(c.protocolVersion).toBe(version);
    expect(c.state().connected).toBe(true);
  });

  it('publishes online, stopped on clean stop, offline as Last Will when the socket dies', async () => {
    const obs = await observer(broker.url, ['rayleigh/lwt1/status', 'rayleigh/lwt2/status']);
    cleanups.push(obs.close);
    const a = new MqttClient({ url: broker.url, deviceId: 'lwt1', config: mqttConfig() });
    a.start();
    await a.waitForConnect();
    await until(() => obs.msgs.some((m) => m.topic === 'rayleigh/lwt1/status' && m.payload.toString() === 'online'), 5000, 'online');
    await a.stop();
    await until(() => obs.msgs.at(-1)?.payload.toString() === 'stopped', 5000, 'stopped');

    const b = new MqttClient({ url: broker.url, deviceId: 'lwt2', config: mqttConfig() });
    b.start();
    await b.waitForConnect();
    await until(() => obs.msgs.some((m) => m.topic === 'rayleigh/lwt2/status' && m.payload.toString() === 'online'), 5000, 'online 2');
    b.abort();
    await until(() => obs.msgs.some((m) => m.topic === 'rayleigh/lwt2/status' && m.payload.toString() === 'offline'), 10_000, 'offline');
    // all retained: a late subscriber sees the last state of each
    const late = await observer(broker.url, ['rayleigh/lwt1/status', 'rayleigh/lwt2/status']);
    cleanups.push(late.close);
    await until(() => late.msgs.length >= 2, 5000, 'retained status');
    const last = Object.fromEntries(late.msgs.map((m) => [m.topic, m.payload.toString()]));
    expect(last).toEqual({ 'rayleigh/lwt1/status': 'stopped', 'rayleigh/lwt2/status': 'offline' });
    expect(late.msgs.every((m) => m.retain)).toBe(true);
  });

  it('answers every command on …/cmd/<name>/response with the transaction echoed', async () => {
    const c = await device(broker.url, 'cmd1');
    const api = new RecordingApi();
    const server = new CommandServer({ client: c, api, config: mqttConfig().commands });
    server.start();
    cleanups.push(() => server.stop());
    await server.ready;
    const obs = await observer(broker.url, ['rayleigh/cmd1/cmd/+/response'], { protocolVersion: 4 });
    cleanups.push(obs.close);
    // one at a time: an estop cancels whatever is still queued, by design
    for (const [i, r] of validRequests.entries()) {
      await obs.raw.publishAsync(`rayleigh/cmd1/cmd/${r.name}`, JSON.stringify({ ...r.req, transaction: `t${i}` }), { qos: 1 });
      await until(() => obs.msgs.length >= i + 1, 10_000, `response to ${r.name}`);
    }
    for (const [i, r] of validRequests.entries()) {
      const m = obs.msgs.find((x) => x.topic === `rayleigh/cmd1/cmd/${r.name}/response`);
      expect(m, r.name).toBeDefined();
      const body = json(m!);
      expect(body.status, `${r.name}: ${String(body.error)}`).toBe('ok');
      expect(body.transaction).toBe(`t${i}`);
      expect(api.calls.find((x) => x.name === r.name)?.params).toEqual(r.expect);
    }
    expect(json(obs.msgs.find((m) => m.topic.endsWith('/set_config/response'))!).data).toEqual({
      restartRequired: false,
      applied: ['health'],
    });
    expect(json(obs.msgs.find((m) => m.topic.endsWith('/get_config/response'))!).data).toEqual(api.config);
  });

  it('answers bad requests with an error naming the problem', async () => {
    const c = await device(broker.url, 'cmd2');
    const api = new RecordingApi();
    api.fail.add('capture');
    api.hang.add('selftest');
    const server = new CommandServer({
      client: c,
      api,
      config: mqttConfig({ commands: { disabled: ['restart'], maxPayloadBytes: 512, timeoutMs: 300 } }).commands,
    });
    server.start();
    cleanups.push(() => server.stop());
    await server.ready;
    const obs = await observer(broker.url, ['rayleigh/cmd2/cmd/+/response'], { protocolVersion: 4 });
    cleanups.push(obs.close);
    const cases: Array<[string, string | Buffer, RegExp]> = [
      ['capture', '{not json', /not valid JSON/],
      ['capture', '[1,2]', /JSON object/],
      ['capture', '{"count":"three"}', /invalid parameters for capture: count/],
      ['capture', '{"count":2,"bogus":1}', /bogus/],
      ['fly', '{}', /unknown command "fly"/],
      ['restart', '{}', /disabled by configuration/],
      ['stage_move', JSON.stringify({ axes: { x: 1 }, pad: 'x'.repeat(600) }), /exceeds the limit of 512/],
      ['capture', '{}', /capture failed on purpose/],
      ['selftest', '{}', /did not finish within 300 ms/],
      ['estop', '{"transaction":{"a":1}}', /transaction must be/],
    ];
    for (const [name, payload] of cases) await obs.raw.publishAsync(`rayleigh/cmd2/cmd/${name}`, payload, { qos: 1 });
    await until(() => obs.msgs.length >= cases.length, 10_000, 'error responses');
    const byTopic = new Map<string, Array<Record<string, unknown>>>();
    for (const m of obs.msgs) byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), json(m)]);
    const seen = new Map<string, number>();
    for (const [name, , re] of cases) {
      const k = seen.get(name) ?? 0;
      seen.set(name, k + 1);
      const body = byTopic.get(`rayleigh/cmd2/cmd/${name}/response`)?.[k];
      expect(body?.status, `${name} #${k}`).toBe('error');
      expect(String(body?.error)).toMatch(re);
    }
    // a timed-out handler does not block the queue
    await obs.raw.publishAsync('rayleigh/cmd2/cmd/start', '{"transaction":42}', { qos: 1 });
    await until(() => obs.msgs.some((m) => m.topic.endsWith('/start/response')), 5000, 'start after timeout');
    expect(json(obs.msgs.find((m) => m.topic.endsWith('/start/response'))!)).toEqual({
      status: 'ok',
      data: { did: 'start' },
      transaction: 42,
    });
  });

  it('ignores retained requests and never answers into its own command topics', async () => {
    const c = await device(broker.url, 'cmd3');
    const api = new RecordingApi();
    const obs = await observer(broker.url, ['rayleigh/cmd3/cmd/#'], { protocolVersion: version });
    cleanups.push(obs.close);
    await obs.raw.publishAsync('rayleigh/cmd3/cmd/estop', '{}', { qos: 1, retain: true });
    const server = new CommandServer({ client: c, api, config: mqttConfig().commands });
    server.start();
    cleanups.push(async () => {
      server.stop();
      await obs.raw.publishAsync('rayleigh/cmd3/cmd/estop', '', { qos: 1, retain: true });
    });
    await server.ready;
    // a retained request is never run nor answered (it would run again on every boot), nor is
    // clearing it (the standard empty retained publish), nor one delivered live: MQTT 5 keeps the
    // flag (Retain As Published); the embedded 3.1.1 broker empties retained command payloads
    await obs.raw.publishAsync('rayleigh/cmd3/cmd/estop', '', { qos: 1, retain: true });
    await obs.raw.publishAsync('rayleigh/cmd3/cmd/start', '{}', { qos: 1, retain: true });
    await obs.raw.publishAsync('rayleigh/cmd3/cmd/start', '', { qos: 1, retain: true });
    // a plain request after them, answered, proves they were all processed (in order) and dropped
    await obs.raw.publishAsync('rayleigh/cmd3/cmd/get_config', '{"transaction":"after"}', { qos: 1 });
    await until(() => obs.msgs.some((m) => m.topic === 'rayleigh/cmd3/cmd/get_config/response'), 5000, 'answer after retained');
    expect(obs.msgs.filter((m) => m.topic.endsWith('/response')).map((m) => m.topic)).toEqual(['rayleigh/cmd3/cmd/get_config/response']);
    expect(api.calls.map((c) => c.name)).toEqual(['get_config']);
    expect(server.stats().ignored).toBeGreaterThanOrEqual(version === 5 ? 4 : 0);
    api.calls.length = 0;
    obs.msgs.length = 0;
    if (version === 5) {
      const before = obs.msgs.length;
      const ignoredBefore = server.stats().ignored;
      await obs.raw.publishAsync('rayleigh/cmd3/cmd/start', '{}', { qos: 1, properties: { responseTopic: 'rayleigh/cmd3/cmd/start' } });
      await until(() => server.stats().ignored === ignoredBefore + 1, 5000, 'ignored');
      await new Promise((r) => setTimeout(r, 300));
      expect(obs.msgs.length - before).toBe(1); // only our own request, no reply loop
      expect(api.calls).toHaveLength(0);
    }
  });

  it.runIf(kind === 'mosquitto')('replies to the MQTT 5 response topic with the correlation data', async () => {
    const c = await device(broker.url, 'cmd5');
    expect(c.protocolVersion).toBe(5);
    const server = new CommandServer({ client: c, api: new RecordingApi(), config: mqttConfig().commands });
    server.start();
    cleanups.push(() => server.stop());
    await server.ready;
    const obs = await observer(broker.url, ['replies/me', 'rayleigh/cmd5/cmd/+/response'], { protocolVersion: 5 });
    cleanups.push(obs.close);
    const corr = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    await obs.raw.publishAsync('rayleigh/cmd5/cmd/select_model', '{"model":"m1"}', {
      qos: 1,
      properties: { responseTopic: 'replies/me', correlationData: corr },
    });
    await until(() => obs.msgs.length >= 1, 5000, 'v5 response');
    const m = obs.msgs[0];
    expect(m.topic).toBe('replies/me');
    expect(Buffer.from(m.properties?.correlationData as Buffer).equals(corr)).toBe(true);
    expect(json(m)).toEqual({ status: 'ok', data: { did: 'select_model' } });
  });

  it('delivers results (meta then PNG image) in order and spools them through a short outage', async () => {
    const obs = await observer(broker.url, ['rayleigh/pub1/result/#'], { clean: false, clientId: `obs-pub1-${kind}`, protocolVersion: 4 });
    cleanups.push(obs.close);
    const c = await device(broker.url, 'pub1');
    const spool = new Spool({ dir: tmp(), maxBytes: 50e6, maxCount: 1000 });
    const pub = new ResultPublisher({ client: c, spool, config: mqttConfig() });
    await pub.start();
    cleanups.push(() => pub.stop());
    for (let i = 0; i < 5; i++) pub.publish(makeResult(i));
    await pub.drained();
    await broker.stop();
    await until(() => !c.connected, 5000, 'disconnect');
    for (let i = 5; i < 15; i++) pub.publish(makeResult(i));
    expect(spool.count).toBe(10);
    await new Promise((r) => setTimeout(r, 2000));
    await broker.start();
    await c.waitForConnect(15_000);
    await pub.drained();
    expect(spool.count).toBe(0);
    await until(() => obs.msgs.filter((m) => m.topic.endsWith('/image')).length >= 15, 15_000, 'all results');
    const metas = obs.msgs.filter((m) => m.topic === 'rayleigh/pub1/result/main/meta').map((m) => json(m).seq as number);
    const firsts = metas.filter((s, i) => metas.indexOf(s) === i);
    expect(firsts).toEqual(Array.from({ length: 15 }, (_, i) => i));
    const img = obs.msgs.find((m) => m.topic === 'rayleigh/pub1/result/main/image')!;
    expect(img.payload.subarray(1, 4).toString()).toBe('PNG');
    expect(img.payload[24]).toBe(16); // IHDR bit depth
  });

  it('publishes health retained and events', async () => {
    const c = await device(broker.url, 'h1');
    const pub = new ResultPublisher({ client: c, spool: new Spool({ dir: tmp(), maxBytes: 1e6, maxCount: 10 }), config: mqttConfig() });
    await pub.start();
    cleanups.push(() => pub.stop());
    pub.health({ fps: 9.5, ok: true });
    pub.event({ type: 'selftest', data: { score: 0.9 } });
    const obs = await observer(broker.url, ['rayleigh/h1/health']);
    cleanups.push(obs.close);
    await until(() => obs.msgs.length >= 1, 5000, 'retained health');
    expect(obs.msgs[0].retain).toBe(true);
    expect(json(obs.msgs[0])).toEqual({ fps: 9.5, ok: true });
  });

  it('survives thousands of random and malformed command payloads, answering each', async () => {
    const c = await device(broker.url, 'fz1');
    const api = new RecordingApi();
    const server = new CommandServer({ client: c, api, config: mqttConfig({ commands: { maxQueue: 10_000 } }).commands });
    server.start();
    cleanups.push(() => server.stop());
    await server.ready;
    const obs = await observer(broker.url, ['rayleigh/fz1/cmd/+/response'], { protocolVersion: 4 });
    cleanups.push(obs.close);
    let seed = 12345;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const names = [...validRequests.map((r) => r.name), 'nope', 'x'.repeat(200), 'ünï', 'response', '%00'];
    const values = (): unknown => {
      const k = Math.floor(rnd() * 9);
      return [null, true, -1, 1e308, 'str', [1, 'a'], { x: rnd() }, Number.MAX_SAFE_INTEGER, ''][k];
    };
    const payload = (): string | Buffer => {
      switch (Math.floor(rnd() * 7)) {
        case 0:
          return Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
        case 1:
          return '{"count":';
        case 2:
          return JSON.stringify(values());
        case 3: {
          const o: Record<string, unknown> = {};
          for (const key of ['count', 'axes', 'pattern', 'model', 'patch', 'delayMs', 'transaction', 'kind'])
            if (rnd() < 0.4) o[key] = values();
          return JSON.stringify(o);
        }
        case 4:
          return JSON.stringify({
            pattern: { kind: ['grid', 'points', 'random'][Math.floor(rnd() * 3)], pitch: values(), points: values(), count: values() },
          });
        case 5:
          return 'x'.repeat(Math.floor(rnd() * 70_000));
        default:
          return '';
      }
    };
    const N = 3000;
    for (let i = 0; i < N; i++) {
      const name = names[Math.floor(rnd() * names.length)];
      obs.raw.publish(`rayleigh/fz1/cmd/${name}`, payload(), { qos: 1 });
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 20));
    }
    // empty payloads are dropped unanswered (never a command); everything else gets an answer
    await until(() => obs.msgs.length + server.stats().ignored >= N, 60_000, `${N} responses (got ${obs.msgs.length})`);
    await new Promise((r) => setTimeout(r, 300));
    expect(obs.msgs.length + server.stats().ignored).toBe(N);
    for (const m of obs.msgs) expect(['ok', 'error']).toContain(json(m).status);
    expect(server.stats().received).toBe(N);
    // still serving
    await obs.raw.publishAsync('rayleigh/fz1/cmd/estop', '{"transaction":"after"}', { qos: 1 });
    await until(() => obs.msgs.some((m) => json(m).transaction === 'after'), 5000, 'post-fuzz answer');
    expect(c.connected).toBe(true);
  }, 120_000);
});

describe.each(brokerKinds())('TLS against %s', (kind) => {
  let pki: TestPki;
  let broker: TestBroker;
  beforeAll(async () => {
    pki = makeTestPki();
    broker = await startTestBroker({ kind, tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireCertificate: true } });
  });
  afterAll(async () => {
    await broker.close();
    pki.cleanup();
  });

  it('connects with a client certificate signed by the CA', async () => {
    const c = await device(broker.url, 'tls1', { tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } });
    expect(c.state().url).toBe(broker.url);
    await c.publish('rayleigh/tls1/event', '{"type":"x"}', { qos: 1 });
  });

  it('fails without a trusted client certificate or without the CA', async () => {
    const rogue = new MqttClient({
      url: broker.url,
      deviceId: 'tls2',
      config: mqttConfig({ tls: { ca: pki.ca, cert: pki.rogueCert, key: pki.rogueKey } }),
    });
    cleanups.push(() => rogue.stop(200));
    rogue.start();
    await expect(rogue.waitForConnect(2500)).rejects.toThrow(/no MQTT connection/);
    const noCa = new MqttClient({
      url: broker.url,
      deviceId: 'tls3',
      config: mqttConfig({ tls: { cert: pki.clientCert, key: pki.clientKey } }),
    });
    cleanups.push(() => noCa.stop(200));
    noCa.start();
    await expect(noCa.waitForConnect(2500)).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });
});

describe('startMqtt', () => {
  it('refuses plaintext to a remote broker before opening any connection', async () => {
    const s = parseSettings({ device: { id: 'r1' }, stateDir: tmp(), mqtt: { url: 'mqtt://192.0.2.1:1883' } });
    await expect(startMqtt(s)).rejects.toThrow(UserError);
  });

  it('runs the embedded broker, publishes Home Assistant discovery and serves commands', async () => {
    const s = parseSettings({
      device: { id: 'ha1', name: 'bench scope' },
      stateDir: tmp(),
      mqtt: { embedded: { port: 0 }, homeassistant: { enabled: true } },
    });
    const api = new RecordingApi();
    const stack = await startMqtt(s, { api });
    cleanups.push(() => stack.stop());
    expect(stack.url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    await stack.client.waitForConnect();
    const obs = await observer(stack.url, ['homeassistant/#', 'rayleigh/ha1/cmd/+/response']);
    cleanups.push(obs.close);
    await until(() => obs.msgs.filter((m) => m.topic.startsWith('homeassistant/')).length >= 6, 5000, 'discovery');
    const img = obs.msgs.find((m) => m.topic === 'homeassistant/image/rayleigh_ha1/main/config');
    expect(json(img!)).toMatchObject({ image_topic: 'rayleigh/ha1/result/main/image', content_type: 'image/png' });
    const fps = json(obs.msgs.find((m) => m.topic === 'homeassistant/sensor/rayleigh_ha1/fps/config')!);
    expect(fps).toMatchObject({ state_topic: 'rayleigh/ha1/health', availability: [{ topic: 'rayleigh/ha1/status' }] });
    await stack.commands!.ready;
    await obs.raw.publishAsync('rayleigh/ha1/cmd/estop', '{}', { qos: 1 });
    await until(() => api.calls.some((c) => c.name === 'estop'), 5000, 'estop');
  });
});
