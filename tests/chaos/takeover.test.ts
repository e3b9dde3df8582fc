import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfigFile, resolveSettings } from '../../src/config/load.ts';
import { type Daemon, startDaemon } from '../../src/controller.ts';
import { silentLogger } from '../../src/log.ts';

interface Answer {
  status: 'ok' | 'error';
  data?: unknown;
  error?: string;
  transaction?: string;
}

// The probe's takeover, against the real daemon over its own broker: every attempt is refused,
// nothing changes in the running configuration or the file, and retained commands never run.
describe('the MQTT command surface cannot take the device over', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rayleigh-takeover-'));
  const file = join(dir, 'config.yaml');
  let daemon: Daemon;
  let sub: mqtt.MqttClient;
  const answers = new Map<string, Answer>();
  let restarts = 0;
  let n = 0;

  const ask = async (name: string, params: Record<string, unknown>): Promise<Answer> => {
    const transaction = `${name}-${++n}`;
    await sub.publishAsync(`rayleigh/takeover/cmd/${name}`, JSON.stringify({ ...params, transaction }), { qos: 1 });
    await expect.poll(() => answers.has(transaction), { timeout: 10_000 }).toBe(true);
    return answers.get(transaction) as Answer;
  };

  beforeAll(async () => {
    writeFileSync(
      file,
      [
        'device: { id: takeover }',
        `stateDir: ${JSON.stringify(join(dir, 'state'))}`,
        'mqtt: { embedded: { port: 0 }, commands: { allowRestart: true } }',
        'web: { enabled: false }',
        'camera: { type: sim, width: 32, height: 32 }',
        'inference: { model: rl, rl: { iterations: 5 } }',
        'pipeline: { autostart: false }',
        'hardware: { dmd: { type: none } }',
      ].join('\n'),
    );
    const written = readConfigFile(file) as Record<string, unknown>;
    daemon = await startDaemon(resolveSettings(written, {}), { log: silentLogger, configFile: file, writtenSettings: written });
    daemon.events.on('restart', () => restarts++);
    sub = await mqtt.connectAsync(daemon.url, { protocolVersion: 4 });
    sub.on('message', (_t, payload) => {
      try {
        const a = JSON.parse(payload.toString()) as Answer;
        if (typeof a.transaction === 'string') answers.set(a.transaction, a);
      } catch {
        // not an answer
      }
    });
    await sub.subscribeAsync('rayleigh/takeover/cmd/+/response', { qos: 1 });
  });

  afterAll(async () => {
    await sub?.endAsync(true);
    await daemon?.stop();
  });

  it('refuses executables, paths, listen addresses, broker and auth settings, and prototype keys', async () => {
    const fileBefore = readFileSync(file, 'utf8');
    const before = JSON.stringify(daemon.settings);
    const attempts: Array<[string, Record<string, unknown>, RegExp]> = [
      ['camera.binary', { camera: { type: 'rpicam', binary: join(dir, 'evil.sh') } }, /camera\.(type|binary)/],
      ['web.host', { web: { host: '0.0.0.0', token: 'attacker-token-0123456789' } }, /web\.host/],
      ['stateDir', { stateDir: '/tmp/elsewhere' }, /stateDir/],
      ['mqtt.url', { mqtt: { url: 'mqtt://10.6.6.6:1883', passwordFile: '/etc/rayleigh/env', allowInsecureRemote: true } }, /mqtt\.url/],
      ['mqtt.tls', { mqtt: { tls: { rejectUnauthorized: false } } }, /mqtt\.tls/],
      ['commands policy', { mqtt: { commands: { allowPersist: true } } }, /mqtt\.commands/],
      ['stage limits', { hardware: { stage: { type: 'gpio', axes: { x: { stepPin: 1, dirPin: 2, maxUm: 1e9 } } } } }, /hardware\.stage/],
      ['modelsDir', { inference: { modelsDir: '/tmp/models' } }, /inference\.modelsDir/],
      ['dark frame path', { pipeline: { preprocess: { dark: '/etc/shadow' } } }, /pipeline\.preprocess/],
    ];
    for (const [what, patch, re] of attempts) {
      const a = await ask('set_config', { patch });
      expect(a.status, what).toBe('error');
      expect(a.error, what).toMatch(re);
      expect(a.error, what).toMatch(/only settings marked remote/);
    }
    // a prototype key anywhere, even under a key that may be changed
    for (const raw of [
      '{"patch":{"mqtt":{"__proto__":{"password":"x"}}}}',
      '{"patch":{"pipeline":{"postprocess":{"__proto__":{"threshold":0.9}}}}}',
      '{"patch":{"constructor":{"prototype":{"polluted":true}}}}',
    ]) {
      const transaction = `proto-${++n}`;
      await sub.publishAsync('rayleigh/takeover/cmd/set_config', raw.replace(/}$/, `,"transaction":"${transaction}"}`), { qos: 1 });
      await expect.poll(() => answers.get(transaction)?.status, { timeout: 10_000 }).toBe('error');
      expect(answers.get(transaction)?.error).toMatch(/__proto__|constructor/);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // persisting is off unless the file allows it
    const persist = await ask('set_config', { patch: { pipeline: { postprocess: { threshold: 0.2 } } }, persist: true });
    expect(persist.error).toMatch(/allowPersist/);
    expect(JSON.stringify(daemon.settings)).toBe(before);
    expect(readFileSync(file, 'utf8')).toBe(fileBefore);
    // what is marked remote still works
    const ok = await ask('set_config', { patch: { pipeline: { postprocess: { threshold: 0.25 } }, health: { interval: 5 } } });
    expect(ok.status, ok.error).toBe('ok');
    expect(daemon.pipeline.postprocessOptions.threshold).toBe(0.25);
  });

  it('never runs a retained command, nor the empty retained publish that clears it', async () => {
    await sub.publishAsync('rayleigh/takeover/cmd/restart', '{"transaction":"retained-restart"}', { qos: 1, retain: true });
    await sub.publishAsync('rayleigh/takeover/cmd/restart', '', { qos: 1, retain: true });
    // a request after them, answered, proves they were processed (in order) and dropped
    const after = await ask('get_config', {});
    expect(after.status).toBe('ok');
    expect(answers.has('retained-restart')).toBe(false);
    expect(restarts).toBe(0);
    // a plain restart request is honoured because this file allows it
    const r = await ask('restart', { delayMs: 60_000 });
    expect(r.status, r.error).toBe('ok');
  });

  it('refuses a stream the device does not run, and absurd stream names', async () => {
    const other = await ask('start', { stream: 'other' });
    expect(other.error).toMatch(/unknown stream "other"/);
    const long = await ask('start', { stream: 'a'.repeat(65) });
    expect(long.error).toMatch(/stream/);
  });
});
