import { describe, expect, it } from 'vitest';
import { mqttSchema } from '../../../src/config/mqtt.ts';
import { UserError } from '../../../src/errors.ts';
import { checkBrokerUrl, MqttClient, nextReconnectDelay, redactUrl } from '../../../src/mqtt/client.ts';
import { isLoopbackHost } from '../../../src/net/loopback.ts';
import { mqttConfig } from './fixtures.ts';

describe('broker URL policy', () => {
  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.3.2.1', 'localhost', '[::1]', '::1']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['10.0.0.5', 'broker.example.com', '::2', '128.0.0.1']) expect(isLoopbackHost(h)).toBe(false);
  });
  it('refuses plaintext to a remote host unless allowed', () => {
    expect(() => checkBrokerUrl('mqtt://10.0.0.5:1883', false)).toThrow(UserError);
    expect(() => checkBrokerUrl('ws://broker.example.com/mqtt', false)).toThrow(/plaintext/);
    expect(() => checkBrokerUrl('mqtt://10.0.0.5:1883', true)).not.toThrow();
    expect(() => checkBrokerUrl('mqtts://broker.example.com:8883', false)).not.toThrow();
    expect(() => checkBrokerUrl('mqtt://127.0.0.1:1883', false)).not.toThrow();
    expect(() => checkBrokerUrl('http://x', false)).toThrow(/scheme/);
    expect(() => checkBrokerUrl('not a url', false)).toThrow(UserError);
  });
  it('the client constructor applies the policy', () => {
    expect(() => new MqttClient({ url: 'mqtt://192.168.1.10', deviceId: 'd1', config: mqttConfig() })).toThrow(/refusing plaintext/);
  });
  it('never shows credentials', () => {
    expect(redactUrl('mqtts://user:s3cret@h:8883')).toBe('mqtts://h:8883');
    const c = new MqttClient({ url: 'mqtt://u:hunter2@127.0.0.1:1', deviceId: 'd1', config: mqttConfig({ password: 'pw-xyz' }) });
    const s = JSON.stringify(c.state());
    expect(s).not.toContain('hunter2');
    expect(s).not.toContain('pw-xyz');
    expect(c.clientId).toBe('rayleigh-d1');
  });
  it('reports unreadable TLS files as a user error', () => {
    expect(
      () => new MqttClient({ url: 'mqtts://127.0.0.1:1', deviceId: 'd1', config: mqttConfig({ tls: { ca: '/nonexistent/ca.pem' } }) }),
    ).toThrow(/mqtt\.tls\.ca: cannot read/);
  });
});

describe('redactMqttConfig', () => {
  it('masks the password and URL credentials, keeps the rest', async () => {
    const { redactMqttConfig } = await import('../../../src/mqtt/client.ts');
    const r = redactMqttConfig(mqttConfig({ url: 'mqtts://dev:pw1@b:8883', password: 'pw2', username: 'dev' }));
    expect(JSON.stringify(r)).not.toMatch(/pw1|pw2/);
    expect(r.username).toBe('dev');
    expect(r.url).toBe('mqtts://b:8883');
  });
});

describe('reconnect backoff', () => {
  it('with the default settings the device is never more than 5 s late reconnecting to a broker that came back', () => {
    const cfg = mqttSchema.parse({});
    let delay = cfg.reconnectPeriodMs;
    const waits: number[] = [];
    // one attempt per wait through a 10-minute outage
    for (let t = 0; t < 600_000; t += delay) {
      delay = nextReconnectDelay(delay, cfg);
      waits.push(delay);
    }
    expect(Math.max(...waits)).toBeLessThanOrEqual(5000);
    // still backs off: doubling from the first period
    expect(waits.slice(0, 2)).toEqual([cfg.reconnectPeriodMs * 2, Math.min(5000, cfg.reconnectPeriodMs * 4)]);
  });
});
