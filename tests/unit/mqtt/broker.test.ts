import { createServer, type Server } from 'node:net';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../../../src/mqtt/broker.ts';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (stops.length) await stops.pop()?.();
});

describe('EmbeddedBroker', () => {
  it('falls back to a free port when the configured one is busy', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    stops.push(() => new Promise((r) => blocker.close(() => r())));
    const busy = (blocker.address() as { port: number }).port;
    const b = new EmbeddedBroker({ port: busy });
    stops.push(() => b.stop());
    const url = await b.start();
    expect(b.port).not.toBe(busy);
    expect(url).toBe(`mqtt://127.0.0.1:${b.port}`);
    const c = await mqtt.connectAsync(url, { protocolVersion: 4 });
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('refuses MQTT 5 (aedes speaks 3.1.1 only)', async () => {
    const b = new EmbeddedBroker({ port: 0 });
    stops.push(() => b.stop());
    const url = await b.start();
    await expect(mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 })).rejects.toThrow(/protocol version/i);
  });

  it('comes back on the same port with retained state when sessions are kept', async () => {
    const b = new EmbeddedBroker({ port: 0 });
    stops.push(() => b.stop());
    const url = await b.start();
    const port = b.port;
    const c = await mqtt.connectAsync(url, { protocolVersion: 4 });
    await c.publishAsync('t/r', 'kept', { retain: true, qos: 1 });
    await c.endAsync();
    await b.stop({ keepSessions: true });
    expect(b.running).toBe(false);
    await b.start();
    expect(b.port).toBe(port);
    const d = await mqtt.connectAsync(url, { protocolVersion: 4 });
    const got = new Promise<string>((r) => d.on('message', (_t, p) => r(p.toString())));
    await d.subscribeAsync('t/r');
    expect(await got).toBe('kept');
    await d.endAsync();
  });
});
