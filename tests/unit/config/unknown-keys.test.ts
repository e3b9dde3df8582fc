import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_STATE_DIR } from '../../../src/config/install-paths.ts';
import { keyPaths } from '../../../src/config/keys.ts';
import { ConfigError, deepMerge, loadSettings, parseSettings, resolveSettings } from '../../../src/config/load.ts';
import { settingsSchema } from '../../../src/config/schema.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function tmpFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rayleigh-keys-'));
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('unknown keys in a config file', () => {
  it('rejects a section nested where it does not belong, naming its full path (the reported bug)', () => {
    const f = tmpFile('c.yaml', 'pipeline:\n  inference:\n    modelsDir: /tmp/pm\n');
    const msg = errorOf(() => loadSettings(f, {}));
    expect(msg).toMatch(/pipeline\.inference: unknown key/);
    expect(msg).toContain('did you mean top-level "inference"');
  });

  it('the same section at the top level is accepted and used', () => {
    const f = tmpFile('c.yaml', 'inference:\n  modelsDir: /tmp/pm\n');
    expect(loadSettings(f, {}).inference.modelsDir).toBe('/tmp/pm');
  });

  it('suggests the key a typo was meant to be, and the place a misplaced key belongs', () => {
    const msg = errorOf(() => parseSettings({ inference: { modelDir: '/m' }, mqtt: { qos: 1 }, web: { tokn: 't' } }));
    expect(msg).toMatch(/inference\.modelDir: unknown key \(did you mean "inference\.modelsDir"\?\)/);
    expect(msg).toMatch(/mqtt\.qos: unknown key \(did you mean "mqtt\.results\.qos"\?\)/);
    expect(msg).toMatch(/web\.tokn: unknown key \(did you mean "web\.token"\?\)/);
  });

  it('reports every unknown key, not just the first', () => {
    const msg = errorOf(() => parseSettings({ device: { idd: 'a', nmae: 'b' }, bogus: 1 }));
    expect(msg).toMatch(/device\.idd: unknown key/);
    expect(msg).toMatch(/device\.nmae: unknown key/);
    expect(msg).toMatch(/(^|; |: )bogus: unknown key/);
  });

  it('rejects a key of another member of a discriminated union and says which member has it', () => {
    const cam = errorOf(() => parseSettings({ camera: { type: 'file', path: '/f.tif', width: 64 } }));
    expect(cam).toMatch(/camera\.width: unknown key \(only valid when camera\.type is "sim", "rpicam" or "gstreamer"\)/);

    const dmd = errorOf(() => parseSettings({ hardware: { dmd: { type: 'none', bus: 1 } } }));
    expect(dmd).toMatch(/hardware\.dmd\.bus: unknown key \(only valid when hardware\.dmd\.type is "dlpc900" or "dlpc347x"\)/);

    const stage = errorOf(() => parseSettings({ hardware: { stage: { type: 'firmata', chip: 'sim' } } }));
    expect(stage).toMatch(/hardware\.stage\.chip: unknown key \(only valid when hardware\.stage\.type is "gpio"\)/);
  });

  it('rejects unknown keys inside union members, records and their nested objects', () => {
    const axis = errorOf(() =>
      parseSettings({ hardware: { stage: { type: 'gpio', axes: { x: { stepPin: 1, dirPin: 2, stepPerUm: 0.2 } } } } }),
    );
    expect(axis).toMatch(/hardware\.stage\.axes\.x\.stepPerUm: unknown key \(did you mean "hardware\.stage\.axes\.x\.stepsPerUm"\?\)/);

    const mapping = errorOf(() => parseSettings({ hardware: { dmd: { type: 'dlpc900', mapping: { scale: 1, offsetZ: 2 } } } }));
    expect(mapping).toMatch(/hardware\.dmd\.mapping\.offsetZ: unknown key/);

    const psf = errorOf(() => parseSettings({ camera: { type: 'sim', psf: { sigma: 2 } } }));
    expect(psf).toMatch(/camera\.psf\.sigma: unknown key/);
  });

  it('every object in the schema rejects an unknown key at its own path', () => {
    const entries = keyPaths(settingsSchema);
    // every path that has children is an object (or a record of objects); place a stray key in each
    const parents = new Map<string, string[]>();
    for (const e of entries) for (let n = 1; n < e.path.length; n++) parents.set(e.path.slice(0, n).join('.'), e.path.slice(0, n));
    parents.set('', []);
    expect([...parents.keys()]).toEqual(
      expect.arrayContaining([
        '',
        'device',
        'log',
        'camera',
        'camera.psf',
        'mqtt.tls',
        'mqtt.commands',
        'inference.rl',
        'hardware.dmd.mapping',
      ]),
    );
    expect([...parents.keys()]).toContain('hardware.stage.axes.*');
    const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((s, i) => s === b[i]);
    let checked = 0;
    for (const path of parents.values()) {
      // a record (hardware.stage.axes) takes any key
      if (entries.some((e) => same(e.path, [...path, '*']))) continue;
      // a union at this path: put the stray key into each of its members in turn
      const variants = entries.flatMap((e) => (e.when && same(e.when.at, path) ? e.when.values.map((v) => ({ key: e.when?.key, v })) : []));
      const uniq = [...new Map(variants.map((x) => [`${x.key}=${x.v}`, x])).values()];
      for (const variant of uniq.length ? uniq : [undefined]) {
        const concrete = path.map((s) => (s === '*' ? 'x' : s));
        const input: Record<string, unknown> = {};
        let cur = input;
        for (let i = 0; i < concrete.length; i++) {
          const next: Record<string, unknown> = {};
          // an enclosing union: pick a member that has the next key
          const member = entries.find((e) => e.when && same(e.when.at, path.slice(0, i)) && same(e.path, path.slice(0, i + 1)));
          if (member?.when) cur[member.when.key] = member.when.values[0];
          cur[concrete[i]] = next;
          cur = next;
        }
        if (variant?.key) cur[variant.key] = variant.v;
        cur.strayKey = 1;
        const where = [...concrete, 'strayKey'].join('.');
        expect(
          errorOf(() => parseSettings(input)),
          `${where} ${JSON.stringify(input)}`,
        ).toContain(`${where}: unknown key`);
        checked++;
      }
    }
    // root, device, log, 4 camera members + psf, pipeline ×3, inference ×3, mqtt ×7, 3 dmd members + mapping, 3 stage members + axis, …
    expect(checked).toBeGreaterThanOrEqual(30);
  });
});

describe('unknown keys from the environment', () => {
  it('names the env variable behind an unknown nested key', () => {
    const msg = errorOf(() => loadSettings(undefined, { RAYLEIGH_PIPELINE__MODELS_DIR: '/tmp/pm' }));
    expect(msg).toMatch(/pipeline\.modelsDir: unknown key .*\(from RAYLEIGH_PIPELINE__MODELS_DIR\)/);
  });

  it('names the env variable behind an unknown section and a bad value', () => {
    const msg = errorOf(() => loadSettings(undefined, { RAYLEIGH_PIPLINE__QUEUE_SIZE: '3', RAYLEIGH_WEB__PORT: '-1' }));
    expect(msg).toMatch(/pipline: unknown key.*\(from RAYLEIGH_PIPLINE__QUEUE_SIZE\)/);
    expect(msg).toMatch(/web\.port: .*\(from RAYLEIGH_WEB__PORT\)/);
  });

  it('an unknown key in a union member set from the environment is rejected', () => {
    const f = tmpFile('c.yaml', 'camera: { type: file, path: /f.tif }\n');
    const msg = errorOf(() => loadSettings(f, { RAYLEIGH_CAMERA__DENSITY: '5' }));
    expect(msg).toMatch(/camera\.density: unknown key \(only valid when camera\.type is "sim"\) \(from RAYLEIGH_CAMERA__DENSITY\)/);
  });

  it('valid env overrides still apply', () => {
    const s = loadSettings(undefined, { RAYLEIGH_INFERENCE__MODELS_DIR: '/tmp/pm', RAYLEIGH_MQTT__TLS__REJECT_UNAUTHORIZED: 'false' });
    expect(s.inference.modelsDir).toBe('/tmp/pm');
    expect(s.mqtt.tls.rejectUnauthorized).toBe(false);
  });
});

describe('merging a patch that switches a union member', () => {
  it('drops keys the new member does not have and keeps the shared ones', () => {
    const written = { camera: { type: 'sim', density: 30, fps: 7 }, hardware: { dmd: { type: 'dlpc900', bus: 1, exposureUs: 5000 } } };
    const merged = deepMerge(written, { camera: { type: 'file', path: '/f.tif' }, hardware: { dmd: { type: 'dlpc347x' } } });
    expect(merged).toEqual({
      camera: { type: 'file', path: '/f.tif', fps: 7 },
      hardware: { dmd: { type: 'dlpc347x', bus: 1, exposureUs: 5000 } },
    });
    const s = resolveSettings(merged, {});
    expect(s.camera).toMatchObject({ type: 'file', path: '/f.tif', fps: 7 });
    expect(s.hardware.dmd).toMatchObject({ type: 'dlpc347x', bus: 1 });
  });

  it('keeps everything when the member does not change, and a typo in the patch is still an error', () => {
    const written = { camera: { type: 'sim', density: 30 } };
    expect(deepMerge(written, { camera: { type: 'sim', fps: 2 } })).toEqual({ camera: { type: 'sim', density: 30, fps: 2 } });
    expect(deepMerge(written, { camera: { fps: 2 } })).toEqual({ camera: { type: 'sim', density: 30, fps: 2 } });
    expect(() => resolveSettings(deepMerge(written, { camera: { type: 'file', path: '/f', densty: 1 } }), {})).toThrow(
      /camera\.densty: unknown key/,
    );
  });
});

describe('the config files shipped in the repository', () => {
  const files = [
    ...readdirSync(join(root, 'examples'))
      .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
      .map((f) => join(root, 'examples', f)),
    join(root, 'bench', 'soak-config.yaml'),
    join(root, 'systemd', 'config.example.yaml'),
  ];

  it('finds the examples', () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
  });

  for (const f of files) {
    it(`${f.slice(root.length + 1)} parses under the strict schema`, () => {
      const s = loadSettings(f, {});
      // spot check that what the file says is what was loaded (nothing silently dropped)
      const doc = parseYaml(readFileSync(f, 'utf8')) as Record<string, Record<string, unknown>>;
      if (doc.camera?.type) expect(s.camera.type).toBe(doc.camera.type);
      if (doc.inference?.model) expect(s.inference.model).toBe(doc.inference.model);
      expect(s.stateDir).toBe((doc.stateDir as unknown as string | undefined) ?? DEFAULT_STATE_DIR);
    });
  }
});
