import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MqttClient } from '../../src/mqtt/client.ts';
import { ResultPublisher } from '../../src/mqtt/publisher.ts';
import { Spool } from '../../src/mqtt/spool.ts';
import { brokerKinds, startTestBroker } from '../helpers/broker.ts';
import { makeResult, mqttConfig, observer, until } from '../unit/mqtt/fixtures.ts';

const OUTAGE_MS = 30_000;
const PERIOD_MS = 100;

/** One daemon incarnation: client + spool + publisher on a shared spool directory. */
async function incarnation(url: string, dir: string, connect = true) {
  const cfg = mqttConfig({ reconnectPeriodMs: 250, reconnectMaxMs: 1000 });
  const client = new MqttClient({ url, deviceId: 'outage1', config: cfg });
  // the strict setting: every result spooled is fsynced before its append resolves
  const spool = new Spool({ dir, maxBytes: 100e6, maxCount: 5000, durability: 'record' });
  const publisher = new ResultPublisher({ client, spool, config: cfg });
  await publisher.start();
  if (connect) client.start();
  return { client, spool, publisher };
}

describe.each(brokerKinds())('30 s broker outage with a daemon restart (%s)', (kind) => {
  it(
    'delivers every result in order, once per QoS 1, and empties the spool',
    async () => {
      const broker = await startTestBroker({ kind });
      const dir = mkdtempSync(join(tmpdir(), 'rayleigh-outage-'));
      const sub = await observer(broker.url, ['rayleigh/outage1/result/+/meta'], {
        clean: false,
        clientId: `outage-sub-${kind}`,
        protocolVersion: 4,
        reconnectPeriod: 250,
      });
      let d = await incarnation(broker.url, dir);
      let seq = 0;
      // no results while no daemon is up (between the spool's close and the next start)
      let up = true;
      const tick = setInterval(() => up && d.publisher.publish(makeResult(seq++)), PERIOD_MS);
      try {
        await d.client.waitForConnect();
        await until(() => sub.msgs.length >= 10, 10_000, 'results before the outage');

        await broker.stop();
        const outageStart = Date.now();
        await new Promise((r) => setTimeout(r, OUTAGE_MS / 3));
        // daemon restart during the outage: a new process object reloads the same spool
        up = false;
        d.publisher.stop();
        await d.client.stop(200);
        await d.spool.close();
        const spooledAtRestart = d.spool.count;
        // connected only once the observer is back: a broker interleaves what it stored for an
        // offline persistent session with live messages, which would scramble the order we check
        d = await incarnation(broker.url, dir, false);
        up = true;
        expect(d.spool.count).toBe(spooledAtRestart);
        expect(spooledAtRestart).toBeGreaterThan(0);
        await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - outageStart))));
        await broker.start();
        await until(() => sub.raw.connected, 15_000, 'observer reconnected');
        d.client.start();

        await d.client.waitForConnect(15_000);
        await new Promise((r) => setTimeout(r, 1000));
        clearInterval(tick);
        const total = seq;
        await d.publisher.drained();
        await until(() => new Set(sub.msgs.map((m) => JSON.parse(m.payload.toString()).seq)).size >= total, 30_000, `all ${total} results`);

        const seqs = sub.msgs.map((m) => JSON.parse(m.payload.toString()).seq as number);
        const firsts = seqs.filter((s, i) => seqs.indexOf(s) === i);
        expect(firsts).toEqual(Array.from({ length: total }, (_, i) => i));
        // QoS 1 may repeat a message that was in flight when the link dropped, nothing more
        expect(seqs.length - firsts.length).toBeLessThanOrEqual(2 * mqttConfig().results.inflight);
        expect(d.spool.count).toBe(0);
        await d.spool.close();
        expect(readdirSync(dir)).toEqual([]);
        expect(d.publisher.stats().spool.evicted).toBe(0);
      } finally {
        clearInterval(tick);
        d.publisher.stop();
        await d.client.stop(200);
        await d.spool.close();
        await sub.close();
        await broker.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    OUTAGE_MS * 3,
  );
});
