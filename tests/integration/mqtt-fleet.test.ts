import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/config/load.ts';
import { type MqttStack, startMqtt } from '../../src/mqtt/index.ts';
import { mosquittoAvailable, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { makeResult } from '../unit/mqtt/fixtures.ts';

const DEVICES = ['scope-a', 'scope-b', 'scope-c'];
const PER_DEVICE = 40;

// Fleet: several devices, unique ids, one broker; consumers in one shared-subscription group split
// the stream so that each result reaches exactly one of them, and every result reaches the group.
describe.skipIf(!mosquittoAvailable())('fleet: many devices into one Mosquitto, shared-subscription consumers', () => {
  let broker: TestBroker;
  const stacks: MqttStack[] = [];
  const consumers: mqtt.MqttClient[] = [];
  const got: Array<Map<string, number[]>> = [];

  beforeAll(async () => {
    broker = await startTestBroker({ kind: 'mosquitto' });
    for (let c = 0; c < 2; c++) {
      const seen = new Map<string, number[]>();
      got.push(seen);
      const client = mqtt.connect(broker.url, { protocolVersion: 5, clientId: `archiver-${c}` });
      client.on('message', (topic, payload) => {
        const device = topic.split('/')[1];
        const list = seen.get(device) ?? [];
        list.push((JSON.parse(payload.toString()) as { seq: number }).seq);
        seen.set(device, list);
      });
      await new Promise<void>((resolve) => client.on('connect', () => resolve()));
      await client.subscribeAsync('$share/archivers/rayleigh/+/result/+/meta', { qos: 1 });
      consumers.push(client);
    }
    for (const id of DEVICES) {
      const settings = parseSettings({
        device: { id },
        stateDir: mkdtempSync(join(tmpdir(), `fleet-${id}-`)),
        mqtt: { url: broker.url, commands: { enabled: false } },
        pipeline: { image: { enabled: false } },
      });
      const s = await startMqtt(settings);
      await s.client.waitForConnect(10_000);
      stacks.push(s);
    }
  });

  afterAll(async () => {
    for (const s of stacks) await s.stop();
    for (const c of consumers) await c.endAsync();
    await broker?.close();
  });

  it('every device keeps its own topics and the group receives every result exactly once', async () => {
    for (let seq = 0; seq < PER_DEVICE; seq++) for (const s of stacks) s.publisher.publish(makeResult(seq));
    const total = (): number => got.reduce((n, m) => n + [...m.values()].reduce((a, l) => a + l.length, 0), 0);
    const t0 = Date.now();
    while (total() < DEVICES.length * PER_DEVICE && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    for (const id of DEVICES) {
      const all = [...(got[0].get(id) ?? []), ...(got[1].get(id) ?? [])].sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: PER_DEVICE }, (_, i) => i));
    }
    // the load is actually shared, not all on one consumer
    expect(got.every((m) => [...m.values()].some((l) => l.length > 0))).toBe(true);
    // records leave the spool once the broker's PUBACK is processed, which can trail delivery
    const spooled = (): number => stacks.reduce((n, s) => n + s.spool.stats().count, 0);
    const t1 = Date.now();
    while (spooled() > 0 && Date.now() - t1 < 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(spooled()).toBe(0);
  });

  it('a device id that would break the topic tree is refused', () => {
    expect(() => parseSettings({ device: { id: 'scope/+' } })).toThrow(/device\.id/);
  });
});
