import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envOverrides, loadSettings, parseSettings } from '../../../src/config/load.ts';

function tmpFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rayleigh-cfg-'));
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

describe('settings', () => {
  it('defaults to the simulated instrument with the embedded broker', () => {
    const s = loadSettings(undefined, {});
    expect(s.camera.type).toBe('sim');
    expect(s.mqtt.url).toBeUndefined();
    expect(s.inference.model).toBeTypeOf('string');
  });

  it('reads YAML and fills defaults around it', () => {
    const f = tmpFile('c.yaml', 'device:\n  id: bench-3\ncamera:\n  type: sim\n  fps: 12\n');
    const s = loadSettings(f, {});
    expect(s.device.id).toBe('bench-3');
    expect(s.camera.type === 'sim' && s.camera.fps).toBe(12);
    expect(s.camera.type === 'sim' && s.camera.width).toBe(64);
  });

  it('env overrides beat the file, with JSON values and camelCased keys', () => {
    const f = tmpFile('c.yaml', 'mqtt:\n  prefix: lab\n');
    const s = loadSettings(f, {
      RAYLEIGH_MQTT__PREFIX: 'fleet',
      RAYLEIGH_MQTT__ALLOW_INSECURE_REMOTE: 'true',
      RAYLEIGH_PIPELINE__QUEUE_SIZE: '9',
      UNRELATED: 'x',
    });
    expect(s.mqtt.prefix).toBe('fleet');
    expect(s.mqtt.allowInsecureRemote).toBe(true);
    expect(s.pipeline.queueSize).toBe(9);
  });

  it('names the bad key in the error', () => {
    expect(() => parseSettings({ pipeline: { queueSize: 0 } })).toThrow(/pipeline\.queueSize/);
    expect(() => parseSettings({ camera: { type: 'webcam' } })).toThrow(/camera/);
    expect(() => parseSettings({ mqtt: { url: 'not a url' } })).toThrow(/mqtt\.url/);
    expect(() => parseSettings({ nonsense: 1 })).toThrow(ConfigError);
  });

  it('rejects malformed YAML and a non-mapping document clearly', () => {
    expect(() => loadSettings(tmpFile('bad.yaml', 'camera: [unclosed\n'), {})).toThrow(/not valid YAML/);
    expect(() => loadSettings(tmpFile('list.yaml', '- 1\n- 2\n'), {})).toThrow(/mapping/);
    expect(() => loadSettings('/nonexistent/rayleigh.yaml', {})).toThrow(/cannot read/);
  });

  it('reads the broker password from a file and never needs it inline', () => {
    const pw = tmpFile('pw', 's3cret\n');
    const s = loadSettings(undefined, { RAYLEIGH_MQTT__PASSWORD_FILE: pw });
    expect(s.mqtt.password).toBe('s3cret');
  });

  it('env override parsing splits nested keys on double underscores', () => {
    expect(envOverrides({ RAYLEIGH_WEB__PORT: '0', RAYLEIGH_X: 'ignored' })).toEqual({ web: { port: 0 } });
  });
});

describe('spool versus one result', () => {
  it('refuses a spool that cannot hold the largest result the pipeline may publish', async () => {
    const { parseSettings: parse, largestResultBytes } = await import('../../../src/config/load.ts');
    const ok = parse({});
    expect(ok.mqtt.spool.maxBytes).toBeGreaterThanOrEqual(largestResultBytes(ok));
    const big = { pipeline: { image: { maxBytes: 2 * 1024 * 1024 } }, mqtt: { spool: { maxBytes: 2 * 1024 * 1024 } } };
    expect(() => parse(big)).toThrow(
      /mqtt\.spool\.maxBytes: 2097152 bytes cannot hold one result \(up to \d+ bytes with pipeline\.image\.maxBytes 2097152/,
    );
    // without images the same spool is enough
    expect(parse({ ...big, pipeline: { image: { enabled: false, maxBytes: 2 * 1024 * 1024 } } }).mqtt.spool.maxBytes).toBe(2 * 1024 * 1024);
  });
});
