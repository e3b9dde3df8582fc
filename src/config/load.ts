import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type Settings, settingsSchema } from './schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const ENV_PREFIX = 'RAYLEIGH_';

/**
 * RAYLEIGH_MQTT__URL=mqtt://h:1883 sets mqtt.url. Segments are split on "__" and
 * lower-camel-cased (RAYLEIGH_MQTT__ALLOW_INSECURE_REMOTE → mqtt.allowInsecureRemote).
 * Values that parse as JSON (numbers, booleans, arrays) are used as such.
 */
export function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const rest = key.slice(ENV_PREFIX.length);
    if (!rest.includes('__') && !['STATE_DIR'].includes(rest)) continue;
    const path = rest.split('__').map(camel);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    setPath(out, path, value);
  }
  return out;
}

function camel(seg: string): string {
  return seg.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i];
    if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
}

export function deepMerge(base: unknown, over: unknown): unknown {
  if (isPlain(base) && isPlain(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
    return out;
  }
  return over === undefined ? base : over;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function formatZodError(err: z.ZodError): string {
  return err.issues
    .map((i) => {
      const where = i.path.length ? i.path.join('.') : '(root)';
      return `${where}: ${i.message}`;
    })
    .join('; ');
}

/** Validate a settings object (already merged); throws ConfigError naming the bad keys. */
export function parseSettings(input: unknown): Settings {
  const r = settingsSchema.safeParse(input ?? {});
  if (!r.success) throw new ConfigError(`invalid configuration: ${formatZodError(r.error)}`);
  return r.data;
}

export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const doc = parseYaml(text) as unknown;
    if (doc === null || doc === undefined) return {};
    if (!isPlain(doc)) throw new ConfigError(`config file ${file}: top level must be a mapping`);
    return doc;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`config file ${file} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Settings as written (a parsed file, possibly patched) < env overrides; secrets referenced by *File keys are read here. */
export function resolveSettings(written: unknown, env: NodeJS.ProcessEnv = process.env): Settings {
  const settings = parseSettings(deepMerge(written ?? {}, envOverrides(env)));
  if (settings.mqtt.passwordFile && settings.mqtt.password === undefined) {
    try {
      settings.mqtt.password = readFileSync(settings.mqtt.passwordFile, 'utf8').trim();
    } catch (e) {
      throw new ConfigError(`mqtt.passwordFile: cannot read ${settings.mqtt.passwordFile}: ${(e as NodeJS.ErrnoException).code}`);
    }
  }
  return settings;
}

/** File (optional) < env overrides. */
export function loadSettings(file?: string, env: NodeJS.ProcessEnv = process.env): Settings {
  return resolveSettings(file ? readConfigFile(file) : {}, env);
}
