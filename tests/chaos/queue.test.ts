import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mqttSchema } from '../../src/config/mqtt.ts';
import { silentLogger } from '../../src/log.ts';
import { EmbeddedBroker } from '../../src/mqtt/broker.ts';
import { MqttClient } from '../../src/mqtt/client.ts';
import { CommandServer } from '../../src/mqtt/commands.ts';
import { observer, RecordingApi } from '../unit/mqtt/fixtures.ts';

// The command queue itself (the API behind it records calls): a command that overruns its
// timeout is aborted through its signal, and the next one starts only once it has stopped.
describe('command timeouts abort the handler; one command at a time', () => {
  let broker: EmbeddedBroker;
  let url: string;
  beforeAll(async () => {
    broker = new EmbeddedBroker({ port: 0, logger: silentLogger });
    url = await broker.start();
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('aborts an overrunning handler, answers the timeout, and never runs two at once', async () => {
    const cfg = mqttSchema.parse({ protocolVersion: 4, commands: { timeoutMs: 200 } });
    const client = new MqttClient({ url, deviceId: 'q1', config: cfg });
    client.start();
    await client.waitForConnect();
    const api = new RecordingApi();
    api.hang.add('selftest');
    api.hang.add('capture');
    const server = new CommandServer({ client, api, config: cfg.commands });
    server.start();
    await server.ready;
    const obs = await observer(url, ['rayleigh/q1/cmd/+/response'], { protocolVersion: 4 });
    for (const [i, name] of ['selftest', 'capture', 'selftest', 'get_config'].entries()) {
      await obs.raw.publishAsync(`rayleigh/q1/cmd/${name}`, JSON.stringify({ transaction: `t${i}` }), { qos: 1 });
    }
    await expect.poll(() => obs.msgs.length, { timeout: 10_000 }).toBe(4);
    const bodies = obs.msgs.map((m) => JSON.parse(m.payload.toString()) as { status: string; error?: string; transaction: string });
    expect(bodies.map((b) => b.transaction)).toEqual(['t0', 't1', 't2', 't3']);
    for (const b of bodies.slice(0, 3)) expect(b.error).toMatch(/did not finish within 200 ms; it was aborted/);
    expect(bodies[3].status).toBe('ok');
    // each overrunning handler saw its signal, and no two ever ran together
    expect(api.aborted).toEqual(['selftest', 'capture', 'selftest']);
    expect(api.maxActive).toBe(1);
    await obs.close();
    server.stop();
    await client.stop(500);
  });

  it('a handler that ignores its signal holds the queue (one at a time) but not an e-stop', async () => {
    const cfg = mqttSchema.parse({ protocolVersion: 4, commands: { timeoutMs: 200 } });
    const client = new MqttClient({ url, deviceId: 'q2', config: cfg });
    client.start();
    await client.waitForConnect();
    const api = new RecordingApi();
    api.stubborn.add('selftest');
    const server = new CommandServer({ client, api, config: cfg.commands });
    server.start();
    await server.ready;
    const obs = await observer(url, ['rayleigh/q2/cmd/+/response'], { protocolVersion: 4 });
    await obs.raw.publishAsync('rayleigh/q2/cmd/selftest', '{"transaction":"stuck"}', { qos: 1 });
    await obs.raw.publishAsync('rayleigh/q2/cmd/get_config', '{"transaction":"behind"}', { qos: 1 });
    await expect.poll(() => obs.msgs.length, { timeout: 10_000 }).toBe(1);
    await obs.raw.publishAsync('rayleigh/q2/cmd/estop', '{"transaction":"stop"}', { qos: 1 });
    await expect.poll(() => obs.msgs.length, { timeout: 10_000 }).toBe(3);
    const byTx = new Map(
      obs.msgs
        .map((m) => JSON.parse(m.payload.toString()) as { transaction: string; status: string; error?: string })
        .map((b) => [b.transaction, b]),
    );
    expect(byTx.get('stuck')?.error).toMatch(/aborted/);
    expect(byTx.get('stop')?.status).toBe('ok');
    // the queued command did not start while the stubborn one still runs; the e-stop cancelled it
    expect(byTx.get('behind')?.error).toMatch(/cancelled by emergency stop/);
    expect(api.calls.map((c) => c.name)).toEqual(['selftest', 'estop']);
    await obs.close();
    server.stop();
    await client.stop(500);
  });
});
