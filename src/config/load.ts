import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { metaBytesPerLocalization } from '../mqtt/payloads.ts';
import { discriminatorAt, type KeyPath, keyPaths, stringKeyPaths, unknownKeyHint, validForVariant } from './keys.ts';
import { FORBIDDEN_KEYS, findForbiddenKey } from './remote.ts';
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
  return envOverridesWithSources(env).values;
}

/** An env override's key path and the variable it came from (to name it in errors). */
export interface EnvSource {
  path: string[];
  variable: string;
}

/** {@link envOverrides}, plus which variable set which key path. */
export function envOverridesWithSources(env: NodeJS.ProcessEnv): { values: Record<string, unknown>; sources: EnvSource[] } {
  const values: Record<string, unknown> = {};
  const sources: EnvSource[] = [];
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const rest = key.slice(ENV_PREFIX.length);
    if (!rest.includes('__') && !['STATE_DIR'].includes(rest)) continue;
    const path = rest.split('__').map(camel);
    if (path.some((seg) => seg === '')) throw new ConfigError(`${key}: empty key segment (use "__" between keys only)`);
    const bad = path.find((seg) => FORBIDDEN_KEYS.has(seg));
    if (bad !== undefined) throw new ConfigError(`${key}: "${bad}" is not a settings key`);
    let value: unknown = raw;
    // a string setting takes the text as given: RAYLEIGH_MQTT__PASSWORD=123456 is a password, not a number
    if (!acceptsString(path)) {
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw;
      }
    }
    const hidden = findForbiddenKey(value);
    if (hidden) throw new ConfigError(`${key}: "${hidden.at(-1)}" is not a settings key`);
    setPath(values, path, value);
    sources.push({ path, variable: key });
  }
  return { values, sources };
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

/**
 * `over` onto `base`, objects merged key by key. Where both sides are a member of a settings
 * discriminated union (camera, hardware.dmd, hardware.stage) and `over` switches the
 * discriminator, base keys the new member does not have are dropped (switching camera.type from
 * sim to file must not carry `density` along; the strict schema would reject it), while the keys
 * both members share (e.g. dmd `bus` between dlpc900 and dlpc347x) are kept.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  return mergeAt(base, over, []);
}

function mergeAt(base: unknown, over: unknown, path: string[]): unknown {
  if (isPlain(over)) {
    // assigning "__proto__" below would replace the merged object's prototype
    const bad = Object.keys(over).find((k) => FORBIDDEN_KEYS.has(k));
    if (bad !== undefined) throw new ConfigError(`${[...path, bad].join('.')}: "${bad}" is not a settings key`);
  }
  if (isPlain(base) && isPlain(over)) {
    let from: Record<string, unknown> = base;
    const disc = discriminatorAt(settingsKeys(), path);
    if (disc !== undefined && over[disc] !== undefined && base[disc] !== undefined && over[disc] !== base[disc]) {
      from = Object.fromEntries(Object.entries(base).filter(([k]) => validForVariant(settingsKeys(), path, k, over[disc])));
    }
    const out: Record<string, unknown> = { ...from };
    for (const [k, v] of Object.entries(over)) out[k] = mergeAt(from[k], v, [...path, k]);
    return out;
  }
  return over === undefined ? base : over;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether the setting at `path` is a plain string (so an env value must not be JSON-parsed). */
function acceptsString(path: readonly string[]): boolean {
  return stringKeys().some((p) => p.length === path.length && p.every((seg, i) => seg === '*' || seg === path[i]));
}

let stringCache: string[][] | undefined;
function stringKeys(): string[][] {
  stringCache ??= stringKeyPaths(settingsSchema);
  return stringCache;
}

let keysCache: KeyPath[] | undefined;
function settingsKeys(): KeyPath[] {
  keysCache ??= keyPaths(settingsSchema);
  return keysCache;
}

const startsWith = (long: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean =>
  prefix.length <= long.length && prefix.every((seg, i) => String(seg) === String(long[i]));

export interface FormatOptions {
  /** the schema the error came from; enables "did you mean" hints for unknown keys */
  schema?: z.ZodType;
  /** env overrides in the input, to name the variable behind a bad key */
  envSources?: readonly EnvSource[];
}

/**
 * One "path: problem" per issue, joined with "; ". An unknown key is reported at its own full
 * path ("pipeline.inference: unknown key"), with a hint when the schema has that key elsewhere.
 */
export function formatZodError(err: z.ZodError, opts: FormatOptions = {}): string {
  const paths = opts.schema === settingsSchema ? settingsKeys() : opts.schema ? keyPaths(opts.schema) : undefined;
  const fromEnv = (full: readonly PropertyKey[], unknownKey: boolean): string => {
    const hit = opts.envSources?.find((e) => startsWith(full, e.path) || (unknownKey && startsWith(e.path, full)));
    return hit ? ` (from ${hit.variable})` : '';
  };
  const where = (p: readonly PropertyKey[]): string => (p.length ? p.map(String).join('.') : '(root)');
  return err.issues
    .flatMap((i) => {
      if (i.code === 'unrecognized_keys') {
        return i.keys.map((k) => {
          const hint = paths ? unknownKeyHint(paths, i.path, k) : '';
          return `${where([...i.path, k])}: unknown key${hint}${fromEnv([...i.path, k], true)}`;
        });
      }
      return [`${where(i.path)}: ${i.message}${fromEnv(i.path, false)}`];
    })
    .join('; ');
}

/** Meta bytes of one result besides its localisations (ids, sizes, timings, verdicts), with room. */
const META_BASE_BYTES = 4096;
/** Meta bytes per nanohole in `holes.list` at most (six rounded numbers and their keys). */
const META_BYTES_PER_HOLE = 120;

/**
 * The largest record one result can make: its meta with every localisation it may carry, plus the
 * largest image it may carry. A spool smaller than that would refuse such results every time.
 */
export function largestResultBytes(s: Settings): number {
  const image = s.pipeline.image.enabled ? s.pipeline.image.maxBytes : 0;
  // a unet model's holes are also its localisations, so both lists may be full
  const locs = Math.max(s.pipeline.postprocess.maxLocalizations, s.pipeline.holes.maxHoles);
  const perLoc = metaBytesPerLocalization(s.pipeline.postprocess.fit === 'gauss', 'max');
  return META_BASE_BYTES + perLoc * locs + META_BYTES_PER_HOLE * s.pipeline.holes.maxHoles + image;
}

/** Validate a settings object (already merged); throws ConfigError naming the bad keys. */
export function parseSettings(input: unknown, envSources?: readonly EnvSource[]): Settings {
  const r = settingsSchema.safeParse(input ?? {});
  if (!r.success) throw new ConfigError(`invalid configuration: ${formatZodError(r.error, { schema: settingsSchema, envSources })}`);
  const need = largestResultBytes(r.data);
  if (r.data.mqtt.spool.maxBytes < need) {
    throw new ConfigError(
      `invalid configuration: mqtt.spool.maxBytes: ${r.data.mqtt.spool.maxBytes} bytes cannot hold one result (up to ${need} bytes with pipeline.image.maxBytes ${r.data.pipeline.image.maxBytes} and pipeline.postprocess.maxLocalizations ${r.data.pipeline.postprocess.maxLocalizations}); raise it or lower those`,
    );
  }
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
  const { values, sources } = envOverridesWithSources(env);
  const settings = parseSettings(deepMerge(written ?? {}, values), sources);
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
