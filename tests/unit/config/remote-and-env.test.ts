import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { patchFrom, patchKeys } from '../../../src/config/carry-over.ts';
import { INSTALL_ROOT } from '../../../src/config/install-paths.ts';
import { ConfigError, deepMerge, envOverrides, loadSettings, resolveSettings } from '../../../src/config/load.ts';
import { liveSettingsPaths, refusedRemoteKeys, remoteSettingsPaths } from '../../../src/config/remote-policy.ts';

describe('environment overrides', () => {
  it('keep a secret as the text given, even when it looks like a number or JSON', () => {
    const env = {
      RAYLEIGH_MQTT__PASSWORD: '123456',
      RAYLEIGH_WEB__TOKEN: '0000000000000000123',
      RAYLEIGH_MQTT__USERNAME: 'true',
      RAYLEIGH_DEVICE__NAME: '[1,2]',
    };
    expect(envOverrides(env)).toEqual({
      mqtt: { password: '123456', username: 'true' },
      web: { token: '0000000000000000123' },
      device: { name: '[1,2]' },
    });
    const s = resolveSettings({}, env);
    expect(s.mqtt.password).toBe('123456');
    expect(s.web.token).toBe('0000000000000000123');
  });

  it('still parse numbers and booleans for settings that are not strings', () => {
    expect(envOverrides({ RAYLEIGH_PIPELINE__QUEUE_SIZE: '7', RAYLEIGH_WEB__ENABLED: 'false' })).toEqual({
      pipeline: { queueSize: 7 },
      web: { enabled: false },
    });
  });

  it('refuse prototype keys in a variable name or a JSON value', () => {
    expect(() => envOverrides({ RAYLEIGH_MQTT__CONSTRUCTOR: '1' })).toThrow(ConfigError);
    expect(() => envOverrides({ RAYLEIGH_PROTOTYPE__X: '1' })).toThrow(/prototype/);
    expect(() => envOverrides({ RAYLEIGH_MQTT__TLS: '{"__proto__":{"rejectUnauthorized":false}}' })).toThrow(/__proto__/);
    expect(() => envOverrides({ RAYLEIGH_MQTT____X: '1' })).toThrow(/empty key segment/);
  });
});

describe('prototype keys in settings', () => {
  it('are an error wherever they appear in a merged document (file, patch, env)', () => {
    const polluted = JSON.parse('{"mqtt":{"__proto__":{"password":"x"}}}') as Record<string, unknown>;
    expect(() => deepMerge({}, polluted)).toThrow(/mqtt\.__proto__/);
    expect(() => deepMerge({}, JSON.parse('{"constructor":{"prototype":{"p":1}}}'))).toThrow(/constructor/);
    expect(({} as Record<string, unknown>).p).toBeUndefined();
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-proto-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'pipeline:\n  __proto__:\n    queueSize: 9\n');
    expect(() => loadSettings(file, {})).toThrow(/__proto__/);
  });
});

describe('remote-settable keys (marked in the schema)', () => {
  const marked = remoteSettingsPaths().map((p) => p.join('.'));

  it('mark which of them apply live; those are remote-settable concrete keys', () => {
    const live = liveSettingsPaths().map((p) => p.join('.'));
    expect(live.sort()).toEqual(['inference.model', 'pipeline.holes', 'pipeline.postprocess']);
    for (const k of live) {
      expect(marked).toContain(k);
      expect(k).not.toContain('*');
    }
    // the README's list is this list
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const line = readme.split('\n').find((l) => l.startsWith('Applied live by `set_config`:')) ?? '';
    const listed = [...line.slice(line.indexOf(':') + 1).matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    expect(listed.sort()).toEqual(live.sort());
  });

  it('cover thresholds, rates, model choice and publishing, and nothing that runs, listens or authenticates', () => {
    expect(marked).toEqual(
      expect.arrayContaining(['pipeline.postprocess', 'camera.fps', 'inference.model', 'mqtt.results', 'health.interval', 'log.level']),
    );
    for (const forbidden of [
      /binary/,
      /path/i,
      /dir/i,
      /host/,
      /port/,
      /^mqtt\.(url|username|password|passwordFile|tls|commands|embedded)/,
      /^web/,
      /^hardware/,
      /^stateDir/,
      /^device\.id/,
      /preprocess/,
    ]) {
      expect(
        marked.filter((k) => forbidden.test(k)),
        String(forbidden),
      ).toEqual([]);
    }
  });

  it('refuse every unmarked key a patch touches, and forbidden keys under marked ones', () => {
    expect(refusedRemoteKeys({ pipeline: { postprocess: { threshold: 0.2 } }, camera: { fps: 3 } })).toEqual([]);
    expect(refusedRemoteKeys({ camera: { binary: '/tmp/x', fps: 3 }, web: { host: '0.0.0.0' } })).toEqual(['camera.binary', 'web.host']);
    expect(refusedRemoteKeys({ stateDir: '/tmp' })).toEqual(['stateDir']);
    expect(refusedRemoteKeys(JSON.parse('{"pipeline":{"postprocess":{"__proto__":{"threshold":1}}}}'))).toEqual([
      'pipeline.postprocess.__proto__',
    ]);
    expect(refusedRemoteKeys({ mqtt: { results: { qos: 0 }, url: 'mqtt://x' } })).toEqual(['mqtt.url']);
  });
});

describe('non-persisted changes across a restart', () => {
  it('are exactly what the running settings hold beyond the file', () => {
    const file = resolveSettings({ pipeline: { queueSize: 4 } }, {});
    const running = resolveSettings({ pipeline: { queueSize: 9, postprocess: { threshold: 0.3 } } }, {});
    const carried = patchFrom(file, running);
    expect(carried).toEqual({ pipeline: { queueSize: 9, postprocess: { threshold: 0.3 } } });
    expect(patchKeys(carried).sort()).toEqual(['pipeline.postprocess.threshold', 'pipeline.queueSize']);
    expect(resolveSettings(deepMerge({ pipeline: { queueSize: 4 } }, carried), {}).pipeline.queueSize).toBe(9);
    expect(patchFrom(file, file)).toEqual({});
  });
});

describe('defaults that are paths', () => {
  it('resolve from the installation, not from the current directory', () => {
    const s = resolveSettings({}, {});
    expect(s.inference.modelsDir).toBe(join(INSTALL_ROOT, 'models-int8'));
    expect(s.stateDir).toBe(join(INSTALL_ROOT, 'state'));
    expect(s.inference.fallback).toBe('none');
  });
});
