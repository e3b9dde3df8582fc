import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMessage, watch, watchDefaults } from '../../../src/commands/watch.ts';
import { UserError } from '../../../src/errors.ts';
import { EmbeddedBroker } from '../../../src/mqtt/broker.ts';
import { toResultMeta } from '../../../src/mqtt/payloads.ts';
import { makeResult, until } from './fixtures.ts';

let broker: EmbeddedBroker;
let url: string;
beforeAll(async () => {
  broker = new EmbeddedBroker({ port: 0 });
  url = await broker.start();
});
afterAll(async () => {
  await broker.stop();
});

describe('rayleigh watch', () => {
  it('prints one compact line per message, images as byte counts', async () => {
    const lines: string[] = [];
    const pub = await mqtt.connectAsync(url, { protocolVersion: 4 });
    // retained before the watcher subscribes, so it sees each exactly once whatever the timing
    await pub.publishAsync('rayleigh/dev7/status', 'online', { retain: true, qos: 1 });
    await pub.publishAsync('rayleigh/dev7/health', '{"fps":3}', { retain: true, qos: 1 });
    const done = watch({ ...watchDefaults, url, prefix: 'rayleigh', device: '+', count: 4 }, (l) => lines.push(l));
    await until(() => lines.length >= 2, 5000, 'retained lines');
    await pub.publishAsync('rayleigh/dev7/result/main/meta', JSON.stringify(toResultMeta(makeResult(12, 'main', true))), { qos: 1 });
    await pub.publishAsync('rayleigh/dev7/result/main/image', Buffer.alloc(321), { qos: 1 });
    expect(await done).toBe(4);
    await pub.endAsync();
    expect(lines.some((l) => / dev7 status online$/.test(l))).toBe(true);
    expect(lines.some((l) => / dev7 health \{"fps":3\}$/.test(l))).toBe(true);
    expect(lines.find((l) => l.includes(' meta '))).toMatch(/main seq=12 locs=1 model=damn-int8 total=3\.7ms dropped=0 f1=0\.667/);
    expect(lines.find((l) => l.includes(' image '))).toMatch(/dev7 image {2}main 321 bytes$/);
  });

  it('emits JSON lines with --json', () => {
    const line = formatMessage('rayleigh', 'rayleigh/d/event', Buffer.from('{"type":"fault","severity":"error"}'), true);
    expect(JSON.parse(line)).toMatchObject({
      topic: 'rayleigh/d/event',
      device: 'd',
      kind: 'event',
      payload: { type: 'fault', severity: 'error' },
    });
    const img = JSON.parse(formatMessage('rayleigh', 'rayleigh/d/result/s/image', Buffer.alloc(9), true));
    expect(img).toMatchObject({ kind: 'image', stream: 's', bytes: 9 });
    expect(img.payload).toBeUndefined();
  });

  it('fails with a user error when the broker is unreachable or the device is a pattern', async () => {
    await expect(
      watch({ ...watchDefaults, url: 'mqtt://127.0.0.1:1', prefix: 'rayleigh', device: '+', timeout: 2 }, () => {}),
    ).rejects.toThrow(UserError);
    await expect(watch({ ...watchDefaults, url, prefix: 'rayleigh', device: 'a/#' }, () => {})).rejects.toThrow(/--device/);
    await expect(watch({ ...watchDefaults, url: 'mqtt://203.0.113.9', prefix: 'rayleigh', device: '+' }, () => {})).rejects.toThrow(
      /plaintext/,
    );
  });
});
